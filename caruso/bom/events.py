"""The session events that make rules and the audit trail hold on every save.

The listeners are installed once, on SQLAlchemy's ``Session`` class, so they
apply to any session that saves a business object - the bom service's, the
storage manager's unit of work or a plain ``Session(engine)`` in a script:
there is no way to save past the rules by choosing another session. Objects
that are not business objects are left alone.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from caruso.bom.audit import record_changes
from caruso.errors import ValidationError, Violation

__all__ = ["install", "validate_flush"]

_installed = threading.Lock()


def install() -> None:
    """Listen on every Session (idempotent)."""
    with _installed:
        if not event.contains(Session, "before_flush", validate_flush):
            event.listen(Session, "before_flush", validate_flush)
            event.listen(Session, "after_flush", record_changes)


def validate_flush(session: Session, flush_context: Any, instances: Any) -> None:
    """``before_flush`` listener: refuse the whole flush when any value breaks a rule.

    Raised before any SQL is sent, so nothing of the flush reaches the database.
    """
    violations: list[Violation] = []
    for obj in session.new:
        info = getattr(type(obj), "__caruso__", None)
        if info is not None:
            violations.extend(info.validator.violations(obj.__dict__))
    for obj in session.dirty:
        info = getattr(type(obj), "__caruso__", None)
        if info is not None and session.is_modified(obj):
            violations.extend(info.validator.violations(_changes(obj, info.validator.keys), only_present=True))
    if violations:
        raise ValidationError(violations)


def _changes(obj: object, keys: tuple[str, ...]) -> dict[str, object]:
    """The new values of the checked attributes that changed since the object was loaded."""
    attrs = sa.inspect(obj).attrs
    changed = {}
    for key in keys:
        history = attrs[key].history
        if history.added:
            changed[key] = history.added[0]
        elif history.deleted:
            changed[key] = None
    return changed
