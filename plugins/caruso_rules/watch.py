"""Noticing changes: SQLAlchemy session events that hand committed changes to the rules engine.

Installed once on the ``Session`` class, like the bom's validation and audit
listeners, so every session that saves a business object - the bom service's,
a wrapper's, a plain ``Session(engine)`` - is seen. Each flush's changes to
watched classes are kept on the session (``session.info``); a commit hands
them to the engine of the application the class belongs to, a rollback
forgets them. Bulk inserts (``bom.insert_many``) bypass the ORM and fire no
rules, as they bypass per-object events everywhere.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = ["install", "unwatch", "watch"]

_PENDING = "caruso_rule_changes"
_installed = threading.Lock()
_engines: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


def watch(cls: type, engine: Any) -> None:
    """Hand committed changes of ``cls`` objects to ``engine`` (its ``plans`` and ``handle``)."""
    install()
    _engines[cls] = engine


def unwatch(cls: type) -> None:
    _engines.pop(cls, None)


def install() -> None:
    """Listen on every Session (idempotent)."""
    with _installed:
        if not event.contains(Session, "after_flush", _collect):
            event.listen(Session, "after_flush", _collect)
            event.listen(Session, "after_commit", _deliver)
            event.listen(Session, "after_rollback", _forget)


def _collect(session: Session, flush_context: Any) -> None:
    if not _engines:
        return
    for objects, kind in ((session.new, "created"), (session.dirty, "changed"), (session.deleted, "deleted")):
        for obj in objects:
            engine = _engines.get(type(obj))
            if engine is None:
                continue
            change = engine.plans[type(obj).__caruso__.name].change(obj, kind)
            if change is not None:
                session.info.setdefault(_PENDING, []).append((engine, change))


def _deliver(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    by_engine: dict[int, tuple[Any, list]] = {}
    for engine, change in pending:
        by_engine.setdefault(id(engine), (engine, []))[1].append(change)
    for engine, changes in by_engine.values():
        engine.handle(changes)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
