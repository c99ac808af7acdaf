"""Database errors in business terms: "Customer.email must be unique", not "23505".

Each backend reports a refused write in its own words: PostgreSQL names the
constraint in structured fields, MariaDB in its message text, SQLite lists
``table.column`` for unique and not-null rules and says nothing at all about
which foreign key failed. The translator reads each dialect's report, finds
the table and constraint in the registered MetaData (constraint names are
deterministic, see ``caruso.storage.metadata.NAMING_CONVENTION``) and raises
``IntegrityViolation`` naming the business object and attribute. For
SQLite's anonymous foreign-key failures it asks the database which referenced
row is missing, on the same connection, before the transaction is rolled back.

A connection lost mid-transaction, or a server that cannot be reached,
becomes ``DatabaseUnavailable``; the transaction is rolled back by the caller
(``Storage.unit_of_work`` does it), so nothing of it is written.

The translator is an engine ``handle_error`` listener, so Core statements, ORM
flushes and schema changes all get the same errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Engine

from caruso.errors import DatabaseUnavailable, IntegrityViolation
from caruso.storage.engine import display_url
from caruso.storage.metadata import attribute_name, object_name

__all__ = ["ErrorTranslator", "Refusal"]

UNIQUE, FOREIGN_KEY, NOT_NULL, CHECK = "unique", "foreign_key", "not_null", "check"

_STATEMENT_TABLE = re.compile(
    r"^\s*(?P<verb>INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM)\s+"
    r"(?:[`\"\[]?\w+[`\"\]]?\.)?[`\"\[]?(?P<table>\w+)",
    re.IGNORECASE,
)
_PG_KEY = re.compile(r"Key \((?P<columns>.*?)\)=\((?P<values>.*)\)")
# Constraint names longer than a backend allows are shortened on creation; these
# dialects render the shortened form so a reported name still matches.
_SHORTENING_DIALECTS = (postgresql.dialect(), mysql.dialect(is_mariadb=True))

_MARIADB_FK = re.compile(
    r"\(`[^`]*`\.`(?P<table>[^`]+)`, CONSTRAINT `(?P<constraint>[^`]+)` FOREIGN KEY \((?P<columns>[^)]*)\)"
    r" REFERENCES `(?P<referred>[^`]+)`"
)


@attrs.define
class Refusal:
    """What the database refused, as far as its report tells; names, not yet objects."""

    kind: str
    table: str | None = None
    columns: tuple[str, ...] = ()
    constraint: str | None = None
    values: tuple = ()
    referencing_table: str | None = None  # a delete or key change hit a row still referenced


class ErrorTranslator:
    """Turns a backend's integrity and connection errors into Caruso errors.

    Args:
        url: the database URL, shown (without password) in messages.
        find_table: looks a table up by name in the registered MetaData; None if unknown.
    """

    def __init__(self, url: str, find_table: Callable[[str], sa.Table | None]):
        self.url = display_url(url)
        self.find_table = find_table

    def install(self, engine: Engine) -> None:
        event.listen(engine, "handle_error", self.handle_error)

    def handle_error(self, context) -> Exception | None:
        """``handle_error`` listener: return the Caruso error to raise, or None to leave it."""
        if context.is_pre_ping:
            return None
        original = context.original_exception
        if context.is_disconnect or (
            context.connection is None and isinstance(context.sqlalchemy_exception, sa.exc.OperationalError)
        ):
            return self.unavailable(
                original, connected=context.connection is not None, committing=context.statement is None
            )
        if isinstance(context.sqlalchemy_exception, sa.exc.IntegrityError):
            refusal = self.read_refusal(context)
            if refusal is not None:
                return self.violation(refusal)
        return None

    def unavailable(self, original: BaseException, *, connected: bool, committing: bool = False) -> DatabaseUnavailable:
        detail = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
        if connected and committing:
            return DatabaseUnavailable(
                f"the connection to the database {self.url} was lost while committing ({detail});"
                " the transaction may or may not have been written - check before retrying"
            )
        if connected:
            return DatabaseUnavailable(
                f"the database {self.url} went away during the operation ({detail}); the"
                " transaction was rolled back and nothing of it was written - retry once"
                " the server is back"
            )
        return DatabaseUnavailable(
            f"cannot connect to the database {self.url} ({detail}); check that the server"
            " runs and that the storage URL in caruso.toml is right"
        )

    # -- reading each backend's report -------------------------------------------------

    def read_refusal(self, context) -> Refusal | None:
        dialect = context.dialect.name
        if dialect == "postgresql":
            refusal = _postgres_refusal(context.original_exception)
        elif dialect in ("mysql", "mariadb"):
            refusal = _mariadb_refusal(context.original_exception)
        elif dialect == "sqlite":
            refusal = _sqlite_refusal(context.original_exception)
        else:
            return None
        if refusal is None:
            return None
        if refusal.table is None:
            refusal.table = _statement_table(context.statement)
        if dialect == "sqlite" and refusal.kind == FOREIGN_KEY:
            self._locate_sqlite_foreign_key(refusal, context)
        table = self.find_table(refusal.table or "")
        if refusal.columns == ("PRIMARY",) and table is not None:  # MariaDB's name for the key
            refusal.columns = tuple(c.name for c in table.primary_key.columns)
        if not refusal.columns and not refusal.referencing_table:
            refusal.columns = _constraint_columns(table, refusal.constraint)
        if refusal.columns:
            # The caller's own values read better than the database's text ('1' for 1).
            sent = _sent_values(context, table, refusal.columns)
            refusal.values = sent or refusal.values
        return refusal

    def _locate_sqlite_foreign_key(self, refusal: Refusal, context) -> None:
        """SQLite says only "FOREIGN KEY constraint failed": ask which row is missing."""
        table = self.find_table(refusal.table or "")
        verb = _statement_verb(context.statement)
        if table is None or verb is None:
            return
        rows = _named_parameters(context)
        cursor = context.connection.connection.dbapi_connection.cursor()
        try:
            if verb in ("INSERT", "UPDATE"):
                for fk in table.foreign_key_constraints:
                    missing = _missing_parent(cursor, fk, rows)
                    if missing is not None:
                        refusal.columns = tuple(c.name for c in fk.columns)
                        refusal.constraint = fk.name
                        refusal.values = missing
                        return
            if verb in ("DELETE", "UPDATE"):
                for fk in _foreign_keys_referring_to(table, self._known_tables(table)):
                    if _still_referenced(cursor, fk, rows):
                        refusal.referencing_table = fk.table.name
                        refusal.columns = tuple(c.name for c in fk.columns)
                        refusal.constraint = fk.name
                        return
        except Exception:  # the probe is a courtesy; the refusal stands without it
            return
        finally:
            cursor.close()

    def _known_tables(self, table: sa.Table) -> Iterable[sa.Table]:
        return table.metadata.tables.values()

    # -- building the message ----------------------------------------------------------

    def violation(self, refusal: Refusal) -> IntegrityViolation:
        if refusal.referencing_table:
            return self._still_referenced_violation(refusal)
        table = self.find_table(refusal.table or "")
        obj = (object_name(table) if table is not None else None) or refusal.table or "a row"
        columns = refusal.columns
        attributes = tuple(_attribute(table, c) for c in columns)
        where = f"table {refusal.table}" + (f", constraint {refusal.constraint}" if refusal.constraint else "")
        shown = _show_values(refusal.values)
        if refusal.kind == UNIQUE and _is_primary_key(table, columns):
            key = ", ".join(f"{a} {v!r}" for a, v in zip(attributes, refusal.values, strict=False))
            message = f"a {obj} with {key or 'that key'} already exists ({where})"
        elif refusal.kind == UNIQUE:
            if len(attributes) == 1:
                what = f"{obj}.{attributes[0]} must be unique"
            elif attributes:
                what = f"{obj} ({', '.join(attributes)}) must be unique together"
            else:
                what = f"{obj}: a unique rule"
            message = f"{what}: {shown + ' is' if shown else 'the value is'} already taken ({where})"
        elif refusal.kind == FOREIGN_KEY:
            referred = _referred_object(table, columns)
            target = attributes[0] if len(attributes) == 1 else "(" + ", ".join(attributes) + ")"
            value = f" ({shown})" if shown else ""
            message = f"{obj}.{target} refers to {referred} that does not exist{value} ({where})"
        elif refusal.kind == NOT_NULL:
            message = (
                f"{obj}.{attributes[0] if attributes else '?'} is required but has no value ({where})"
            )
        else:
            message = f"{obj} breaks the database rule {refusal.constraint or '(unnamed check)'} ({where})"
        return IntegrityViolation(
            f"{message}; nothing was written",
            kind=refusal.kind,
            table=refusal.table,
            object_name=obj if table is not None and object_name(table) else None,
            attributes=attributes,
            constraint=refusal.constraint,
            values=refusal.values,
        )

    def _still_referenced_violation(self, refusal: Refusal) -> IntegrityViolation:
        parent = self.find_table(refusal.table or "")
        child = self.find_table(refusal.referencing_table or "")
        parent_name = (object_name(parent) if parent is not None else None) or refusal.table
        child_name = (object_name(child) if child is not None else None) or refusal.referencing_table
        columns = refusal.columns or _constraint_columns(child, refusal.constraint)
        attributes = tuple(_attribute(child, c) for c in columns)
        via = f"{child_name}.{attributes[0]}" if len(attributes) == 1 else str(child_name)
        where = f"table {refusal.referencing_table}" + (
            f", constraint {refusal.constraint}" if refusal.constraint else ""
        )
        return IntegrityViolation(
            f"{parent_name} cannot be deleted or change its key: {via} still refers to it"
            f" ({where}); delete or re-point those first; nothing was written",
            kind=FOREIGN_KEY,
            table=refusal.table,
            object_name=object_name(parent) if parent is not None else None,
            attributes=attributes,
            constraint=refusal.constraint,
            values=refusal.values,
        )


# -- per-backend parsing ---------------------------------------------------------------


def _postgres_refusal(error: BaseException) -> Refusal | None:
    kinds = {"23505": UNIQUE, "23503": FOREIGN_KEY, "23502": NOT_NULL, "23514": CHECK}
    kind = kinds.get(getattr(error, "sqlstate", None) or "")
    diag = getattr(error, "diag", None)
    if kind is None or diag is None:
        return None
    refusal = Refusal(kind=kind, table=diag.table_name, constraint=diag.constraint_name)
    detail = diag.message_detail or ""
    match = _PG_KEY.search(detail)
    if match:
        refusal.columns = tuple(c.strip().strip('"') for c in match["columns"].split(","))
        refusal.values = (match["values"],)  # one string, even for several columns
    if kind == NOT_NULL and diag.column_name:
        refusal.columns = (diag.column_name,)
    if kind == FOREIGN_KEY and "is still referenced from table" in detail:
        # A delete or key update of the parent: diag names the referencing table.
        referencing = re.search(r'referenced from table "([^"]+)"', detail)
        refusal.referencing_table = referencing.group(1) if referencing else diag.table_name
        refusal.table = None  # the parent; taken from the statement
        refusal.columns = ()
    return refusal


def _mariadb_refusal(error: BaseException) -> Refusal | None:
    args = getattr(error, "args", ())
    if len(args) < 2:
        return None
    code, message = args[0], str(args[1])
    if code == 1062:
        match = re.search(r"Duplicate entry '(?P<value>.*)' for key '(?P<key>[^']+)'", message)
        if not match:
            return Refusal(kind=UNIQUE)
        key = match["key"].rsplit(".", 1)[-1]  # MySQL 8 writes table.key
        return Refusal(kind=UNIQUE, constraint=None if key == "PRIMARY" else key,
                       values=(match["value"],), columns=("PRIMARY",) if key == "PRIMARY" else ())
    if code in (1451, 1452):
        match = _MARIADB_FK.search(message)
        if not match:
            return Refusal(kind=FOREIGN_KEY)
        columns = tuple(c.strip().strip("`") for c in match["columns"].split(","))
        if code == 1452:
            return Refusal(kind=FOREIGN_KEY, table=match["table"], columns=columns,
                           constraint=match["constraint"])
        return Refusal(kind=FOREIGN_KEY, referencing_table=match["table"], columns=columns,
                       constraint=match["constraint"])
    if code in (1048, 1364):
        match = re.search(r"(?:Column|Field) '([^']+)'", message)
        return Refusal(kind=NOT_NULL, columns=(match.group(1),) if match else ())
    if code == 4025:
        match = re.search(r"CONSTRAINT `([^`]+)` failed for `[^`]*`\.`([^`]+)`", message)
        return Refusal(kind=CHECK, constraint=match.group(1) if match else None,
                       table=match.group(2) if match else None)
    return None


def _sqlite_refusal(error: BaseException) -> Refusal | None:
    message = str(error)
    for prefix, kind in (("UNIQUE constraint failed: ", UNIQUE), ("NOT NULL constraint failed: ", NOT_NULL)):
        if message.startswith(prefix):
            qualified = [c.strip() for c in message[len(prefix):].split(",")]
            table = qualified[0].rsplit(".", 1)[0] if "." in qualified[0] else None
            return Refusal(kind=kind, table=table, columns=tuple(c.rsplit(".", 1)[-1] for c in qualified))
    if message.startswith("FOREIGN KEY constraint failed"):
        return Refusal(kind=FOREIGN_KEY)
    if message.startswith("CHECK constraint failed"):
        return Refusal(kind=CHECK, constraint=message.partition(": ")[2] or None)
    return None


# -- helpers ---------------------------------------------------------------------------


def _statement_table(statement: str | None) -> str | None:
    match = _STATEMENT_TABLE.match(statement or "")
    return match["table"] if match else None


def _statement_verb(statement: str | None) -> str | None:
    match = _STATEMENT_TABLE.match(statement or "")
    return match["verb"].split()[0].upper() if match else None


def _named_parameters(context) -> list[dict[str, Any]]:
    """The statement's parameters as database values keyed by bind name, one dict per row."""
    params = context.parameters
    if params is None:
        return []
    rows = params if isinstance(params, list | tuple) and params and isinstance(params[0], list | tuple | dict) else [params]
    compiled = getattr(context.execution_context, "compiled", None)
    positions = getattr(compiled, "positiontup", None) or []
    named = []
    for row in rows:
        if isinstance(row, dict):
            named.append(dict(row))
        elif positions and len(positions) == len(row):
            named.append(dict(zip(positions, row, strict=True)))
    return named


def _row_value(row: dict[str, Any], column: sa.Column) -> Any:
    for key in (column.key, column.name, f"{column.table.name}_{column.name}", f"{column.key}_1"):
        if key in row:
            return row[key]
    return None


def _probe(cursor, rows: list[dict[str, Any]], sent: list[sa.Column], looked_up: list[sa.Column]):
    """For each row: the values it sent for the ``sent`` columns, and whether the table of
    ``looked_up`` has a row with those values there. Rows with a NULL in the key are skipped."""
    where = " AND ".join(f'"{column.name}" = ?' for column in looked_up)
    sql = f'SELECT 1 FROM "{looked_up[0].table.name}" WHERE {where} LIMIT 1'
    for row in rows:
        values = tuple(_row_value(row, column) for column in sent)
        if all(v is not None for v in values):
            yield values, cursor.execute(sql, values).fetchone() is not None


def _missing_parent(cursor, fk: sa.ForeignKeyConstraint, rows: list[dict[str, Any]]) -> tuple | None:
    """The first key in ``rows`` that ``fk``'s referred table lacks, or None."""
    local = [element.parent for element in fk.elements]
    referred = [element.column for element in fk.elements]
    return next((values for values, found in _probe(cursor, rows, local, referred) if not found), None)


def _foreign_keys_referring_to(table: sa.Table, tables: Iterable[sa.Table]) -> list[sa.ForeignKeyConstraint]:
    return [
        fk for other in tables for fk in other.foreign_key_constraints if fk.referred_table is table
    ]


def _still_referenced(cursor, fk: sa.ForeignKeyConstraint, rows: list[dict[str, Any]]) -> bool:
    """True when a row of ``fk``'s table still refers to a key the statement deletes or changes."""
    if not rows:
        return True  # nothing to probe with: the first candidate is a fair guess
    local = [element.parent for element in fk.elements]
    referred = [element.column for element in fk.elements]
    return any(found for _, found in _probe(cursor, rows, referred, local))


def _sent_values(context, table: sa.Table | None, columns: tuple[str, ...]) -> tuple:
    """The Python values a single-row statement sent for ``columns`` (database names), or ()."""
    rows = getattr(context.execution_context, "compiled_parameters", None) or []
    if len(rows) != 1 or table is None:
        return ()
    by_name = {c.name.lower(): c for c in table.columns}
    found = [by_name.get(name.lower()) for name in columns]
    if any(column is None for column in found):
        return ()
    values = tuple(_row_value(rows[0], column) for column in found)
    return values if all(v is not None for v in values) else ()


def _is_primary_key(table: sa.Table | None, columns: tuple[str, ...]) -> bool:
    if table is None or not columns:
        return False
    return {c.lower() for c in columns} == {c.name.lower() for c in table.primary_key.columns}


def _attribute(table: sa.Table | None, column_name: str) -> str:
    if table is None:
        return column_name
    for column in table.columns:  # by database name: a column's key may differ
        if column.name.lower() == column_name.lower():
            return attribute_name(column)
    return column_name


def _constraint_columns(table: sa.Table | None, constraint: str | None) -> tuple[str, ...]:
    """The columns of the named constraint or index of ``table`` (names may be truncated)."""
    if table is None or not constraint:
        return ()
    if constraint.startswith("pk_") or constraint == "PRIMARY" or constraint.endswith("_pkey"):
        return tuple(c.name for c in table.primary_key.columns)
    for item in [*table.constraints, *table.indexes]:
        if _same_name(item, constraint):
            return tuple(c.name for c in item.columns)
    return ()


def _same_name(item: sa.Constraint | sa.Index, name: str) -> bool:
    if item.name is None:
        return False
    if str(item.name).lower() == name.lower():
        return True
    # Long names are shortened per backend with a hash suffix: compare the rendered form.
    for dialect in _SHORTENING_DIALECTS:
        try:
            rendered = dialect.identifier_preparer.format_constraint(item, _alembic_quote=False)
        except Exception:
            continue
        if rendered and rendered.lower() == name.lower():
            return True
    return False


def _referred_object(table: sa.Table | None, columns: tuple[str, ...]) -> str:
    if table is None:
        return "a row"
    for fk in table.foreign_key_constraints:
        if tuple(c.name for c in fk.columns) == tuple(columns):
            referred = fk.referred_table
            return f"a {object_name(referred) or referred.name}"
    return "a row"


def _show_values(values: tuple) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return repr(values[0])
    return "(" + ", ".join(repr(v) for v in values) + ")"

