"""Polling a mailbox with imaplib, for companies whose mail cannot be forwarded to Caruso by SMTP.

Every ``interval`` seconds: log in (IMAP4 over TLS, or plain upgraded with
STARTTLS), select the mailbox, fetch each unseen message whole (``BODY.PEEK[]``:
fetching does not mark it seen), hand it to the channel's ``receive`` - the
same path as SMTP mail, with the same limits, threading and idempotency - and
only then mark it ``\\Seen``. A message the channel refuses (a limit) or cannot
take now (the database is away) stays unseen and is logged: it is tried again
at the next poll, and nothing in the mailbox is ever deleted by Caruso.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
import threading
from typing import Any

from caruso.errors import CarusoError, MessageRefused
from caruso.services.channels.email.settings import ImapSettings

__all__ = ["ImapPoller"]

log = logging.getLogger("caruso.channels.email.imap")


class ImapPoller:
    """A thread polling one mailbox for a channel (``poll()`` does one round, for tests and tools)."""

    def __init__(self, settings: ImapSettings, channel: Any):
        self.settings = settings
        self.channel = channel
        self.last_error: str | None = None
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="caruso-email-imap", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # the server is away: say so, try at the next interval
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("IMAP %s: %s", self.settings.host, self.last_error)
            self._stop.wait(self.settings.interval)

    def _connect(self) -> imaplib.IMAP4:
        settings = self.settings
        context = ssl.create_default_context()
        if settings.ssl:
            return imaplib.IMAP4_SSL(settings.host, settings.port or 993, ssl_context=context, timeout=30)
        client = imaplib.IMAP4(settings.host, settings.port or 143, timeout=30)
        if settings.starttls:
            client.starttls(ssl_context=context)
        return client

    def poll(self) -> int:
        """One round: every unseen message received and marked seen; how many were taken."""
        settings = self.settings
        recipients = [settings.recipient] if settings.recipient else list(self.channel.config.addresses[:1])
        taken = 0
        client = self._connect()
        try:
            client.login(settings.username, settings.password)
            status, _ = client.select(_quoted(settings.mailbox))
            if status != "OK":
                raise CarusoError(f"IMAP {settings.host}: cannot open mailbox {settings.mailbox!r}")
            _, found = client.uid("SEARCH", None, "UNSEEN")
            for uid in (found[0] or b"").split():
                raw = _fetch(client, uid)
                if raw is None:
                    continue
                try:
                    self.channel.receive(raw, envelope_from="", recipients=recipients)
                except MessageRefused as exc:
                    log.warning("IMAP %s: message %s refused (%s); it stays unseen in %s",
                                settings.host, uid.decode(), exc, settings.mailbox)
                    continue
                except CarusoError as exc:
                    log.warning("IMAP %s: message %s not taken now (%s); tried again at the next poll",
                                settings.host, uid.decode(), exc)
                    break
                client.uid("STORE", uid, "+FLAGS", r"(\Seen)")
                taken += 1
                self.received += 1
            self.last_error = None
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
        return taken


def _fetch(client: imaplib.IMAP4, uid: bytes) -> bytes | None:
    _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
    for part in parts or ():
        if isinstance(part, tuple) and len(part) == 2:
            return part[1]
    return None


def _quoted(mailbox: str) -> str:
    return mailbox if re.fullmatch(r"[A-Za-z0-9._/-]+", mailbox) else '"' + mailbox.replace('"', '\\"') + '"'
