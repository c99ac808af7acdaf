"""Bulk inserts: many new objects of one kind in one executemany, checked like every save.

The unit of work builds an object, tracks its state and fetches its key for
every row; for loading thousands of rows (an import, a migration, a
benchmark) that bookkeeping costs several times the insert itself. A bulk
insert skips it but not the rules: every row passes the same validator as an
object saved through a session, before anything is written.

Nor does it skip the audit trail. For an auditable object the rows go in with
one executemany that returns their generated keys in row order (SQLAlchemy's
"insertmanyvalues" with ``sort_by_parameter_order``), then the audit entries -
the same insert entry per object as a flush writes: who (from the session or
``acting_as``), when (the model's clock), every value - with a second
executemany, in the same transaction. What a bulk insert does skip are the
per-object session events: rules-engine watchers do not see its rows.
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
    """How rows (attribute name -> value) of one business object become one executemany
    (and, for an auditable object, a second one writing their audit entries)."""

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
        # the primary key in the mapper's order, (column, attribute key); the generated
        # parts come back from the insert, the others are the rows' own values
        self.key = tuple((column, mapper.get_property_by_column(column).key) for column in mapper.primary_key)
        self.generated = tuple(column for column, key in self.key if key in generated)

    def run(self, session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` in the session's transaction; see ``BusinessModel.insert_many``."""
        prepared, violations = self.prepare(rows)
        if violations:
            raise ValidationError(violations)
        if not prepared:
            return 0
        parameters = prepared
        if self.names is not None:
            names = self.names
            parameters = [{names[k]: v for k, v in row.items()} for row in prepared]
        if self.info.audit is None:
            session.execute(sa.insert(self.table), parameters)
        else:
            keys = self.insert_returning_keys(session, prepared, parameters)
            trail = self.info.audit
            session.execute(sa.insert(trail.table), trail.inserted(session, self.cls, keys, prepared))
        return len(prepared)

    def insert_returning_keys(self, session: Session, prepared: list[dict[str, Any]],
                              parameters: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert the rows; each row's primary key, in row order, its generated parts
        also set into ``prepared`` (the values the audit entry records)."""
        generated_keys = [key for column, key in self.key if column in self.generated]
        if all(values.get(key) is not None for values in prepared for key in generated_keys):
            # no key left to the database (none generated, or the rows give them all)
            session.execute(sa.insert(self.table), parameters)
            return [tuple(values[key] for _, key in self.key) for values in prepared]
        statement = sa.insert(self.table)
        if session.get_bind(self.cls).dialect.insert_executemany_returning_sort_by_parameter_order:
            returned = session.execute(
                statement.returning(*self.generated, sort_by_parameter_order=True), parameters
            ).all()
            generated = [dict(zip(self.generated, row, strict=True)) for row in returned]
        else:  # a database without INSERT ... RETURNING (MySQL): one insert per row, still no ORM
            primary_key = tuple(self.table.primary_key.columns)
            generated = [dict(zip(primary_key, session.execute(statement, row).inserted_primary_key, strict=True))
                         for row in parameters]
        if len(generated) != len(prepared):
            raise RuntimeError(f"inserted {len(prepared)} {self.info.name} rows, got {len(generated)} keys back")
        keys = []
        for values, found in zip(prepared, generated, strict=True):
            for column, key in self.key:
                if column in found:
                    values[key] = found[column]
            keys.append(tuple(values[key] for _, key in self.key))
        return keys

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
                unknown = min(row.keys() - allowed)
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
