"""A loaded business-object model: classes by name, their MetaData, bulk inserts.

``load_model`` is the whole pipeline: read the files, apply extensions, check
every name (``ModelError`` listing every problem with file:line), build the
tables and map generated classes. ``check_models`` runs the same checks
without mapping anything, for ``caruso check``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from caruso.bom import events
from caruso.bom.bulk import BulkInsert
from caruso.bom.definitions import ObjectDef
from caruso.bom.mapping import build_mapping
from caruso.bom.reader import read_models
from caruso.bom.resolve import ResolvedObject, resolve
from caruso.clock import Clock, SystemClock
from caruso.errors import ModelError, Problem, did_you_mean

__all__ = ["BusinessModel", "check_models", "load_model"]


def _resolved(paths: Iterable[Path], search_paths: Sequence[Path]) -> tuple[dict[str, ResolvedObject], list[Problem]]:
    files, problems = read_models(paths)
    resolved, found = resolve(files, search_paths=search_paths)
    return resolved, _in_file_order(problems + found)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """Problems grouped by file (in the order files were read), by line within a file."""
    order: dict[str | None, int] = {}
    for problem in problems:
        order.setdefault(problem.file, len(order))
    return sorted(problems, key=lambda p: (order[p.file], p.line or 0))


def check_models(paths: Iterable[Path], *, search_paths: Sequence[Path] = ()) -> list[Problem]:
    """Every problem in the model files under ``paths`` (empty when they map cleanly)."""
    return _resolved(paths, search_paths)[1]


def load_model(paths: Iterable[Path], *, clock: Clock | None = None,
               search_paths: Sequence[Path] = ()) -> BusinessModel:
    """Read, check and map the model files under ``paths`` (files, or folders of ``*.xml``).

    Args:
        paths: in plugin order; extensions apply in this order.
        clock: time for "now" defaults and audit entries (the system clock by default).
        search_paths: folders to import behaviour classes from.

    Raises:
        ModelError: listing every problem found, each with file:line.
    """
    resolved, problems = _resolved(paths, search_paths)
    if problems:
        raise ModelError(problems)
    return BusinessModel(resolved, clock or SystemClock())


class BusinessModel:
    """Mapped business-object classes, reachable by name: ``model.Customer``, ``model["Customer"]``.

    Query with SQLAlchemy as usual - ``session.execute(model.Customer.select(name="Ada"))``
    or ``select(model.Customer).where(...)`` - and save through any SQLAlchemy
    session: rules and the audit trail apply to every one.

    Attributes:
        metadata: the tables, with Caruso's facts in ``.info``; hand it to storage
            for schema management.
        classes: business-object classes by name (including ``AuditEntry`` when
            any object is auditable).
        definitions: the definitions the classes were built from.
    """

    def __init__(self, resolved: Mapping[str, ResolvedObject], clock: Clock):
        events.install()
        mapped = build_mapping(resolved, clock)
        self.clock = clock
        self.metadata: sa.MetaData = mapped.metadata
        self.registry = mapped.registry
        self.classes: Mapping[str, type] = MappingProxyType(mapped.classes)
        self.definitions: Mapping[str, ObjectDef] = MappingProxyType(
            {name: r.definition for name, r in resolved.items()}
        )
        self._bulk: dict[type, BulkInsert] = {}

    def __getitem__(self, name: str) -> type:
        try:
            return self.classes[name]
        except KeyError:
            raise KeyError(f"no business object {name!r}{did_you_mean(name, self.classes)}") from None

    def __getattr__(self, name: str) -> type:
        if name.startswith("_") or "classes" not in self.__dict__:
            raise AttributeError(name)
        try:
            return self.classes[name]
        except KeyError:
            raise AttributeError(f"no business object {name!r}{did_you_mean(name, self.classes)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def class_of(self, name_or_class: str | type) -> type:
        """The class for a name, or the class itself when it belongs to this model."""
        if isinstance(name_or_class, str):
            return self[name_or_class]
        if self.classes.get(getattr(name_or_class, "__name__", None)) is not name_or_class:
            raise TypeError(f"{name_or_class!r} is not a business object of this model")
        return name_or_class

    def insert_many(self, session: Session, name_or_class: str | type, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert many new objects of one kind from mappings, checked by the same rules as
        every save, in one executemany: the way to load thousands of objects.

        Rows are keyed by attribute name (foreign keys by their key, e.g.
        ``customer_id``); left-out attributes take their model default. An
        auditable object gets its audit entries in a second executemany of the
        same transaction, as complete as a unit-of-work insert writes them.

        Returns:
            The number of objects inserted.

        Raises:
            ValidationError: naming object, attribute and value (and the row
                number) of every refused value; nothing is inserted.
            TypeError: a row names an attribute the object does not have.
        """
        cls = self.class_of(name_or_class)
        bulk = self._bulk.get(cls)
        if bulk is None:
            bulk = self._bulk[cls] = BulkInsert(cls)
        return bulk.run(session, rows)

    def dispose(self) -> None:
        """Unmap the classes (for tests and reloading); the objects stop working."""
        self.registry.dispose()
