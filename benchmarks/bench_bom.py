"""The business-object modeler against SQLAlchemy Core, on the same SQLite file.

Three measurements, each with its baseline in the same run:

1. Bulk insert of ``--rows`` business objects (default 100,000): the modeler's
   ``insert_many`` (every row checked by the model's types and rules) against
   Core ``insert()`` executemany of the same rows into the same table. The
   unit of work (``session.add_all`` + commit) is timed too, for information:
   it is the path for objects one at a time, not for loads.
2. Fetch one object by primary key, ``--fetches`` times (distinct random keys):
   ``Customer.get(session, key)`` against Core ``select()`` by key on one
   connection, written per call as code usually does; a Core statement
   prepared once is shown too (the ORM's identity map and object building
   cost about as much again as that lean Core path).
3. The 360-degree customer view - a customer, its contacts and its latest 50
   activities - on ``--customers`` customers (default 100,000) and
   ``--activities`` activities (default 1,000,000), ``--views`` random
   customers, each in a fresh session: the median must stay under 5 ms.

Each timing runs ``--repeat`` times and the best counts (the machine is
shared; the best run is the least disturbed). The data set is generated with
Core executemany. Quick run:

    python benchmarks/bench_bom.py --rows 10000 --customers 10000 --activities 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from caruso.bom.model import load_model
from caruso.storage.manager import Storage

MODEL = """<model>
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" length="100" required="yes"/>
  <attribute name="email" type="string" length="120"/>
  <attribute name="segment" type="enum" default="retail"><value>retail</value><value>business</value></attribute>
  <attribute name="balance" type="decimal" precision="12" scale="2" default="0"/>
  <attribute name="created" type="datetime" required="yes"/>
  <collection name="contacts" object="Contact" order-by="name"/>
  <collection name="activities" object="Activity" order-by="-occurred"/>
  <pattern attribute="email" regex="[^@]+@[^@]+"/>
  <range attribute="balance" min="-10000"/>
</object>
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" length="100" required="yes"/>
  <attribute name="phone" type="string" length="30"/>
  <reference name="customer" object="Customer" required="yes" on-delete="cascade"/>
</object>
<object name="Activity">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="kind" type="enum"><value>call</value><value>email</value><value>meeting</value></attribute>
  <attribute name="subject" type="string" length="120"/>
  <attribute name="occurred" type="datetime" required="yes"/>
  <reference name="customer" object="Customer" required="yes" on-delete="cascade" indexed="no"/>
  <index attributes="customer occurred"/>
</object>
</model>
"""

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def best_of_alternating(repeat: int, *runs: Callable[[], float]) -> list[float]:
    """The best time of each run, the runs taking turns so that a busy moment of the
    machine does not fall on one side only."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, found in zip(runs, times, strict=True):
            found.append(run())
    return [min(found) for found in times]


def customer_rows(count: int) -> list[dict]:
    return [
        {"name": f"Customer {i}", "email": f"c{i}@example.com", "segment": "retail" if i % 3 else "business",
         "balance": Decimal(i % 1000) / 4, "created": START + dt.timedelta(minutes=i)}
        for i in range(count)
    ]


class Bench:
    """One SQLite file with the model's tables, and the timings taken on it."""

    def __init__(self, folder: Path):
        (folder / "model.xml").write_text(MODEL)
        self.model = load_model([folder / "model.xml"])
        self.storage = Storage(f"sqlite:///{folder / 'bench.db'}")
        self.storage.register(self.model.metadata)
        self.storage.upgrade()
        self.customers = self.model.metadata.tables["customer"]
        self.results: list[tuple[str, str, str]] = []

    def clear(self) -> None:
        with self.storage.transaction() as connection:
            for table in reversed(self.model.metadata.sorted_tables):
                connection.execute(table.delete())

    def timed(self, work: Callable[[], None]) -> float:
        self.clear()
        began = time.perf_counter()
        work()
        return time.perf_counter() - began

    def bulk_insert(self, rows: int, repeat: int) -> None:
        data = customer_rows(rows)

        def core():
            with self.storage.transaction() as connection:
                connection.execute(sa.insert(self.customers), data)

        def modeler():
            with self.storage.unit_of_work() as session:
                self.model.insert_many(session, "Customer", data)

        def unit_of_work():
            with self.storage.unit_of_work() as session:
                session.add_all(self.model.Customer(**row) for row in data)

        core_s, modeler_s = best_of_alternating(repeat, lambda: self.timed(core), lambda: self.timed(modeler))
        uow_s = self.timed(unit_of_work)
        ratio = modeler_s / core_s
        self.results.append((f"bulk insert {rows:,} objects: Core insert() executemany",
                             f"{core_s:.3f} s", f"{rows / core_s:,.0f} rows/s"))
        self.results.append(("  modeler insert_many (types and rules checked)",
                             f"{modeler_s:.3f} s", f"ratio {ratio:.2f} (target <= 1.5)"))
        self.results.append(("  modeler unit of work (add_all + commit), for information",
                             f"{uow_s:.3f} s", f"ratio {uow_s / core_s:.2f}"))
        self.ok_insert = ratio <= 1.5

    def fetch_by_key(self, fetches: int, repeat: int) -> None:
        """Customer.get against Core select() by key, both on one open connection.

        Two Core baselines: ``select()`` written per call, as code usually does
        (the target's baseline), and a statement prepared once with a bind
        parameter (the least Core can do, shown for comparison).
        """
        keys = random.Random(7).sample(range(1, self.count("customer") + 1), fetches)
        Customer = self.model.Customer
        table = self.customers
        prepared = sa.select(table).where(table.c.id == sa.bindparam("key"))

        def core_per_call() -> float:
            with self.storage.engine.connect() as connection:
                began = time.perf_counter()
                for key in keys:
                    connection.execute(sa.select(table).where(table.c.id == key)).first()
                return time.perf_counter() - began

        def core_prepared() -> float:
            with self.storage.engine.connect() as connection:
                began = time.perf_counter()
                for key in keys:
                    connection.execute(prepared, {"key": key}).first()
                return time.perf_counter() - began

        def modeler() -> float:
            with self.storage.session() as session:
                session.connection()  # the same start as Core: a connection checked out already
                began = time.perf_counter()
                for key in keys:
                    Customer.get(session, key)
                return time.perf_counter() - began

        per_call_s, prepared_s, modeler_s = best_of_alternating(repeat, core_per_call, core_prepared, modeler)
        ratio = modeler_s / per_call_s
        each = lambda seconds: f"{seconds / fetches * 1e6:.1f} us each"  # noqa: E731
        self.results.append((f"fetch by primary key, {fetches:,} keys: Core select() per call",
                             each(per_call_s), ""))
        self.results.append(("  Core select() prepared once (bind parameter), for comparison",
                             each(prepared_s), f"modeler ratio {modeler_s / prepared_s:.2f}"))
        self.results.append(("  modeler Customer.get(session, key)", each(modeler_s),
                             f"ratio {ratio:.2f} (target <= 2)"))
        self.ok_fetch = ratio <= 2

    def generate(self, customers: int, activities: int) -> float:
        """The 360-degree data set, written with Core executemany in batches."""
        began = time.perf_counter()
        self.clear()
        tables = self.model.metadata.tables
        draw = random.Random(11).random  # random() is several times cheaper than randrange()
        kinds = ("call", "email", "meeting")
        with self.storage.transaction() as connection:
            connection.execute(sa.insert(tables["customer"]), customer_rows(customers))
            connection.execute(sa.insert(tables["contact"]), [
                {"name": f"Contact {c}-{n}", "phone": f"+31 30 {c:07d}", "customer_id": c}
                for c in range(1, customers + 1) for n in range(1 + c % 3)
            ])
            batch = 100_000
            for first in range(0, activities, batch):
                connection.execute(sa.insert(tables["activity"]), [
                    {"kind": kinds[i % 3], "subject": f"Activity {i}",
                     "occurred": START + dt.timedelta(seconds=int(draw() * 31_536_000)),
                     "customer_id": 1 + int(draw() * customers)}
                    for i in range(first, min(first + batch, activities))
                ])
        with self.storage.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
        return time.perf_counter() - began

    def customer_view(self, customers: int, activities: int, views: int, repeat: int) -> None:
        generated = self.generate(customers, activities)
        keys = random.Random(3).sample(range(1, customers + 1), min(views, customers))
        Customer = self.model.Customer

        def run() -> list[float]:
            times = []
            for key in keys:
                began = time.perf_counter()
                with self.storage.session() as session:
                    customer = session.get(Customer, key)
                    contacts = list(customer.contacts)
                    latest = session.scalars(customer.select_related("activities").limit(50)).all()
                    assert contacts and latest is not None
                times.append(time.perf_counter() - began)
            return times

        medians = [statistics.median(run()) for _ in range(repeat)]
        median_ms = min(medians) * 1000
        self.results.append((f"360-degree view: {customers:,} customers, {activities:,} activities",
                             f"data set generated in {generated:.1f} s", ""))
        self.results.append((f"  customer + contacts + latest 50 activities, {len(keys)} customers",
                             f"median {median_ms:.2f} ms", "target < 5 ms"))
        self.ok_view = median_ms < 5

    def count(self, table: str) -> int:
        with self.storage.engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(self.model.metadata.tables[table]))

    def close(self) -> None:
        self.model.dispose()
        self.storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="objects in the bulk insert")
    parser.add_argument("--fetches", type=int, default=5_000, help="keys fetched one by one")
    parser.add_argument("--customers", type=int, default=100_000, help="customers in the 360-degree data set")
    parser.add_argument("--activities", type=int, default=1_000_000, help="activities in the 360-degree data set")
    parser.add_argument("--views", type=int, default=500, help="customers viewed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best counts")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder))
        try:
            bench.bulk_insert(args.rows, args.repeat)
            bench.fetch_by_key(min(args.fetches, args.rows), args.repeat)
            bench.customer_view(args.customers, args.activities, args.views, args.repeat)
        finally:
            bench.close()
    print(f"# bench_bom: Python {platform.python_version()}, SQLAlchemy {sa.__version__},"
          f" SQLite {sa.__dict__.get('sqlite_version', '')}{_sqlite_version()}, {platform.machine()}")
    width = max(len(r[0]) for r in bench.results)
    for label, figure, note in bench.results:
        print(f"{label:<{width}}  {figure:>24}  {note}")
    passed = bench.ok_insert and bench.ok_fetch and bench.ok_view
    print("all targets met" if passed else "TARGET MISSED")
    return 0 if passed else 1


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    sys.exit(main())
