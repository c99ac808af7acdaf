"""``db transfer``: copy every business object to another database, and prove it.

The typical move is from the SQLite file an application starts with to a
PostgreSQL server once it grows. Tables are copied parents first, in batches,
each batch in its own transaction on the target, reading the source in primary
key order. That makes the copy restartable: interrupted and run again, a table
continues after the highest key already in the target (integer keys), or skips
the keys the target already has (other keys, whose order may differ between
databases' collations). No row is copied twice.

Values travel through the tables' column types, so an exact decimal stored as
scaled integer on SQLite arrives as NUMERIC on PostgreSQL, and a UTC datetime
gets its time zone. At the end every table is counted and checksummed on both
sides (``caruso.storage.checksum``); a difference raises ``TransferError``.

The source should be quiet meanwhile (stop the application first): rows
written during the copy may or may not be copied.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from caruso.errors import TransferError
from caruso.storage import schema
from caruso.storage.checksum import ChecksumBuilder, TableChecksum
from caruso.storage.engine import FOREIGN_KEYS_OPTION, display_url
from caruso.storage.metadata import is_legacy, object_name

__all__ = ["TableTransfer", "TransferProgress", "TransferReport", "transfer"]

DEFAULT_BATCH_SIZE = 2000


class TransferProgress(Protocol):
    """Where ``transfer`` reports how far it is (the CLI draws a click progress bar)."""

    def begin(self, phase: str, total: int) -> None:
        """A phase starts: ``"copy"`` or ``"verify"``, with the number of rows it will handle."""

    def advance(self, table: str, rows: int) -> None:
        """``rows`` more rows of ``table`` are done."""

    def end(self) -> None:
        """The phase is over."""


@attrs.frozen
class TableTransfer:
    """One table's figures: what was there, what was copied, and whether both sides agree."""

    table: str
    object_name: str | None
    copied: int
    already_present: int
    source: TableChecksum
    target: TableChecksum

    @property
    def ok(self) -> bool:
        return self.source == self.target


@attrs.frozen
class TransferReport:
    """The result of a transfer, table by table, parents first."""

    source_url: str
    target_url: str
    tables: tuple[TableTransfer, ...]
    copy_seconds: float
    verify_seconds: float

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows_copied(self) -> int:
        return sum(t.copied for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        """Copy speed, verification not included."""
        return self.rows_copied / self.copy_seconds if self.copy_seconds > 0 else 0.0

    def __str__(self) -> str:
        width = max([len(t.table) for t in self.tables] + [5])
        lines = [f"{'table':<{width}}  {'rows':>10}  {'copied':>10}  {'earlier':>10}  checksum"]
        for t in self.tables:
            verdict = "ok" if t.ok else (
                f"MISMATCH (target has {t.target.rows} rows, checksum {t.target.digest[:12]})"
            )
            lines.append(
                f"{t.table:<{width}}  {t.source.rows:>10}  {t.copied:>10}  {t.already_present:>10}"
                f"  {t.source.digest[:12]} {verdict}"
            )
        lines.append(
            f"{self.rows_copied} rows copied from {self.source_url} to {self.target_url}"
            f" in {self.copy_seconds:.1f} s ({self.rows_per_second:,.0f} rows/s),"
            f" verified in {self.verify_seconds:.1f} s"
        )
        return "\n".join(lines)


class _Silent:
    def begin(self, phase: str, total: int) -> None: ...

    def advance(self, table: str, rows: int) -> None: ...

    def end(self) -> None: ...


def transfer(
    source: Engine,
    target: str | Engine,
    metadatas: Sequence[sa.MetaData],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: TransferProgress | None = None,
) -> TransferReport:
    """Copy every table of ``metadatas`` from ``source`` to ``target`` and verify the copy.

    The target gets the tables it lacks (legacy ones too: it is a new home for
    the data) and additive changes to the ones it has.

    Raises:
        TransferError: source and target are the same database, a table without a
            primary key holds a partial copy, or the verification found a difference
            (``error.report`` has the figures).
        SchemaChangeRefused: the target's tables differ destructively from the models.
    """
    from caruso.storage.manager import Storage  # the target gets the same defaults and errors

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    progress = progress or _Silent()
    target_storage = None
    if not isinstance(target, Engine):
        target_storage = Storage(target)
        for metadata in metadatas:
            target_storage.register(metadata)
        target = target_storage.engine
    try:
        _refuse_same_database(source, target)
        started = time.monotonic()
        tables = _tables_in_source(source, metadatas)
        _prepare_target(target, metadatas, tables)
        copied = _copy_all(source, target, tables, batch_size, progress)
        _advance_postgres_sequences(target, tables)
        verify_started = time.monotonic()
        results = _verify(source, target, tables, copied, batch_size, progress)
        report = TransferReport(
            display_url(source.url),
            display_url(target.url),
            tuple(results),
            copy_seconds=verify_started - started,
            verify_seconds=time.monotonic() - verify_started,
        )
    finally:
        if target_storage is not None:
            target_storage.close()
    if not report.ok:
        bad = ", ".join(t.table for t in report.tables if not t.ok)
        raise TransferError(
            f"the copy in {report.target_url} does not match the source for: {bad}\n{report}\n"
            "nothing in the source was changed; empty those tables in the target and run"
            " the transfer again",
            report,
        )
    return report


# -- preparing ---------------------------------------------------------------------------


def _refuse_same_database(source: Engine, target: Engine) -> None:
    if source.url.render_as_string(hide_password=False) == target.url.render_as_string(hide_password=False):
        raise TransferError(
            f"source and target are the same database ({display_url(source.url)});"
            " give --to the URL of another database"
        )


def _tables_in_source(source: Engine, metadatas: Sequence[sa.MetaData]) -> list[sa.Table]:
    """Every model table the source has, parents first."""
    inspector = sa.inspect(source)
    tables = []
    for metadata in metadatas:
        for table in metadata.sorted_tables:
            if inspector.has_table(table.name, schema=table.schema):
                tables.append(table)
            elif not is_legacy(table):
                raise TransferError(
                    f"table {table.name} ({object_name(table) or 'no object'}) is missing in the"
                    f" source {display_url(source.url)}; run `caruso db upgrade` there first"
                )
    return tables


def _prepare_target(target: Engine, metadatas: Sequence[sa.MetaData], tables: list[sa.Table]) -> None:
    inspector = sa.inspect(target)
    legacy_missing = [t for t in tables if is_legacy(t) and not inspector.has_table(t.name, schema=t.schema)]
    if legacy_missing:
        with target.begin() as connection:
            for table in legacy_missing:
                table.create(connection)
    schema.upgrade(target, list(metadatas))


# -- copying -----------------------------------------------------------------------------


def _copy_all(
    source: Engine, target: Engine, tables: list[sa.Table], batch_size: int, progress: TransferProgress
) -> dict[str, tuple[int, int]]:
    """Copy each table; return (copied now, present before) per table name."""
    with source.connect() as reader, target.connect() as writer:
        writer = _prepare_writer(writer)
        counts = {t.name: (_count(reader, t), _count(writer, t)) for t in tables}
        progress.begin("copy", sum(src for src, _ in counts.values()))
        result = {}
        try:
            for table in tables:
                source_rows, target_rows = counts[table.name]
                progress.advance(table.name, min(target_rows, source_rows))
                copied = _copy_table(reader, writer, table, source_rows, target_rows, batch_size, progress)
                result[table.name] = (copied, target_rows)
        finally:
            writer.invalidate()  # its relaxed settings must not reach the pool
            progress.end()
    return result


def _copy_table(
    reader: Connection,
    writer: Connection,
    table: sa.Table,
    source_rows: int,
    target_rows: int,
    batch_size: int,
    progress: TransferProgress,
) -> int:
    key = list(table.primary_key.columns)
    if target_rows == source_rows:
        return 0  # complete from an earlier run, as far as counting tells; verify() checks the rest
    if not key and target_rows:
        raise TransferError(
            f"table {table.name} has no primary key and the target already holds {target_rows}"
            f" of its {source_rows} rows, so the copy cannot resume without duplicates;"
            " empty that table in the target and run the transfer again"
        )
    after = None
    skip_existing = target_rows > 0
    if skip_existing and len(key) == 1 and _is_integer(key[0]):
        # Integers sort alike everywhere: continue after the highest key copied.
        after = (writer.execute(sa.select(sa.func.max(key[0]))).scalar(),)
        writer.rollback()
        skip_existing = False
    copied = 0
    keys = [c.key for c in table.columns]  # select(table) returns columns in this order
    batches = _batches(reader, table, key, after, batch_size) if key else _stream(reader, table, batch_size)
    for rows in batches:
        if skip_existing:
            rows = _without_existing(writer, table, key, rows)
        if rows:
            with writer.begin():
                writer.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])
            copied += len(rows)
            progress.advance(table.name, len(rows))
    return copied


def _batches(
    reader: Connection, table: sa.Table, key: list[sa.Column], after: tuple | None, batch_size: int
) -> Iterator[list[sa.Row]]:
    """The table's rows in key order, ``batch_size`` at a time, each batch a fresh query
    after the last key seen (keyset pagination: no offsets, no long-held cursor)."""
    while True:
        query = sa.select(table).order_by(*key).limit(batch_size)
        if after is not None and after[0] is not None:
            query = query.where(_after(key, after))
        rows = reader.execute(query).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        after = tuple(rows[-1]._mapping[c] for c in key)


def _stream(reader: Connection, table: sa.Table, batch_size: int) -> Iterator[list[sa.Row]]:
    """All rows of a table without a key, in one query (it cannot resume anyway)."""
    result = reader.execution_options(yield_per=batch_size).execute(sa.select(table))
    yield from result.partitions()
    result.close()
    reader.rollback()


def _after(key: list[sa.Column], values: tuple) -> sa.ColumnElement[bool]:
    if len(key) == 1:
        return key[0] > values[0]
    return sa.tuple_(*key) > sa.tuple_(*(sa.literal(v, type_=c.type) for c, v in zip(key, values, strict=True)))


def _without_existing(writer: Connection, table: sa.Table, key: list[sa.Column], rows: list[sa.Row]) -> list[sa.Row]:
    keys = [tuple(row._mapping[c] for c in key) for row in rows]
    if len(key) == 1:
        query = sa.select(key[0]).where(key[0].in_([k[0] for k in keys]))
    else:
        query = sa.select(*key).where(sa.tuple_(*key).in_(keys))
    existing = {tuple(r) for r in writer.execute(query)}
    writer.rollback()
    return [row for row, k in zip(rows, keys, strict=True) if k not in existing]


def _is_integer(column: sa.Column) -> bool:
    try:
        return issubclass(column.type.python_type, int) and column.type.python_type is not bool
    except NotImplementedError:
        return False


def _count(connection: Connection, table: sa.Table) -> int:
    count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    connection.rollback()
    return count


def _prepare_writer(writer: Connection) -> Connection:
    """Settings for the copying connection only (it is discarded afterwards, never pooled).

    Foreign-key checks go off where the backend allows it, so self-references and
    cycles copy in key order; the verification checks the result. On PostgreSQL a
    commit need not wait for the disk: a batch lost in a crash is simply copied
    again by the next run.
    """
    dialect = writer.dialect.name
    if dialect == "sqlite":
        return writer.execution_options(**{FOREIGN_KEYS_OPTION: False})
    if dialect in ("mysql", "mariadb"):
        writer.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        writer.commit()
    elif dialect == "postgresql":
        writer.exec_driver_sql("SET synchronous_commit = off")
        writer.commit()
        try:
            writer.exec_driver_sql("SET session_replication_role = replica")
            writer.commit()
        except sa.exc.DBAPIError:  # not a superuser: parents-first order has to do
            writer.rollback()
    return writer


def _advance_postgres_sequences(target: Engine, tables: list[sa.Table]) -> None:
    """Explicit keys do not move PostgreSQL's sequences: set them past the copied rows,
    or the application's next insert would collide with a copied key."""
    if target.dialect.name != "postgresql":
        return
    with target.begin() as connection:
        for table in tables:
            column = table.autoincrement_column
            if column is None:
                continue
            connection.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence(:table, :column),"
                    " COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) FROM {tab}".format(
                        col=connection.dialect.identifier_preparer.quote(column.name),
                        tab=connection.dialect.identifier_preparer.format_table(table),
                    )
                ),
                {"table": connection.dialect.identifier_preparer.format_table(table), "column": column.name},
            )


# -- verifying ---------------------------------------------------------------------------


def _verify(
    source: Engine,
    target: Engine,
    tables: list[sa.Table],
    copied: dict[str, tuple[int, int]],
    batch_size: int,
    progress: TransferProgress,
) -> list[TableTransfer]:
    with source.connect() as reader, target.connect() as writer:
        totals = {t.name: _count(reader, t) for t in tables}
        progress.begin("verify", 2 * sum(totals.values()))
        try:
            results = []
            for table in tables:
                source_sum = _checksum(reader, table, batch_size, progress)
                target_sum = _checksum(writer, table, batch_size, progress)
                now, before = copied.get(table.name, (0, 0))
                results.append(TableTransfer(table.name, object_name(table), now, before, source_sum, target_sum))
        finally:
            progress.end()
    return results


def _checksum(connection: Connection, table: sa.Table, batch_size: int, progress: TransferProgress) -> TableChecksum:
    builder = ChecksumBuilder()
    result = connection.execution_options(stream_results=True, yield_per=batch_size).execute(sa.select(table))
    for partition in result.partitions():
        builder.add(partition)
        progress.advance(table.name, len(partition))
    result.close()
    connection.rollback()
    return builder.result()

