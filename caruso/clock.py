"""Injected time: every component that waits, times out or timestamps reads a Clock.

The same routing, SLA and circuit-breaker code then runs in real time in
production and in virtual time in tests and simulations, where a day passes in
a few calls to ``advance()``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds for measuring, and the wall time (UTC) for timestamps."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to: for tests and discrete-event simulation.

    ``sleep()`` advances the clock instead of blocking, so code that backs off
    for 30 seconds finishes at once while still seeing the 30 seconds pass.
    """

    def __init__(self, start: datetime | None = None):
        self._lock = threading.Lock()
        self._start = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self._elapsed = 0.0

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


@hookimpl
def register_services(app):
    """The built-in ``clock`` service: real time, or ManualClock by configuration."""
    return [ServiceDefinition("clock", SystemClock, provides=(Clock,))]
