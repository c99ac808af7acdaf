"""What a call through a service handle costs, against a direct call on the same object.

A handle resolves the current implementation and tracks the call in flight on
every call, so that a replacement can wait for running calls; this measures
that overhead on trivial methods, where it shows most. Target: at most 3x.

Run: python benchmarks/bench_service_handle.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
import timeit

from caruso.services.manager import ServiceManager

CALLS = 200_000


class Echo:
    """A service whose methods do next to nothing, so the call path is what is measured."""

    def ping(self):
        return None

    def add(self, a, b):
        return a + b

    def lookup(self, key, *, default=None):
        return default

    async def aping(self):
        return None


# label -> the call, made on `direct` (the object) and on `handle` (its service handle)
SYNC_CASES = {
    "ping()           0 args": "ping()",
    "add(1, 2)        2 args": "add(1, 2)",
    "add(a=1, b=2)    keywords": "add(a=1, b=2)",
    "lookup(k, default=) generic stub": "lookup(1, default=2)",
}


def measure_sync(direct: Echo, handle, rounds: int) -> list[tuple[str, float, float, float]]:
    """(label, best direct ns, best handle ns, median of the per-round ratios) per case.

    Each round times the direct call and the handle call back to back, so that a
    noisy neighbour slows both alike; the median of the rounds' ratios is the
    figure that holds still on a shared machine.
    """
    namespace = {"direct": direct, "handle": handle}
    results = []
    for label, call in SYNC_CASES.items():
        direct_timer = timeit.Timer(f"direct.{call}", globals=namespace)
        handle_timer = timeit.Timer(f"handle.{call}", globals=namespace)
        direct_ns, handle_ns = [], []
        for _ in range(rounds):
            direct_ns.append(direct_timer.timeit(CALLS) / CALLS * 1e9)
            handle_ns.append(handle_timer.timeit(CALLS) / CALLS * 1e9)
        ratio = statistics.median(h / d for d, h in zip(direct_ns, handle_ns))
        results.append((label, min(direct_ns), min(handle_ns), ratio))
    return results


def measure_async(direct: Echo, handle, rounds: int) -> tuple[float, float, float]:
    async def loop(method) -> float:
        started = time.perf_counter()
        for _ in range(CALLS):
            await method()
        return (time.perf_counter() - started) / CALLS * 1e9

    async def run() -> tuple[float, float, float]:
        direct_ns, handle_ns = [], []
        for _ in range(rounds):
            direct_ns.append(await loop(direct.aping))
            handle_ns.append(await loop(handle.aping))
        ratio = statistics.median(h / d for d, h in zip(direct_ns, handle_ns))
        return min(direct_ns), min(handle_ns), ratio

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case; the best is kept")
    args = parser.parse_args()

    manager = ServiceManager()
    direct = Echo()
    manager.register("echo", direct)
    handle = manager.get("echo")

    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.rounds} rounds x {CALLS} calls; "
        "ns: best round, ratio: median of the rounds' ratios"
    )
    print(f"{'case':36} {'direct ns':>10} {'handle ns':>10} {'ratio':>7}")
    trivial = 0.0
    for label, direct_ns, handle_ns, ratio in measure_sync(direct, handle, args.rounds):
        print(f"{label:36} {direct_ns:10.1f} {handle_ns:10.1f} {ratio:6.2f}x")
        if label.startswith("ping"):
            trivial = ratio
    direct_ns, handle_ns, ratio = measure_async(direct, handle, max(3, args.rounds // 3))
    print(f"{'await aping()    async':36} {direct_ns:10.1f} {handle_ns:10.1f} {ratio:6.2f}x")
    print(f"trivial-method ratio (ping): {trivial:.2f}x, target <= 3x: {'met' if trivial <= 3 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
