"""One engine per URL, with the defaults each backend needs to behave like the others.

An integrator changes the URL in the descriptor and nothing else, so the
differences between backends are settled here:

- SQLite: foreign keys on (SQLite ignores them unless asked per connection),
  WAL journal for files (readers do not block the writer), a busy timeout,
  and real transactions around DDL (pysqlite otherwise commits schema changes
  one by one, so a failed upgrade would leave half a schema behind).
- PostgreSQL and MariaDB: a connection pool that checks connections before use
  (``pool_pre_ping``) and recycles them before a server's idle timeout drops
  them; MariaDB talks utf8mb4, so every character fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from caruso.errors import StorageError

__all__ = ["EngineOptions", "FOREIGN_KEYS_OPTION", "create_engine", "display_url"]

FOREIGN_KEYS_OPTION = "caruso_sqlite_foreign_keys"
"""Execution option: ``connection.execution_options(caruso_sqlite_foreign_keys=False)``
turns SQLite's foreign-key checks off for the next transaction of that
connection (schema rebuilds and transfers need it); other backends ignore it."""

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


@attrs.define
class EngineOptions:
    """Pool and logging options, from ``[services.storage.settings]``.

    None leaves SQLAlchemy's default (which depends on the backend). SQLite
    ignores the pool sizes: one file does not need a pool of servers' size.

    Args:
        echo: log every SQL statement (logger ``sqlalchemy.engine``).
        pool_size: connections kept open.
        max_overflow: extra connections allowed under load.
        pool_timeout: seconds to wait for a free connection.
        pool_recycle: seconds after which a connection is replaced.
        sqlite_timeout: seconds SQLite waits for a lock before "database is locked".
    """

    echo: bool = False
    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout: float | None = None
    pool_recycle: int | None = None
    sqlite_timeout: float = 15.0


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str | URL, options: EngineOptions | None = None) -> Engine:
    """An engine for ``url`` with Caruso's per-backend defaults.

    Raises:
        StorageError: the URL does not parse or names a backend Caruso does not support.
    """
    options = options or EngineOptions()
    try:
        url = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(
            f"storage URL {str(url)!r} is not a database URL: {exc}; write it like"
            " 'sqlite:///data/crm.db' or 'postgresql+psycopg://user:password@host/dbname'"
        ) from exc
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StorageError(
            f"storage URL {display_url(url)!r}: backend {backend!r} is not supported;"
            " use sqlite, postgresql or mariadb (mysql)"
        )
    if backend == "sqlite":
        return _sqlite_engine(url, options)
    return _server_engine(url, options)


def _sqlite_engine(url: URL, options: EngineOptions) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if not in_memory:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        echo=options.echo,
        connect_args={"timeout": options.sqlite_timeout},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        # Let SQLAlchemy's "begin" event emit BEGIN, so DDL is transactional too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        connection_record.info[FOREIGN_KEYS_OPTION] = True

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        wanted = conn.get_execution_options().get(FOREIGN_KEYS_OPTION, True)
        record_info = conn.connection.info
        dbapi_connection = conn.connection.dbapi_connection
        if record_info.get(FOREIGN_KEYS_OPTION) != wanted:
            # Only outside a transaction does SQLite honour this pragma.
            dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if wanted else 'OFF'}")
            record_info[FOREIGN_KEYS_OPTION] = wanted
        dbapi_connection.execute("BEGIN")

    return engine


def _server_engine(url: URL, options: EngineOptions) -> Engine:
    kwargs: dict[str, Any] = {"echo": options.echo, "pool_pre_ping": True}
    if url.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        # MariaDB closes idle connections after wait_timeout (8 hours by default).
        kwargs["pool_recycle"] = 3600
    for name in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"):
        value = getattr(options, name)
        if value is not None:
            kwargs[name] = value
    try:
        return sa.create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        extra = "postgres" if url.get_backend_name() == "postgresql" else "mysql"
        raise StorageError(
            f"storage URL {display_url(url)!r} needs the database driver {exc.name!r};"
            f" install it with: pip install 'caruso[{extra}]'"
        ) from exc
