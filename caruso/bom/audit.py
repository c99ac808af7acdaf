"""The audit trail: who changed which attribute of which object, when, from what to what.

Objects marked ``auditable="yes"`` get an entry per changed attribute on every
update, and one entry holding all values when created or deleted. Entries are
written in the same transaction as the change (a rolled-back change leaves no
entry, a committed one always has its entry), into the table
``caruso_audit``, mapped as the business object ``AuditEntry``.

Who made the change comes from the session (``bom.session(user="agent-7")``
stores it in ``session.info``) or, for code that does not open the session
itself, from the context variable set by ``acting_as("agent-7")``. When is the
model's injected clock, so simulations and tests see their own time.

A bulk insert (``BusinessModel.insert_many``) of an auditable object writes
the same insert entry per object without the unit of work: ``inserted``
builds them from the rows and their generated keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from caruso.bom.values import to_text
from caruso.clock import Clock
from caruso.storage.metadata import ATTRIBUTE_KEY, OBJECT_KEY
from caruso.storage.types import Enumeration, UTCDateTime

__all__ = ["AUDIT_TABLE", "USER_KEY", "AuditEntry", "AuditTrail", "acting_as", "current_user"]

AUDIT_TABLE = "caruso_audit"
USER_KEY = "caruso_user"
"""``session.info`` key naming who works through the session."""

UNKNOWN_USER = "unknown"
ACTIONS = ("insert", "update", "delete")

current_user: ContextVar[str | None] = ContextVar("caruso_current_user", default=None)
"""Who is acting in this context (a request, a task), when no session says so."""


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Record changes made inside the block as made by ``user``."""
    token = current_user.set(user)
    try:
        yield
    finally:
        current_user.reset(token)


class AuditEntry:
    """One recorded change. Attributes: ``object`` (the object's name), ``object_key``,
    ``action`` (insert, update, delete), ``attribute`` (None for insert and delete),
    ``old_value`` and ``new_value`` as text (a JSON object of every value for insert
    and delete), ``who``, ``at`` (UTC)."""

    def __repr__(self) -> str:
        return (f"AuditEntry({self.object}[{self.object_key}] {self.action} {self.attribute or ''}"
                f" {self.old_value!r}->{self.new_value!r} by {self.who} at {self.at})")


def audit_table(metadata: sa.MetaData) -> sa.Table:
    """The ``caruso_audit`` table, in ``metadata``."""

    def column(name: str, type_: Any, **kwargs: Any) -> sa.Column:
        return sa.Column(name, type_, info={ATTRIBUTE_KEY: name}, **kwargs)

    return sa.Table(
        AUDIT_TABLE,
        metadata,
        column("id", sa.Integer, primary_key=True),
        column("object", sa.String(100), nullable=False),
        column("object_key", sa.String(255), nullable=False),
        column("action", Enumeration(ACTIONS), nullable=False),
        column("attribute", sa.String(100)),
        column("old_value", sa.Text),
        column("new_value", sa.Text),
        column("who", sa.String(255), nullable=False),
        column("at", UTCDateTime(), nullable=False),
        sa.Index(None, "object", "object_key"),
        info={OBJECT_KEY: "AuditEntry"},
    )


class AuditTrail:
    """Turns a flush's changes to auditable objects into rows of the audit table."""

    def __init__(self, table: sa.Table, clock: Clock):
        self.table = table
        self.clock = clock

    def _base(self, session: Session, name: str, key: str, action: str) -> dict[str, Any]:
        """What every entry of one object's change holds: object, key, action, who and when."""
        return {
            "object": name,
            "object_key": key,
            "action": action,
            "who": session.info.get(USER_KEY) or current_user.get() or UNKNOWN_USER,
            "at": self.clock.now(),
            "attribute": None,
            "old_value": None,
            "new_value": None,
        }

    def entries(self, session: Session, obj: object, action: str) -> list[dict[str, Any]]:
        """The audit rows for one object's change in the flush that is ending."""
        state = sa.inspect(obj)
        mapper = state.mapper
        base = self._base(session, type(obj).__caruso__.name, _key_text(obj), action)
        if action != "update":
            values = _values_text(state.dict, [p.key for p in mapper.column_attrs])
            return [{**base, ("new_value" if action == "insert" else "old_value"): values}]
        rows = []
        references = _references(mapper)
        foreign_keys = {key for keys in references.values() for key in keys}
        for prop in mapper.column_attrs:
            if prop.key not in foreign_keys:
                rows.extend(_change(base, prop.key, state.attrs[prop.key].history))
        for name, keys in references.items():
            # set as an object (customer=ada) or as its key (customer_id=1): one entry, by reference name
            found = _change(base, name, state.attrs[name].history)
            if not found and len(keys) == 1:
                found = _change(base, name, state.attrs[keys[0]].history)
            rows.extend(found)
        return rows

    def inserted(self, session: Session, cls: type, keys: Iterable[Sequence[Any]],
                 rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The audit rows for objects of ``cls`` inserted without the unit of work, the
        same as ``entries(session, obj, "insert")`` gives for each object flushed.

        Args:
            keys: each object's primary key, in the mapper's key order.
            rows: each object's values by attribute key, as inserted (generated
                keys included), in the order of ``keys``.

        One ``who`` and one ``at`` (the clock read once) for the whole batch.
        """
        mapper = sa.inspect(cls)
        attributes = [p.key for p in mapper.column_attrs]
        base = self._base(session, cls.__caruso__.name, "", "insert")
        return [{**base, "object_key": _key_parts_text(key),
                 "new_value": _values_text(values, attributes)}
                for key, values in zip(keys, rows, strict=True)]


_VALUES_ENCODER = json.JSONEncoder(sort_keys=True)
"""What ``json.dumps(..., sort_keys=True)`` uses, made once: a bulk insert encodes a value set per row."""


def _values_text(values: Mapping[str, Any], attributes: Iterable[str]) -> str:
    """Every value of an object as the JSON text of an insert or delete entry."""
    return _VALUES_ENCODER.encode({key: to_text(values.get(key)) for key in attributes})


def record_changes(session: Session, flush_context: Any) -> None:
    """``after_flush`` listener: write audit rows for every auditable object just flushed."""
    rows: dict[sa.Table, list[dict[str, Any]]] = {}
    for objects, action in ((session.new, "insert"), (session.dirty, "update"), (session.deleted, "delete")):
        for obj in objects:
            info = getattr(type(obj), "__caruso__", None)
            if info is None or info.audit is None:
                continue
            if action == "update" and not session.is_modified(obj):
                continue
            rows.setdefault(info.audit.table, []).extend(info.audit.entries(session, obj, action))
    for table, entries in rows.items():
        if entries:
            session.execute(sa.insert(table), entries)


def _references(mapper: sa.orm.Mapper) -> dict[str, list[str]]:
    """Reference name -> the attribute keys of its foreign key."""
    return {
        r.key: [mapper.get_property_by_column(c).key for c in r.local_columns]
        for r in mapper.relationships if r.direction is sa.orm.interfaces.MANYTOONE
    }


def _change(base: dict[str, Any], attribute: str, history: Any) -> list[dict[str, Any]]:
    """An entry for one attribute's change, or none when the value did not really change."""
    if not history.has_changes():
        return []
    old = _as_text(history.deleted[0]) if history.deleted else None
    new = _as_text(history.added[0]) if history.added else None
    if old == new:
        return []
    return [{**base, "attribute": attribute, "old_value": old, "new_value": new}]


def _key_text(obj: object) -> str:
    return _key_parts_text(sa.inspect(type(obj)).primary_key_from_instance(obj))


def _key_parts_text(key: Sequence[Any]) -> str:
    """A primary key as the text of ``object_key``: its parts joined by ``/``."""
    return "/".join(to_text(part) or "" for part in key)


def _as_text(value: object) -> str | None:
    if hasattr(value, "__caruso__"):
        return _key_text(value)
    return to_text(value)
