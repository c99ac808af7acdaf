"""The storage interface, and the default implementation every backend shares.

``StorageManager`` is what other components program against: the ``bom``
service registers its MetaData, asks for a unit of work, and leaves schema
management and errors to storage. ``Storage`` implements it on top of one
SQLAlchemy engine; a third-party implementation (a sharded store, a read
replica router) implements the same interface and can run the compliance
suite in ``tests/storage``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from caruso.errors import CarusoError, ServiceStateError, StorageError
from caruso.services.base import DOWN, Health
from caruso.storage import schema
from caruso.storage.engine import EngineOptions, create_engine, display_url
from caruso.storage.translate import ErrorTranslator

__all__ = ["Storage", "StorageManager"]

log = logging.getLogger("caruso.storage")


class StorageManager(abc.ABC):
    """One database behind one URL; the same behaviour whichever backend it is."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The database URL (the password hidden)."""

    @property
    @abc.abstractmethod
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for Core queries and for composing with ``select()``."""

    @abc.abstractmethod
    def register(self, metadata: sa.MetaData) -> None:
        """Make a component's tables known: for schema management, errors and transfer."""

    @abc.abstractmethod
    def unregister(self, metadata: sa.MetaData) -> None:
        """Forget a MetaData (a component stopping, or replaced by a new model version)."""

    @property
    @abc.abstractmethod
    def metadatas(self) -> tuple[sa.MetaData, ...]:
        """Every MetaData registered, in registration order."""

    @abc.abstractmethod
    def session(self) -> Session:
        """A new ORM session; the caller closes it (``with storage.session() as s:``)."""

    @abc.abstractmethod
    def unit_of_work(self) -> AbstractContextManager[Session]:
        """A session whose work is committed at the end of the block, or rolled back whole."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """A Core connection in a transaction, committed at the end of the block or rolled back."""

    @abc.abstractmethod
    def status(self, metadata: sa.MetaData | None = None) -> schema.SchemaDiff:
        """How the database differs from ``metadata`` (by default: every registered one)."""

    @abc.abstractmethod
    def upgrade(
        self, metadata: sa.MetaData | None = None, *, allow_destructive: bool = False
    ) -> schema.SchemaDiff:
        """Bring the database up to ``metadata`` (by default: every registered one):
        additive changes, destructive ones only if allowed. Does not register it."""

    @abc.abstractmethod
    def transfer(self, to_url: str, **options) -> object:
        """Copy every registered table to another database; see ``caruso.storage.transfer``."""

    @abc.abstractmethod
    def health(self) -> Health:
        """``ok`` when the database answers."""


class Storage(StorageManager):
    """The default storage manager: an engine, a session factory and the registered tables.

    ``Storage(url)`` is ready to use; a subclass that gets its URL later (the
    service) calls ``open(url)`` itself.

    Args:
        url: a SQLAlchemy database URL (``sqlite:///crm.db``, ``postgresql+psycopg://...``).
        options: pool and logging options; per-backend defaults otherwise.
    """

    #: Swap point: the class that turns database errors into Caruso errors.
    translator_class = ErrorTranslator

    def __init__(self, url: str | None = None, options: EngineOptions | None = None):
        self._engine: Engine | None = None
        self._sessions: sessionmaker | None = None
        self._metadatas: list[sa.MetaData] = []
        if url is not None:
            self.open(url, options)

    # -- lifecycle ---------------------------------------------------------------------

    def open(self, url: str, options: EngineOptions | None = None) -> None:
        """Create the engine; nothing connects until first use."""
        if self._engine is not None:
            raise ServiceStateError(f"storage is already open on {self.url}; close() it first")
        engine = create_engine(url, options)
        self.translator_class(str(engine.url), self.find_table).install(engine)
        self._engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        log.info("storage open on %s", self.url)

    def close(self) -> None:
        """Close every pooled connection; safe to call twice."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._sessions = None

    # -- the interface -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return display_url(self.engine.url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise ServiceStateError("storage is not open: start the 'storage' service first")
        return self._engine

    @property
    def dialect_name(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB)."""
        return self.engine.dialect.name

    def register(self, metadata: sa.MetaData) -> None:
        if not isinstance(metadata, sa.MetaData):
            raise TypeError(f"register() takes a sqlalchemy.MetaData, got {type(metadata).__name__}")
        if any(m is metadata for m in self._metadatas):
            return
        for table in metadata.tables.values():
            other = self.find_table(table.name)
            if other is not None:
                raise StorageError(
                    f"table {table.name!r} is registered twice (by two components' models);"
                    " rename one of them, or unregister() the old MetaData first"
                )
        self._metadatas.append(metadata)

    def unregister(self, metadata: sa.MetaData) -> None:
        self._metadatas = [m for m in self._metadatas if m is not metadata]

    @property
    def metadatas(self) -> tuple[sa.MetaData, ...]:
        return tuple(self._metadatas)

    def find_table(self, name: str) -> sa.Table | None:
        """The registered table called ``name`` (case-insensitive), or None."""
        for metadata in self._metadatas:
            table = metadata.tables.get(name)
            if table is not None:
                return table
        lowered = name.lower()
        for metadata in self._metadatas:
            for table in metadata.tables.values():
                if table.name.lower() == lowered:
                    return table
        return None

    def session(self) -> Session:
        if self._sessions is None:
            raise ServiceStateError("storage is not open: start the 'storage' service first")
        return self._sessions()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            _rollback_quietly(session.rollback)
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield connection
                transaction.commit()
            except BaseException:
                _rollback_quietly(transaction.rollback)
                raise

    def status(self, metadata: sa.MetaData | None = None) -> schema.SchemaDiff:
        return schema.compare(self.engine, self._targets(metadata))

    def upgrade(
        self, metadata: sa.MetaData | None = None, *, allow_destructive: bool = False
    ) -> schema.SchemaDiff:
        applied = schema.upgrade(self.engine, self._targets(metadata), allow_destructive=allow_destructive)
        for change in applied.changes:
            log.info("schema of %s: %s", self.url, change.description)
        return applied

    def transfer(self, to_url: str, **options):
        """Copy every registered table to ``to_url``; options as ``caruso.storage.transfer.transfer``."""
        from caruso.storage.transfer import transfer

        return transfer(self.engine, to_url, self._targets(None), **options)

    def health(self) -> Health:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except CarusoError as exc:
            return Health(DOWN, str(exc))
        except sa.exc.SQLAlchemyError as exc:
            return Health(DOWN, f"{self.url}: {exc}")
        return Health()

    def _targets(self, metadata: sa.MetaData | None) -> Sequence[sa.MetaData]:
        targets = [metadata] if metadata is not None else list(self._metadatas)
        if not targets:
            raise StorageError(
                "no models are registered with storage, so there is nothing to compare;"
                " is the 'bom' service enabled and are there model files?"
            )
        return targets


def _rollback_quietly(rollback: Callable[[], None]) -> None:
    """Roll back, keeping the original error: a dead connection cannot roll back, and
    then the server discards the transaction itself."""
    try:
        rollback()
    except Exception as exc:  # pragma: no cover - depends on how the connection died
        log.warning("rollback failed after an error (the server discards the transaction): %s", exc)
