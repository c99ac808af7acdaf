"""``db transfer`` SQLite -> PostgreSQL against a plain Core select/insert loop.

Both copy the same table (integer key, a reference, text, an exact decimal, a
UTC datetime, an enumeration) through the same column types, from the same
SQLite file into a fresh PostgreSQL database each, so the ratio is what the
transfer's machinery costs: keyset batches with a transaction each (what makes
it restartable), progress reporting and sequence fix-up. Verification (count
and checksum of both sides) is timed separately: the baseline does not verify.

Each side runs ``--repeat`` times into a fresh database and the best time
counts (the machine is shared; the best run is the least disturbed one).

Run: python benchmarks/bench_transfer.py [--rows 1000000] [--batch-size 2000]
     [--repeat 1] [--postgres 127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from caruso.storage import Storage
from caruso.storage.metadata import OBJECT_KEY, new_metadata
from caruso.storage.transfer import DEFAULT_BATCH_SIZE
from caruso.storage.types import Enumeration, ExactDecimal, UTCDateTime


def activity_metadata() -> sa.MetaData:
    metadata = new_metadata()
    sa.Table(
        "activity",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, nullable=False, index=True),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("amount", ExactDecimal(12, 2)),
        sa.Column("occurred", UTCDateTime(), nullable=False),
        sa.Column("channel", Enumeration(("phone", "email", "chat", "letter"))),
        info={OBJECT_KEY: "Activity"},
    )
    return metadata


def fill_source(url: str, metadata: sa.MetaData, rows: int) -> None:
    storage = Storage(url)
    storage.upgrade(metadata)
    table = metadata.tables["activity"]
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    channels = ("phone", "email", "chat", "letter")
    with storage.transaction() as conn:
        for first in range(1, rows + 1, 50_000):
            conn.execute(table.insert(), [
                {
                    "id": i,
                    "customer_id": i % 100_000 + 1,
                    "subject": f"activity {i} about contract {i % 977}",
                    "amount": Decimal(i % 100_000) / 100,
                    "occurred": start + dt.timedelta(seconds=i * 17),
                    "channel": channels[i % 4],
                }
                for i in range(first, min(first + 50_000, rows + 1))
            ])
    storage.close()


@contextmanager
def fresh_postgres(hostport: str):
    admin = sa.create_engine(f"postgresql+psycopg://postgres@{hostport}/test", isolation_level="AUTOCOMMIT")
    name = "caruso_bench_" + uuid.uuid4().hex[:10]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{hostport}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def baseline_copy(source_url: str, target_url: str, metadata: sa.MetaData, batch_size: int) -> float:
    """The loop anyone would write: stream the rows, insert them in batches, commit once."""
    table = metadata.tables["activity"]
    source, target = sa.create_engine(source_url), sa.create_engine(target_url)
    metadata.create_all(target)
    keys = [c.key for c in table.columns]
    started = time.perf_counter()
    with source.connect() as reader, target.begin() as writer:
        result = reader.execution_options(yield_per=batch_size).execute(sa.select(table))
        for partition in result.partitions():
            writer.execute(table.insert(), [dict(zip(keys, row)) for row in partition])
    seconds = time.perf_counter() - started
    source.dispose()
    target.dispose()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres", default="127.0.0.1:5432", metavar="HOST:PORT")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        source_url = f"sqlite:///{Path(folder) / 'source.db'}"
        metadata = activity_metadata()
        print(f"filling {source_url} with {args.rows:,} rows ...", flush=True)
        fill_source(source_url, metadata, args.rows)

        baselines, reports = [], []
        for _ in range(args.repeat):
            with fresh_postgres(args.postgres) as target_url:
                baselines.append(baseline_copy(source_url, target_url, metadata, args.batch_size))
            with fresh_postgres(args.postgres) as target_url:
                source = Storage(source_url)
                source.register(metadata)
                reports.append(source.transfer(target_url, batch_size=args.batch_size))
                source.close()
        baseline = min(baselines)
        report = min(reports, key=lambda r: r.copy_seconds)

    copy_rate = report.rows_copied / report.copy_seconds
    print()
    print(f"python {platform.python_version()}, SQLAlchemy {sa.__version__}, {platform.machine()}")
    print(f"rows: {args.rows:,}, batch size: {args.batch_size}, best of {args.repeat}")
    print(f"{'':28}{'seconds':>10}{'rows/s':>12}")
    print(f"{'Core select/insert loop':28}{baseline:>10.2f}{args.rows / baseline:>12,.0f}")
    print(f"{'db transfer, copy':28}{report.copy_seconds:>10.2f}{copy_rate:>12,.0f}")
    print(f"{'db transfer, verify':28}{report.verify_seconds:>10.2f}")
    print(f"ratio copy / baseline: {report.copy_seconds / baseline:.2f}")
    print(f"ratio copy+verify / baseline: {(report.copy_seconds + report.verify_seconds) / baseline:.2f}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
