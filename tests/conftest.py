"""Shared fixtures: real servers, found or refused clearly.

Tests that need PostgreSQL, MariaDB or Chromium skip with the reason on a
laptop without them, and fail in CI, where ``CARUSO_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_HOST = os.environ.get("CARUSO_TEST_POSTGRES", "127.0.0.1:5432")
MARIADB_HOST = os.environ.get("CARUSO_TEST_MARIADB", "127.0.0.1:3306")


def services_required() -> bool:
    """True in CI: a missing server is then a failure, not a skip."""
    return os.environ.get("CARUSO_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def _reachable(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, hostport: str) -> None:
    """Skip (or fail, in CI) unless the server answers on hostport."""
    if _reachable(hostport):
        return
    message = f"{name} is not reachable on {hostport}"
    if services_required():
        pytest.fail(message + " and CARUSO_REQUIRE_SERVICES is set", pytrace=False)
    pytest.skip(message)


def _postgres_database() -> Iterator[str]:
    import sqlalchemy as sa

    need_server("PostgreSQL", POSTGRES_HOST)
    admin = sa.create_engine(
        f"postgresql+psycopg://postgres@{POSTGRES_HOST}/test", isolation_level="AUTOCOMMIT"
    )
    name = "caruso_t_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{POSTGRES_HOST}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _mariadb_database() -> Iterator[str]:
    import sqlalchemy as sa

    need_server("MariaDB", MARIADB_HOST)
    admin = sa.create_engine(f"mysql+pymysql://root@{MARIADB_HOST}/test")
    name = "caruso_t_" + uuid.uuid4().hex[:12]
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@{MARIADB_HOST}/{name}?charset=utf8mb4"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A URL to a fresh, empty database on each backend Caruso supports, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caruso.db'}"
    elif request.param == "postgresql":
        yield from _postgres_database()
    else:
        yield from _mariadb_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (for tests that need a second, different backend)."""
    yield from _postgres_database()
