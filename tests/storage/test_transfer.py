"""``db transfer`` from a real SQLite file into each real backend: complete, verified, restartable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from caruso.errors import TransferError
from caruso.storage import Storage
from caruso.storage.metadata import ATTRIBUTE_KEY, OBJECT_KEY

CUSTOMERS = 120
CONTACTS = 90


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash in the middle of a transfer."""


class RecordingProgress:
    """Records what a progress bar would show; can interrupt after some batches."""

    def __init__(self, interrupt_after: int | None = None):
        self.phases: list[tuple[str, int]] = []
        self.done: dict[str, int] = {}
        self.batches = 0
        self.interrupt_after = interrupt_after

    def begin(self, phase: str, total: int) -> None:
        self.phases.append((phase, total))

    def advance(self, table: str, rows: int) -> None:
        self.done[table] = self.done.get(table, 0) + rows
        if self.phases[-1][0] == "copy" and rows:
            self.batches += 1
            if self.interrupt_after is not None and self.batches >= self.interrupt_after:
                raise Interrupted()

    def end(self) -> None:
        pass


def _add_keyed_tables(metadata: sa.MetaData) -> None:
    """A table keyed by text and one keyed by two columns (their order differs by collation),
    and a log without any key."""
    sa.Table(
        "tag", metadata,
        sa.Column("code", sa.String(20), primary_key=True, info={ATTRIBUTE_KEY: "code"}),
        sa.Column("label", sa.String(50)),
        info={OBJECT_KEY: "Tag"},
    )
    sa.Table(
        "membership", metadata,
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customer.id"), primary_key=True),
        sa.Column("tag_code", sa.String(20), sa.ForeignKey("tag.code"), primary_key=True),
        info={OBJECT_KEY: "Membership"},
    )
    sa.Table(
        "import_log", metadata,
        sa.Column("message", sa.String(100)),
        sa.Column("line", sa.Integer),
        info={OBJECT_KEY: "ImportLog"},
    )


@pytest.fixture
def source(tmp_path, crm_metadata) -> Storage:
    """A SQLite application database with customers (some referring to a parent customer),
    contacts, tags in mixed case and memberships."""
    metadata = crm_metadata(extended=True)
    _add_keyed_tables(metadata)
    storage = Storage(f"sqlite:///{tmp_path / 'app.db'}")
    storage.register(metadata)
    storage.upgrade()
    tables = metadata.tables
    moment = dt.datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=dt.UTC)
    with storage.transaction() as conn:
        conn.execute(tables["customer"].insert(), [
            {
                "id": i, "name": f"Customer {i}", "email": f"c{i}@example.com",
                "balance": Decimal(i) / 100 + Decimal("1000.10"),
                "created": moment + dt.timedelta(minutes=i),
                "profile": {"tags": ["a", "b"], "n": i} if i % 3 else None,
                "status": "active", "segment": "b2b" if i % 2 else None,
                "parent": i - 1 if i % 10 and i > 1 else None,
            }
            for i in range(1, CUSTOMERS + 1)
        ])
        # Customer 1 refers to the last one: a forward self-reference, in key order.
        customer = tables["customer"]
        conn.execute(customer.update().where(customer.c.id == 1).values(parent=CUSTOMERS))
        conn.execute(tables["contact"].insert(), [
            {"id": i, "customer": i, "phone": f"+31 20 {i:04d}"} for i in range(1, CONTACTS + 1)
        ])
        codes = ["alpha", "Beta", "gamma", "Delta", "_x", "Zeta", "eta", "10", "9"]
        conn.execute(tables["tag"].insert(), [{"code": c, "label": c.upper()} for c in codes])
        conn.execute(tables["membership"].insert(), [
            {"customer_id": i, "tag_code": c} for i in range(1, 21) for c in codes[: i % 4 + 1]
        ])
        conn.execute(tables["import_log"].insert(), [
            {"message": "loaded", "line": 1}, {"message": None, "line": 2}, {"message": "loaded", "line": None},
        ])
    yield storage
    storage.close()


def _rows(url: str, metadata: sa.MetaData, name: str) -> list[tuple]:
    target = Storage(url)
    try:
        table = metadata.tables[name]
        with target.transaction() as conn:
            return sorted((tuple(r) for r in conn.execute(sa.select(table))), key=repr)
    finally:
        target.close()


def test_a_transfer_copies_every_object_exactly_and_verifies_it(source, database_url):
    """Every table arrives with the same values (decimals, UTC datetimes, JSON, self-references);
    the report shows matching counts and checksums; new objects can be added afterwards."""
    progress = RecordingProgress()
    report = source.transfer(database_url, batch_size=50, progress=progress)
    metadata = source.metadatas[0]
    expected_rows = {
        "customer": CUSTOMERS, "contact": CONTACTS, "activity": 0, "tag": 9, "membership": 50, "import_log": 3,
    }
    assert expected_rows == {t.table: t.source.rows for t in report.tables}
    assert (True, sum(expected_rows.values())) == (report.ok, report.rows_copied)
    assert [("copy", 272), ("verify", 544)] == progress.phases
    for name in ("customer", "tag", "membership", "import_log"):
        assert _rows(source.engine.url.render_as_string(False), metadata, name) == _rows(database_url, metadata, name)
    target = Storage(database_url)
    try:
        customer = metadata.tables["customer"]
        with target.transaction() as conn:
            new_id = conn.execute(customer.insert().values(name="After the move")).inserted_primary_key[0]
            first = conn.execute(sa.select(customer).where(customer.c.id == 1)).one()
    finally:
        target.close()
    assert CUSTOMERS + 1 == new_id
    assert (Decimal("1000.11"), dt.datetime(2026, 3, 1, 9, 31, 0, 250000, tzinfo=dt.UTC), CUSTOMERS) == (
        first.balance, first.created, first.parent
    )


def test_an_interrupted_transfer_finishes_without_duplicates_when_run_again(source, postgres_url):
    """Stopped after three batches, then run again: every table ends complete, nothing twice,
    also for text and two-column keys whose order differs between SQLite and PostgreSQL."""
    with pytest.raises(Interrupted):
        source.transfer(postgres_url, batch_size=7, progress=RecordingProgress(interrupt_after=3))
    first_part = {name: len(_rows(postgres_url, source.metadatas[0], name)) for name in ("customer", "contact")}
    # A second interruption inside the tables with text and composite keys.
    with pytest.raises(Interrupted):
        source.transfer(postgres_url, batch_size=7, progress=RecordingProgress(interrupt_after=34))
    report = source.transfer(postgres_url, batch_size=7)
    by_table = {t.table: t for t in report.tables}
    assert {"customer": 21, "contact": 0} == first_part
    assert report.ok
    assert {name: t.source.rows for name, t in by_table.items()} == {
        name: t.copied + t.already_present for name, t in by_table.items()
    }
    assert 0 < by_table["membership"].already_present < 50


def test_a_copy_that_differs_from_the_source_fails_verification(source, tmp_path):
    """A row changed in the target after the copy: the next run reports the table and fails."""
    target_url = f"sqlite:///{tmp_path / 'copy.db'}"
    assert source.transfer(target_url).ok
    with sa.create_engine(target_url).begin() as conn:
        conn.exec_driver_sql("UPDATE tag SET label = 'changed' WHERE code = 'Beta'")
    with pytest.raises(TransferError) as caught:
        source.transfer(target_url)
    assert ["tag"] == [t.table for t in caught.value.report.tables if not t.ok]
    assert "does not match the source for: tag" in str(caught.value)


def test_a_transfer_onto_itself_is_refused(source):
    """Source and target the same file: refused before anything is read or written."""
    with pytest.raises(TransferError, match="source and target are the same database"):
        source.transfer(source.engine.url.render_as_string(hide_password=False))
