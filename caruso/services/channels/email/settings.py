"""``[services.email.settings]``: the e-mail channel's settings, checked when the descriptor loads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

from caruso.services.channels.base import NewContactSettings
from caruso.services.channels.flood import FloodLimit
from caruso.services.channels.retry import RetryPolicy

__all__ = ["AcknowledgeSettings", "EmailSettings", "ImapSettings", "RelaySettings", "SmtpSettings"]


@attrs.frozen
class SmtpSettings:
    """``smtp``: the SMTP server receiving mail (put it behind the company's MTA, on loopback).

    Args:
        host: the address to listen on.
        port: the port; None: no SMTP server (mail comes by IMAP, or not at all); 0: a free one.
        max_message_size: bytes; a larger message is refused with 552 while it is sent.
        max_attachment_size: bytes per attachment; larger: 552.
        max_attachments: attachments per message; more: 552.
        workers: messages taken at the same time (the SMTP sessions are concurrent anyway); 1
            suits SQLite, whose writers would only wait for each other; more help on PostgreSQL.
    """

    host: str = "127.0.0.1"
    port: int | None = None
    max_message_size: int = attrs.field(default=10 * 1024 * 1024, validator=attrs.validators.gt(0))
    max_attachment_size: int = attrs.field(default=5 * 1024 * 1024, validator=attrs.validators.gt(0))
    max_attachments: int = attrs.field(default=20, validator=attrs.validators.ge(0))
    workers: int = attrs.field(default=1, validator=attrs.validators.ge(1))


@attrs.frozen
class RelaySettings:
    """``relay``: the SMTP relay outgoing mail is sent through.

    Args:
        host, port: the relay; no host: mail is kept in the outbox until one is configured.
        security: ``none``, ``starttls`` (upgrade a plain connection) or ``tls`` (TLS from the start).
        username, password: a login, when the relay asks for one (use ``${ENV}`` for the password).
        ca_file: certificates to trust for the relay's TLS (default: the system's).
        timeout: seconds for connecting and for each command.
        batch: messages sent over one connection before it is closed.
    """

    host: str | None = None
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    timeout: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    batch: int = attrs.field(default=50, validator=attrs.validators.ge(1))


@attrs.frozen
class AcknowledgeSettings:
    """``acknowledge``: the automatic answer to a message that opens a new case.

    ``subject`` and ``text`` are ``str.format`` templates with ``{case}``, ``{subject}`` and
    ``{name}``. Auto-replies, bounces and mailing lists are never answered (no mail loops).
    """

    enabled: bool = True
    subject: str = "[{case}] We received your message: {subject}"
    text: str = ("Dear {name},\n\nThank you for your message. It is registered as case {case};"
                 " please keep this reference in the subject when you write to us about it.\n")


@attrs.frozen
class ImapSettings:
    """``imap``: poll a mailbox instead of (or besides) receiving by SMTP.

    Args:
        host: the IMAP server; None: no polling.
        port: its port (993 with ``ssl``, else 143).
        ssl: IMAP over TLS (``IMAP4_SSL``); else plain, upgraded with STARTTLS when ``starttls``.
        starttls: upgrade a plain connection.
        username, password: the mailbox login.
        mailbox: the folder to read.
        interval: seconds between polls.
        recipient: the address the mailbox receives for (routes by it).
    """

    host: str | None = None
    port: int | None = None
    ssl: bool = True
    starttls: bool = False
    username: str = ""
    password: str = ""
    mailbox: str = "INBOX"
    interval: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    recipient: str | None = None


@attrs.frozen
class EmailSettings:
    """``[services.email.settings]``.

    Args:
        addresses: the addresses mail is accepted for; mail to others is refused (550).
        routes: address -> queue; the others go to ``queue``.
        queue: the queue new e-mails wait in (default: the server's default queue).
        from_address: the sender of outgoing mail (default: the first address).
        from_name: the display name beside it.
        domain: the right-hand side of the Message-IDs Caruso makes (default: from_address's).
        case_prefix: case references look like ``[CASE-7K3M9QXD]`` in subjects.
        folder: where raw messages and attachments are stored, relative to the application.
        smtp, relay, retry, acknowledge, imap, flood, new_contact: see each class.
    """

    addresses: tuple[str, ...] = ()
    routes: dict[str, str] = attrs.field(factory=dict)
    queue: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    domain: str | None = None
    case_prefix: str = "CASE"
    folder: Path = Path("mail")
    smtp: SmtpSettings = SmtpSettings()
    relay: RelaySettings = RelaySettings()
    retry: RetryPolicy = RetryPolicy()
    acknowledge: AcknowledgeSettings = AcknowledgeSettings()
    imap: ImapSettings = ImapSettings()
    flood: FloodLimit = FloodLimit()
    new_contact: NewContactSettings = NewContactSettings()
