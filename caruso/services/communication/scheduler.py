"""Timers on the injected clock: the one mechanism behind every "after N seconds" of the server.

Offer timeouts, relaxation steps, maximum waits, wrap-up ends, campaign pacing
and a simulated caller's patience are all timers here, keyed by the clock's
monotonic seconds. Who runs them decides what time is:

- real time: ``serve()`` sleeps until the next timer is due (asyncio), or a
  thread does the same (``RealTimeDriver``);
- virtual time: the simulator calls ``run_until(t)``, which moves a
  ``ManualClock`` from timer to timer, so a day passes in seconds.

Cancelling is lazy (a flag), so it costs nothing; the heap is compacted when
cancelled timers pile up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RealTimeDriver", "Scheduler", "Timer"]

log = logging.getLogger("caruso.communication.scheduler")


class Timer:
    """A scheduled call; ``cancel()`` it if it should no longer happen."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """A heap of timers over ``clock.monotonic()``.

    Args:
        clock: the injected clock; ``run_until`` needs one with ``advance`` (``ManualClock``).
    """

    def __init__(self, clock: Any):
        self.clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._cancelled = 0
        self.on_earlier: Callable[[], None] | None = None  # wakes a sleeping driver

    def at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` once the clock reaches ``when`` (monotonic seconds)."""
        timer = Timer(when, callback, args)
        heap = self._heap
        if self.on_earlier is not None and (not heap or when < heap[0][0]):  # a driver sleeps longer
            heapq.heappush(heap, (when, next(self._sequence), timer))
            self.on_earlier()
        else:
            heapq.heappush(heap, (when, next(self._sequence), timer))
        return timer

    def after(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` ``delay`` seconds from now."""
        return self.at(self.clock.monotonic() + delay, callback, *args)

    def next_due(self) -> float | None:
        """When the next live timer is due, or None."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self) -> int:
        """Run every timer due now (in order of due time); the number run."""
        now = self.clock.monotonic()
        heap = self._heap
        count = 0
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            timer.cancelled = True
            timer.callback(*timer.args)
            count += 1
        return count

    def run_until(self, end: float) -> int:
        """Virtual time: advance the clock timer by timer up to ``end``, running each; the number run."""
        clock = self.clock
        heap = self._heap
        count = 0
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, timer = pop(heap)
            if timer.cancelled:
                continue
            now = clock.monotonic()
            if when > now:
                clock.advance(when - now)
            timer.cancelled = True
            timer.callback(*timer.args)
            count += 1
        now = clock.monotonic()
        if end > now:
            clock.advance(end - now)
        return count

    def __len__(self) -> int:
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)


class RealTimeDriver:
    """Runs a server's timers in real time on an asyncio loop in a thread of its own.

    ``tick`` is called with the server's lock held by the server itself; the
    driver only decides when: at the next timer, or every ``interval`` seconds
    at most (for the event log's periodic flush).
    """

    def __init__(self, scheduler: Scheduler, tick: Callable[[], None], *, interval: float = 0.2):
        self.scheduler = scheduler
        self.tick = tick
        self.interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="caruso-communication", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        self.scheduler.on_earlier = self.wake

    def stop(self) -> None:
        self._stopping = True
        self.scheduler.on_earlier = None
        self.wake()
        if self._thread is not None:
            self._thread.join(5)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed in between
                pass

    def _run(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        """Run timers as they fall due until ``stop()``; usable in any asyncio loop."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._ready.set()
        clock = self.scheduler.clock
        while not self._stopping:
            try:
                self.tick()
            except Exception:  # a failing callback must not stop the call centre's clock
                log.exception("communication server: a timer failed")
            due = self.scheduler.next_due()
            delay = self.interval if due is None else min(self.interval, max(0.0, due - clock.monotonic()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
