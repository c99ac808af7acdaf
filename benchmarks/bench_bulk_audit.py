"""Bulk insert of an auditable object: ``insert_many`` against Core executemany, on one database.

The ``Customer`` of ``bench_bom.py``, made ``auditable="yes"``, ``--rows``
objects (default 100,000), on a fresh SQLite file (or ``--database URL``, an
empty database whose tables are created here):

1. Core ``insert()`` executemany of the rows, no audit entry: the baseline.
2. ``insert_many``: every row checked by the model's types and rules, the rows
   inserted with their keys returned, one audit entry per row (who, when, all
   values), in one transaction.
3. With ``--unit-of-work``: the same objects through ``session.add_all`` and a
   commit, once - what ``insert_many`` did with an auditable object before it
   had a bulk path.

Each timing but the unit of work runs ``--repeat`` times, taking turns; the
best counts. After each run of 2. the script checks that every row has its
audit entry. Quick run:

    python benchmarks/bench_bulk_audit.py --rows 10000 --unit-of-work
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from bench_bom import MODEL, best_of_alternating, customer_rows

from caruso.bom.audit import USER_KEY
from caruso.bom.model import load_model
from caruso.storage.manager import Storage

AUDITED_MODEL = MODEL.replace('<object name="Customer">', '<object name="Customer" auditable="yes">', 1)


class Bench:
    """The auditable model's tables on one database, and the timings taken on it."""

    def __init__(self, folder: Path, url: str | None):
        (folder / "model.xml").write_text(AUDITED_MODEL)
        self.model = load_model([folder / "model.xml"])
        self.storage = Storage(url or f"sqlite:///{folder / 'bench.db'}")
        self.storage.register(self.model.metadata)
        self.storage.upgrade()
        self.customers = self.model.metadata.tables["customer"]
        self.audit = self.model.metadata.tables["caruso_audit"]

    def clear(self) -> None:
        with self.storage.transaction() as connection:
            for table in reversed(self.model.metadata.sorted_tables):
                connection.execute(table.delete())

    def timed(self, work: Callable[[], None]) -> float:
        self.clear()
        began = time.perf_counter()
        work()
        return time.perf_counter() - began

    def counts(self) -> tuple[int, int]:
        with self.storage.engine.connect() as connection:
            return tuple(connection.scalar(sa.select(sa.func.count()).select_from(t))
                         for t in (self.customers, self.audit))

    def close(self) -> None:
        self.model.dispose()
        self.storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="objects inserted")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best counts")
    parser.add_argument("--database", help="an empty database's URL (default: a SQLite file)")
    parser.add_argument("--unit-of-work", action="store_true", help="also time add_all + commit, once")
    args = parser.parse_args(argv)
    data = customer_rows(args.rows)
    results: list[tuple[str, str, str]] = []
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), args.database)
        try:
            def core() -> None:
                with bench.storage.transaction() as connection:
                    connection.execute(sa.insert(bench.customers), data)

            def modeler() -> None:
                with bench.storage.unit_of_work() as session:
                    session.info[USER_KEY] = "bench"
                    bench.model.insert_many(session, "Customer", data)

            def checked_modeler() -> float:
                nonlocal ok
                seconds = bench.timed(modeler)
                ok = ok and bench.counts() == (args.rows, args.rows)
                return seconds

            core_s, modeler_s = best_of_alternating(args.repeat, lambda: bench.timed(core), checked_modeler)
            results.append((f"bulk insert {args.rows:,} auditable objects: Core insert() executemany, no audit",
                            f"{core_s:.3f} s", f"{args.rows / core_s:,.0f} rows/s"))
            results.append(("  modeler insert_many (rules checked, keys returned, an audit entry per row)",
                            f"{modeler_s:.3f} s",
                            f"{args.rows / modeler_s:,.0f} rows/s, ratio {modeler_s / core_s:.2f}"))
            if args.unit_of_work:
                def unit_of_work() -> None:
                    with bench.storage.unit_of_work() as session:
                        session.info[USER_KEY] = "bench"
                        session.add_all(bench.model.Customer(**row) for row in data)

                uow_s = bench.timed(unit_of_work)
                ok = ok and bench.counts() == (args.rows, args.rows)
                results.append(("  unit of work (add_all + commit), the path before",
                                f"{uow_s:.3f} s", f"{args.rows / uow_s:,.0f} rows/s, ratio {uow_s / core_s:.2f}"))
            backend = bench.storage.engine.dialect.name
        finally:
            bench.close()
    print(f"# bench_bulk_audit: Python {platform.python_version()}, SQLAlchemy {sa.__version__},"
          f" {backend}{' ' + sqlite3.sqlite_version if backend == 'sqlite' else ''}, {platform.machine()}")
    width = max(len(r[0]) for r in results)
    for label, figure, note in results:
        print(f"{label:<{width}}  {figure:>10}  {note}")
    print("every row has its audit entry" if ok else "AUDIT ENTRIES MISSING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
