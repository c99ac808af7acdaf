"""Per-backend engine defaults, checked on a real SQLite file (the servers' are in the other suites)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caruso.errors import StorageError
from caruso.storage.engine import FOREIGN_KEYS_OPTION, create_engine, display_url


def test_sqlite_gets_wal_foreign_keys_and_transactional_ddl(tmp_path):
    """The file is created with its folder, in WAL mode with foreign keys on; a schema change
    rolled back leaves no table behind; foreign keys can be switched off per connection."""
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'crm.db'}")
    try:
        with engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        with pytest.raises(RuntimeError):
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
                raise RuntimeError("the upgrade failed half-way")
        with engine.connect() as conn:
            relaxed = conn.execution_options(**{FOREIGN_KEYS_OPTION: False})
            relaxed_value = relaxed.exec_driver_sql("PRAGMA foreign_keys").scalar()
        with engine.connect() as conn:
            restored = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert ("wal", 1, 0, 1) == (journal, foreign_keys, relaxed_value, restored)
        assert [] == sa.inspect(engine).get_table_names()
        assert (tmp_path / "data" / "crm.db").is_file()
    finally:
        engine.dispose()


def test_urls_that_cannot_work_are_refused_with_the_fix():
    """A typo in the URL, or a backend Caruso does not support, is a StorageError saying what works."""
    with pytest.raises(StorageError, match="is not a database URL"):
        create_engine("sqlite:/crm.db")
    with pytest.raises(StorageError, match="backend 'oracle' is not supported; use sqlite, postgresql or mariadb"):
        create_engine("oracle://scott:tiger@db/crm")


def test_passwords_never_appear_in_displayed_urls():
    """Messages and logs show the URL with *** for the password."""
    assert "postgresql+psycopg://crm:***@db.example.com/crm" == display_url(
        "postgresql+psycopg://crm:s3cret@db.example.com/crm"
    )
