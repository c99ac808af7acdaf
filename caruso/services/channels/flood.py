"""Flood protection: at most N messages per sender in a sliding window.

One sender (an address, a number, a chat client's address) that sends too
much must not fill the queue for everyone else. A channel asks
``allow(sender)`` before it accepts anything; a refused message was never
accepted, so the sender still has it (an SMTP client retries after a 451).
Time comes from the clock the channel is given.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable

import attrs

__all__ = ["FloodLimit", "FloodGuard"]


@attrs.frozen
class FloodLimit:
    """``flood = { messages = 20, per = 60 }``: at most ``messages`` from one sender in ``per``
    seconds; ``messages = 0`` turns the limit off."""

    messages: int = attrs.field(default=20, validator=attrs.validators.ge(0))
    per: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))


class FloodGuard:
    """A sliding-window counter per sender (the ``max_senders`` most recent are remembered)."""

    def __init__(self, limit: FloodLimit, monotonic: Callable[[], float], *, max_senders: int = 100_000):
        self.limit = limit
        self._monotonic = monotonic
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._max = max_senders
        self._lock = threading.Lock()

    def allow(self, sender: str) -> bool:
        """Count one message from ``sender``; False (not counted) when it is over the limit."""
        if self.limit.messages == 0:
            return True
        key = sender.strip().lower()
        now = self._monotonic()
        with self._lock:
            times = self._seen.get(key)
            if times is None:
                times = self._seen[key] = deque()
                if len(self._seen) > self._max:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
            while times and times[0] <= now - self.limit.per:
                times.popleft()
            if len(times) >= self.limit.messages:
                return False
            times.append(now)
            return True

    def describe(self) -> str:
        """The limit as a message fragment: ``at most 20 per 60 s``."""
        return f"at most {self.limit.messages} per {self.limit.per:g} s"
