"""Sending with retries: an outbox row is tried until it goes out, with exponential backoff.

Both the e-mail outbox and the SMS outbox keep what they send in a table
first and send from there, so a relay or gateway that is down loses nothing:
``RetryPolicy`` says when the next attempt is due, ``OutboxWorker`` is the
thread that sends what is due and sleeps until the next one (or until woken
because something new was queued).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import attrs

__all__ = ["OutboxWorker", "RetryPolicy"]

log = logging.getLogger("caruso.channels.retry")


@attrs.frozen
class RetryPolicy:
    """``retry = { first = 30, factor = 2, max_delay = 3600, max_attempts = 30 }``.

    Args:
        first: seconds before the second attempt.
        factor: each further wait is this many times the one before.
        max_delay: the longest wait between attempts.
        max_attempts: after this many failures the message is marked ``failed`` (kept, and
            shown to the supervisor; ``retry(id)`` sends it again).
    """

    first: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_delay: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))
    max_attempts: int = attrs.field(default=30, validator=attrs.validators.ge(1))

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (1 for the first)."""
        return min(self.max_delay, self.first * self.factor ** max(0, attempts - 1))


class OutboxWorker:
    """A thread that calls ``send_due()`` (returns seconds until the next due row, or None)
    whenever woken or when that time comes; ``stop()`` ends it after the current round.
    A wake is answered ``linger`` seconds later, so a burst goes out in one round."""

    def __init__(self, name: str, send_due: Callable[[], float | None], *, idle: float = 5.0,
                 linger: float = 0.05):
        self._send_due = send_due
        self._idle = idle
        self._linger = linger
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something was queued: look at once."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait = self._send_due()
            except Exception:  # the database is away, say: keep the thread, try again later
                log.exception("%s: sending failed; trying again in %s s", self._thread.name, self._idle)
                wait = self._idle
            if self._stopping:
                return
            woken = self._wake.wait(self._idle if wait is None else max(0.0, min(wait, self._idle)))
            if woken and not self._stopping:
                # something was queued: let what follows it join the same round
                # (one connection for a burst, not one per message)
                time.sleep(self._linger)
