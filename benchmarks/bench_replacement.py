"""Runtime replacement under load: 8 threads keep calling a service while it is replaced 100 times.

Prints the failed calls (must be 0: a failure includes any call that reached an
implementation after it was stopped), the calls per second before and during
the replacements, their ratio, and how long one replacement took (it waits for
the calls in flight on the old implementation, so under load it is bounded by
how soon the interpreter lets those threads finish their call).

Run: python benchmarks/bench_replacement.py [--threads 8] [--replacements 100] [--baseline 1.0]
Exits 1 if a call was lost or landed on a stopped implementation, else 0; timing never fails it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import threading
import time

from caruso.services.base import Service
from caruso.services.manager import ServiceManager


class Quote(Service):
    """A trivial service that refuses, loudly, any call made after it was stopped."""

    def __init__(self, generation: int):
        self.generation = generation
        self.stopped = False

    def on_stop(self) -> None:
        self.stopped = True

    def price(self, quantity):
        if self.stopped:
            raise RuntimeError(f"generation {self.generation} called after stop")
        return quantity * 3


class Load:
    """Threads calling through one handle until told to stop, counting calls and failures."""

    def __init__(self, handle, threads: int):
        self.handle = handle
        self.calls = [0] * threads
        self.failures: list[BaseException] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        handle = self.handle
        calls = 0
        while not self.stopping.is_set():
            try:
                handle.price(2)
            except BaseException as exc:  # noqa: BLE001 - every failure is counted
                self.failures.append(exc)
            calls += 1
            if calls % 256 == 0:
                self.calls[index] = calls
        self.calls[index] = calls

    def total(self) -> int:
        return sum(self.calls)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--replacements", type=int, default=100)
    parser.add_argument("--baseline", type=float, default=1.0, help="seconds of load measured before replacing")
    args = parser.parse_args()

    manager = ServiceManager()
    manager.register("quote", Quote(0))
    manager.start_all()
    replaced: list[Quote] = [manager.resolve("quote")]

    with Load(manager.get("quote"), args.threads) as load:
        time.sleep(0.2)  # let every thread get going
        before_calls, before_start = load.total(), time.perf_counter()
        time.sleep(args.baseline)
        before_rate = (load.total() - before_calls) / (time.perf_counter() - before_start)

        durations = []
        during_calls, during_start = load.total(), time.perf_counter()
        for generation in range(1, args.replacements + 1):
            replaced.append(Quote(generation))
            started = time.perf_counter()
            manager.replace("quote", replaced[-1])
            durations.append(time.perf_counter() - started)
        during_elapsed = time.perf_counter() - during_start
        during_rate = (load.total() - during_calls) / during_elapsed
    manager.stop_all()

    lost = len(load.failures)
    not_stopped = sum(1 for service in replaced[:-1] if not service.stopped)
    print(f"python {platform.python_version()}, {args.threads} threads, {args.replacements} replacements")
    print(f"calls made:                  {load.total():,}")
    print(f"failed calls:                {lost}" + (f"  first: {load.failures[0]!r}" if lost else ""))
    print(f"old implementations stopped: {len(replaced) - 1 - not_stopped} of {len(replaced) - 1}")
    print(f"calls/s before replacing:    {before_rate:,.0f}")
    print(f"calls/s while replacing:     {during_rate:,.0f}  ({during_rate / before_rate:.2f}x of before)")
    print(
        f"one replacement:             median {statistics.median(durations) * 1e3:.1f} ms, "
        f"max {max(durations) * 1e3:.1f} ms ({during_elapsed:.2f} s for all)"
    )
    return 1 if lost or not_stopped else 0


if __name__ == "__main__":
    sys.exit(main())
