"""Bulk inserts: many new objects of one kind in one executemany, checked like every save.

The unit of work builds an object, tracks its state and fetches its key for
every row; for loading thousands of rows (an import, a migration, a
benchmark) that bookkeeping costs several times the insert itself. A bulk
insert skips it but not the rules: every row passes the same validator as an
object saved through a session, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from caruso.errors import ValidationError, Violation, did_you_mean

__all__ = ["BulkInsert"]

MAX_REPORTED_VIOLATIONS = 100


class BulkInsert:
    """How rows (attribute name -> value) of one business object become one executemany."""

    def __init__(self, cls: type):
        mapper = sa.inspect(cls)
        self.cls = cls
        self.info = cls.__caruso__
        self.table: sa.Table = mapper.local_table
        names = {prop.key: prop.columns[0].key for prop in mapper.column_attrs}
        generated = {key for key, name in names.items()
                     if self.table.c[name].primary_key and self.table.c[name].autoincrement is True}
        self.allowed = frozenset(names)
        self.blank = dict.fromkeys(names.keys() - generated)
        self.names = None if all(k == v for k, v in names.items()) else names

    def run(self, session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` in the session's transaction; see ``BusinessModel.insert_many``."""
        if self.info.audit is not None:
            objects = [self.cls(**row) for row in rows]
            session.add_all(objects)
            session.flush()
            return len(objects)
        prepared, violations = self.prepare(rows)
        if violations:
            raise ValidationError(violations)
        if prepared:
            if self.names is not None:
                names = self.names
                prepared = [{names[k]: v for k, v in row.items()} for row in prepared]
            session.execute(sa.insert(self.table), prepared)
        return len(prepared)

    def prepare(self, rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[Violation]]:
        """Rows completed with defaults (all with the same keys, as executemany needs)
        and checked; the violations found, each message ending with its row number."""
        allowed, blank, info = self.allowed, self.blank, self.info
        defaults = info.defaults
        check = info.validator.violations
        prepared: list[dict[str, Any]] = []
        violations: list[Violation] = []
        append = prepared.append
        for number, row in enumerate(rows, start=1):
            if not row.keys() <= allowed:
                unknown = sorted(row.keys() - allowed)[0]
                raise TypeError(f"row {number}: {info.name} has no attribute {unknown!r}"
                                f"{did_you_mean(unknown, allowed)}")
            values = {**blank, **row}
            for key, make in defaults:
                if key not in row:
                    values[key] = make()
            found = check(values)
            if found and len(violations) < MAX_REPORTED_VIOLATIONS:
                for violation in found:
                    violation.message = f"{violation.message} (row {number})"
                violations.extend(found)
            append(values)
        return prepared, violations
