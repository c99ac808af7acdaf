"""The compliance suite for ``StorageManager`` implementations.

Another storage manager (a router to read replicas, a sharded store) replaces
the default by configuration; to be a drop-in replacement it must behave the
same where other components depend on it. Subclass the contract in a pytest
module and say how to build yours::

    from caruso.storage.contract import StorageManagerContract

    class TestMyStorage(StorageManagerContract):
        def make_storage(self, url):
            return MyStorage(url)

The tests use a ``database_url`` fixture (Caruso's own test suite provides one
per backend: SQLite, PostgreSQL, MariaDB); define one returning your URL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caruso.errors import IntegrityViolation, SchemaChangeRefused
from caruso.storage.manager import StorageManager
from caruso.storage.metadata import ATTRIBUTE_KEY, OBJECT_KEY, new_metadata

__all__ = ["StorageManagerContract"]


def _note_metadata() -> sa.MetaData:
    metadata = new_metadata()
    sa.Table(
        "contract_note",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(20), unique=True, info={ATTRIBUTE_KEY: "code"}),
        info={OBJECT_KEY: "Note"},
    )
    return metadata


class StorageManagerContract:
    """What every storage manager must do; override ``make_storage``."""

    def make_storage(self, url: str) -> StorageManager:
        raise NotImplementedError("return your storage manager, open on url")

    @pytest.fixture
    def contract_storage(self, database_url):
        storage = self.make_storage(database_url)
        assert isinstance(storage, StorageManager)
        metadata = _note_metadata()
        storage.register(metadata)
        storage.upgrade()
        yield storage, metadata.tables["contract_note"]
        close = getattr(storage, "close", None)
        if close is not None:
            close()

    def _codes(self, storage: StorageManager, table: sa.Table) -> list[str]:
        with storage.transaction() as conn:
            return conn.execute(sa.select(table.c.code).order_by(table.c.id)).scalars().all()

    def test_work_is_committed_whole_or_rolled_back_whole(self, contract_storage):
        """A unit of work and a Core transaction commit at the end, and an error rolls
        back everything inside them."""
        storage, table = contract_storage
        with storage.unit_of_work() as session:
            session.execute(table.insert(), [{"id": 1, "code": "a"}])
        with storage.transaction() as conn:
            conn.execute(table.insert(), [{"id": 2, "code": "b"}])
        for block in (storage.unit_of_work, storage.transaction):
            with pytest.raises(RuntimeError):
                with block() as work:
                    work.execute(table.insert(), [{"id": 3, "code": "c"}])
                    raise RuntimeError("the caller failed half-way")
        assert ["a", "b"] == self._codes(storage, table)
        assert storage.health().ok

    def test_a_refused_write_is_an_integrity_violation_naming_the_attribute(self, contract_storage):
        """A duplicate unique value raises IntegrityViolation naming object and attribute."""
        storage, table = contract_storage
        with storage.unit_of_work() as session:
            session.execute(table.insert(), [{"id": 1, "code": "a"}])
        with pytest.raises(IntegrityViolation) as caught:
            with storage.unit_of_work() as session:
                session.execute(table.insert(), [{"id": 2, "code": "b"}])
                session.execute(table.insert(), [{"id": 3, "code": "a"}])
        assert ("unique", "Note", ("code",)) == (
            caught.value.kind, caught.value.object_name, caught.value.attributes
        )
        assert ["a"] == self._codes(storage, table)

    def test_schema_status_and_upgrade_follow_the_registered_models(self, contract_storage):
        """After upgrade the status is clean; a dropped attribute is refused unless allowed;
        a MetaData can be unregistered and registered again."""
        storage, table = contract_storage
        assert storage.status().up_to_date
        slimmer = new_metadata()
        sa.Table("contract_note", slimmer, sa.Column("id", sa.Integer, primary_key=True),
                 info={OBJECT_KEY: "Note"})
        with pytest.raises(SchemaChangeRefused):
            storage.upgrade(slimmer)
        (registered,) = storage.metadatas
        storage.unregister(registered)
        storage.register(slimmer)
        assert (slimmer,) == storage.metadatas
        assert not storage.status().up_to_date
