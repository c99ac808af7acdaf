"""The ``storage`` service inside a real application, and the ``caruso db`` commands on it."""

from __future__ import annotations

import re

import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from caruso.app import Application
from caruso.errors import ServiceStartError
from caruso.storage.service import StorageService
from caruso.testing import ServiceContract, make_app, run_cli

# A component that registers its tables with storage when it starts, as the bom service does.
MODELS_PLUGIN = '''
import sqlalchemy as sa
from caruso.hookspecs import hookimpl
from caruso.services.base import Service, ServiceDefinition
from caruso.storage.metadata import OBJECT_KEY, new_metadata


class Models(Service):
    requires = ("storage",)

    def on_start(self):
        self.metadata = new_metadata()
        sa.Table("customer", self.metadata, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50)), info={OBJECT_KEY: "Customer"})
        self.context.manager.get("storage").register(self.metadata)

    def on_stop(self):
        self.context.manager.get("storage").unregister(self.metadata)


@hookimpl
def register_services(app):
    return [ServiceDefinition("models", Models)]
'''

@pytest.fixture(autouse=True)
def _fresh_plugin_modules():
    """Each test's application imports its own copy of the folder plugins."""
    sys.modules.pop("storage_test_models", None)
    yield
    sys.modules.pop("storage_test_models", None)


def _crm_app(folder: Path, extra: str = "") -> Application:
    """Write and load an application whose models register one table, ``customer``."""
    return make_app(
        folder,
        '[application]\nname = "crm"\n[storage]\nurl = "sqlite:///data/crm.db"\n'
        '[plugins]\nfolders = ["plugins"]\n' + textwrap.dedent(extra),
        {"plugins/storage_test_models.py": MODELS_PLUGIN},
    )


def test_the_service_opens_the_descriptors_database_relative_to_the_app(tmp_path):
    """[storage] url names a SQLite file in the application folder; the service opens it on
    start, reports healthy, and is down again after stop."""
    app = _crm_app(tmp_path / "crm")
    with app:
        storage = app.services.get("storage")
        storage.upgrade()
        with storage.transaction() as conn:
            conn.exec_driver_sql("INSERT INTO customer (id, name) VALUES (1, 'Ada')")
        health = storage.health()
        url = storage.url
    service = app.services.resolve("storage")
    assert (True, f"sqlite:///{tmp_path / 'crm' / 'data' / 'crm.db'}") == (health.ok, url)
    assert (tmp_path / "crm" / "data" / "crm.db").is_file()
    assert "down" == service.health().status


def test_a_url_in_the_service_settings_is_refused_inside_an_application(tmp_path):
    """The database is set in [storage] url, one place only: a second URL fails the start."""
    app = _crm_app(tmp_path / "crm", '[services.storage.settings]\nurl = "sqlite:///other.db"\n')
    with pytest.raises(ServiceStartError, match="set the database in \\[storage\\] url instead"):
        app.start()


def test_db_status_upgrade_and_transfer_on_an_application(tmp_path):
    """status lists the missing table, upgrade creates it, status is then clean, and
    transfer copies the rows into another database and verifies them."""
    folder = _crm_app(tmp_path / "crm").root
    before = run_cli("db", "status", str(folder))
    upgraded = run_cli("db", "upgrade", str(folder))
    after = run_cli("db", "status", str(folder))
    with sa.create_engine(f"sqlite:///{folder / 'data' / 'crm.db'}").begin() as conn:
        conn.exec_driver_sql("INSERT INTO customer (id, name) VALUES (1, 'Ada'), (2, 'Bob')")
    copy_url = f"sqlite:///{tmp_path / 'copy.db'}"
    moved = run_cli("db", "transfer", str(folder), "--to", copy_url, "--batch-size", "1")
    assert (0, 0, 0, 0) == (before.exit_code, upgraded.exit_code, after.exit_code, moved.exit_code)
    assert "+ add table customer\nchanges: 1 additive (run `caruso db upgrade`)" in before.output
    assert "+ add table customer\napplied 1 change(s)" in upgraded.output
    assert "the database matches the models" in after.output
    assert re.search(r"\ncustomer +2 +2 +0 ", moved.output)
    assert f"2 rows copied from sqlite:///{folder / 'data' / 'crm.db'} to {copy_url}" in moved.output
    with sa.create_engine(copy_url).connect() as conn:
        assert [(1, "Ada"), (2, "Bob")] == [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM customer")]


class TestStorageServiceContract(ServiceContract):
    """StorageService passes the service compliance suite (outside an application it opens
    ``caruso.db`` in the manager's root folder)."""

    def make_service(self):
        return StorageService()
