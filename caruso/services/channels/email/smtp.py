"""The SMTP server receiving mail: aiosmtpd on its own thread, answering in codes clients understand.

It is meant to sit behind the company's mail server (which does spam
filtering, TLS towards the internet, and forwards to Caruso on loopback), or
to receive from a relay directly. The dialogue:

- ``RCPT TO`` an address the channel does not serve: ``550 5.1.1`` (the
  client's mail server bounces it at once);
- a message over ``max_message_size``: ``552 5.3.4`` while it is sent (the
  limit is announced in ``EHLO`` as ``SIZE``), too many or too large
  attachments: ``552 5.3.4`` too;
- a flood from one sender: ``451 4.7.1`` - a real mail server queues the
  message and tries again later, when it is accepted;
- the database unreachable: ``451 4.3.0``, try again later (nothing accepted
  that could be lost);
- accepted: ``250 2.0.0`` with the case reference.

The message is processed before ``250`` is answered, so a ``250`` means it is
stored, threaded and in the queue.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from aiosmtpd.controller import Controller

from caruso.errors import CarusoError, MessageRefused

__all__ = ["SmtpReceiver", "free_port"]

log = logging.getLogger("caruso.channels.email.smtp")

_ENHANCED = {552: "5.3.4", 451: "4.7.1", 550: "5.1.1", 554: "5.6.0"}


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for ``port = 0``; aiosmtpd needs a number)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, channel: Any, executor: Any):
        self.channel = channel
        self.executor = executor

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's name)
        if not self.channel.accepts(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        receive = partial(self.channel.receive, raw, envelope_from=envelope.mail_from or "",
                          recipients=list(envelope.rcpt_tos))
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, receive)
        except MessageRefused as exc:
            return f"{exc.code} {_ENHANCED.get(exc.code, '5.0.0')} {exc}"
        except CarusoError as exc:
            log.warning("e-mail channel: a message from %r is deferred: %s", envelope.mail_from, exc)
            return "451 4.3.0 temporarily unable to accept the message; please try again later"
        except Exception:
            log.exception("e-mail channel: receiving a message from %r failed", envelope.mail_from)
            return "451 4.3.0 temporarily unable to accept the message; please try again later"
        return f"250 2.0.0 OK {result.case or 'parked'}"


class SmtpReceiver:
    """The aiosmtpd controller for a channel (``accepts(address)``, ``receive(raw, ...)``)."""

    def __init__(self, channel: Any, *, host: str, port: int, max_message_size: int, hostname: str | None = None,
                 workers: int = 1):
        self.host = host
        self.port = port or free_port(host)
        # Messages are taken one at a time, in the order their DATA ended: the sessions stay
        # concurrent, but writers do not queue for the database's write lock (SQLite sleeps there)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caruso-smtp")
        self.controller = Controller(
            _Handler(channel, self.executor), hostname=host, port=self.port, server_hostname=hostname,
            data_size_limit=max_message_size, enable_SMTPUTF8=True, decode_data=False,
            ident="Caruso ESMTP",
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
        self.executor.shutdown(wait=True)
