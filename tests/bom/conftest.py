"""Fixtures for the modeler's tests: model files on disk, and models mapped onto real databases."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from caruso.bom.model import BusinessModel, load_model
from caruso.clock import ManualClock
from caruso.storage.manager import Storage


def model_xml(body: str) -> str:
    """A model file's text around ``body`` (objects and extensions)."""
    return "<model>\n" + textwrap.dedent(body).strip("\n") + "\n</model>\n"


@pytest.fixture
def write_model(tmp_path) -> Callable[..., Path]:
    """Write a model file (``name``, the XML inside <model>) into tmp_path/models and return its path."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)

    def write(body: str, name: str = "crm.xml", *, raw: bool = False) -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(body) if raw else model_xml(body), encoding="utf-8")
        return path

    return write


class MappedDatabase:
    """A model mapped onto a real database through the storage manager, schema created."""

    def __init__(self, model: BusinessModel, storage: Storage, clock: ManualClock):
        self.model = model
        self.storage = storage
        self.clock = clock

    def session(self, **info):
        session = self.storage.session()
        session.info.update(info)
        return session

    def count(self, name: str) -> int:
        import sqlalchemy as sa

        with self.storage.session() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(self.model[name]))


@pytest.fixture
def mapped(database_url, write_model) -> Iterator[Callable[..., MappedDatabase]]:
    """Map model text onto the fresh database of ``database_url`` (every backend) and create its tables."""
    created: list[MappedDatabase] = []

    def build(body: str, *, legacy_sql: tuple[str, ...] = ()) -> MappedDatabase:
        path = write_model(body, name=f"model{len(created)}.xml")
        clock = ManualClock()
        model = load_model([path], clock=clock)
        storage = Storage(database_url)
        if legacy_sql:
            with storage.transaction() as connection:
                for statement in legacy_sql:
                    connection.exec_driver_sql(statement)
        storage.register(model.metadata)
        storage.upgrade()
        result = MappedDatabase(model, storage, clock)
        created.append(result)
        return result

    yield build
    for result in created:
        result.model.dispose()
        result.storage.close()
