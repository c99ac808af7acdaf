"""Schema management: compare the models with the database, apply what is safe.

Alembic's autogenerate does the comparison (``produce_migrations``) and its
operations API applies the result; Caruso adds the policy on top:

- Only tables the models name are looked at. A table in the database that no
  model names is never reflected, never altered, never dropped - Alembic would
  propose dropping it otherwise (``include_name`` / ``include_object``).
- Tables marked legacy (``caruso_legacy``) are never altered either; if one is
  missing, the status says so (usually a wrong URL), but nothing creates it.
- Additive changes (new tables, columns, indexes, unique rules, references;
  widening a string; making a column optional) are applied by ``upgrade``.
  Destructive ones (dropping a column, index or rule, changing a type, making
  a column required) are listed and refused unless ``allow_destructive``.
- A required column without a default cannot be added to a table that has rows
  (they would have no value); ``upgrade`` refuses and says how to fix the model.

SQLite cannot add or drop constraints in place, so those changes go through
Alembic's batch mode (copy the table, swap it in), with foreign keys off
during the swap and checked before commit. PostgreSQL and SQLite apply a whole
upgrade in one transaction; MariaDB commits each DDL statement by itself, so an
interrupted upgrade there is finished by running it again.

Alembic is imported inside the functions that use it: importing it costs about
0.3 s, which every ``caruso`` command would otherwise pay at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from caruso.errors import SchemaChangeRefused, StorageError
from caruso.storage.engine import FOREIGN_KEYS_OPTION
from caruso.storage.metadata import is_legacy, object_name

if TYPE_CHECKING:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations, ops

__all__ = ["SchemaChange", "SchemaDiff", "compare", "upgrade"]

ADDITIVE, DESTRUCTIVE, BLOCKED = "additive", "destructive", "blocked"


@attrs.frozen
class SchemaChange:
    """One difference between the models and the database.

    Attributes:
        kind: ``additive`` (applied by upgrade), ``destructive`` (needs
            ``allow_destructive``) or ``blocked`` (cannot be applied as modelled;
            ``description`` says why and how to fix it).
        table: the table it concerns.
        description: one line for people, e.g. ``add column customer.segment VARCHAR(20)``.
        operation: the Alembic operation that applies it (None for blocked ones).
    """

    kind: str
    table: str
    description: str
    operation: ops.MigrateOperation | None = attrs.field(default=None, eq=False, repr=False)

    def __str__(self) -> str:
        mark = {ADDITIVE: "+", DESTRUCTIVE: "!", BLOCKED: "x"}[self.kind]
        return f"{mark} {self.description}"


@attrs.frozen
class SchemaDiff:
    """Every difference found, additive first; empty when the database is up to date."""

    changes: tuple[SchemaChange, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return not self.changes

    @property
    def additive(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.kind == ADDITIVE)

    @property
    def destructive(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.kind == DESTRUCTIVE)

    @property
    def blocked(self) -> tuple[SchemaChange, ...]:
        return tuple(c for c in self.changes if c.kind == BLOCKED)

    def __str__(self) -> str:
        if self.up_to_date:
            return "the database matches the models"
        return "\n".join(str(c) for c in self.changes)


def compare(bind: Engine | Connection, metadata: sa.MetaData | Sequence[sa.MetaData]) -> SchemaDiff:
    """What ``upgrade`` would change to make the database match ``metadata``."""
    from alembic.autogenerate import produce_migrations

    if isinstance(bind, Engine):
        with bind.connect() as connection:
            return compare(connection, metadata)
    metadatas = _as_list(metadata)
    _check_unique_table_names(metadatas)
    script = produce_migrations(_migration_context(bind, metadatas), metadatas)
    changes = [_classify(op, bind) for op in _flatten(script.upgrade_ops)]
    changes.extend(_missing_legacy_tables(bind, metadatas))
    order = {ADDITIVE: 0, DESTRUCTIVE: 1, BLOCKED: 2}
    return SchemaDiff(tuple(sorted(changes, key=lambda c: order[c.kind])))


def upgrade(
    engine: Engine,
    metadata: sa.MetaData | Sequence[sa.MetaData],
    *,
    allow_destructive: bool = False,
) -> SchemaDiff:
    """Apply the differences; return what was applied.

    Raises:
        SchemaChangeRefused: blocked changes, or destructive ones without
            ``allow_destructive``; nothing was applied.
        StorageError: the database refused a change (on SQLite and PostgreSQL
            the upgrade is rolled back whole).
    """
    from alembic.operations import Operations

    metadatas = _as_list(metadata)
    sqlite = engine.dialect.name == "sqlite"
    connection = engine.connect()
    if sqlite:
        # Batch mode swaps tables: checks stay off until foreign_key_check below.
        connection = connection.execution_options(**{FOREIGN_KEYS_OPTION: False})
    try:
        with connection.begin():
            # Compared inside the transaction that applies it: what was shown is what is done.
            diff = compare(connection, metadatas)
            _refuse_unless_allowed(diff, allow_destructive)
            operations = Operations(_migration_context(connection, metadatas))
            _create_tables(operations, metadatas, diff)
            # Indexes and rules of the new tables came with them; compare again for the rest.
            remaining = compare(connection, metadatas) if _has_new_tables(diff) else diff
            _apply_table_changes(operations, remaining, sqlite)
            if sqlite:
                _check_sqlite_foreign_keys(connection, {c.table for c in diff.changes if c.kind != BLOCKED})
    finally:
        connection.close()
    return SchemaDiff(tuple(c for c in diff.changes if c.kind != BLOCKED))


# -- comparing -------------------------------------------------------------------------


def _as_list(metadata: sa.MetaData | Sequence[sa.MetaData]) -> list[sa.MetaData]:
    return [metadata] if isinstance(metadata, sa.MetaData) else list(metadata)


def _check_unique_table_names(metadatas: list[sa.MetaData]) -> None:
    seen: dict[str, sa.Table] = {}
    for metadata in metadatas:
        for table in metadata.tables.values():
            other = seen.setdefault(table.name, table)
            if other is not table:
                raise StorageError(
                    f"table {table.name!r} is declared twice ({object_name(other) or 'no object'}"
                    f" and {object_name(table) or 'no object'}); give one of them another table name"
                )


def _managed(metadatas: list[sa.MetaData]) -> dict[str, sa.Table]:
    return {t.name: t for m in metadatas for t in m.tables.values() if not is_legacy(t)}


def _migration_context(connection: Connection, metadatas: list[sa.MetaData]) -> MigrationContext:
    from alembic.migration import MigrationContext

    managed = _managed(metadatas)

    def include_name(name, type_, parent_names):
        if type_ == "schema":
            return name is None
        if type_ == "table":
            return name in managed
        return True

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return name in managed
        table = getattr(obj, "table", None)
        return table is None or table.name in managed

    return MigrationContext.configure(
        connection,
        opts={
            "target_metadata": metadatas,
            "compare_type": _compare_type,
            "include_name": include_name,
            "include_object": include_object,
        },
    )


def _compare_type(context, inspected_column, metadata_column, inspected_type, metadata_type) -> bool | None:
    """Alembic's type comparison, except that a double-precision float is one type whatever
    its spelling: MariaDB reads ``FLOAT(53)`` back as ``DOUBLE``, which is no change to refuse
    (the event log's ``at`` would otherwise stop a MariaDB application at its second start)."""
    if _is_double(inspected_type) and _is_double(metadata_type):
        return False
    return None  # Alembic decides


def _is_double(type_: sa.types.TypeEngine) -> bool:
    if not isinstance(type_, sa.Float):
        return False
    if isinstance(type_, sa.Double):
        return True
    precision = getattr(type_, "precision", None)
    return precision is not None and precision >= 25


def _flatten(container) -> list[ops.MigrateOperation]:
    from alembic.operations import ops

    flat = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            flat.extend(_flatten(op))
        else:
            flat.append(op)
    return flat


def _table_has_rows(connection: Connection, table: str) -> bool:
    query = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)
    return connection.execute(query).first() is not None


def _classify(op: ops.MigrateOperation, connection: Connection) -> SchemaChange:
    """Sort one Alembic operation into additive, destructive or blocked, and describe it."""
    from alembic.operations import ops

    if isinstance(op, ops.CreateTableOp):
        return SchemaChange(ADDITIVE, op.table_name, f"add table {op.table_name}", op)
    if isinstance(op, ops.AddColumnOp):
        column = op.column
        text = f"add column {op.table_name}.{column.name} {_type_text(column.type, connection)}"
        if not column.nullable and column.server_default is None and _table_has_rows(connection, op.table_name):
            return SchemaChange(
                BLOCKED,
                op.table_name,
                f"{text}: the column is required but has no default, and the table has rows"
                " that would have no value - give it a default in the model, or make it optional",
            )
        return SchemaChange(ADDITIVE, op.table_name, text, op)
    if isinstance(op, ops.CreateIndexOp):
        unique = "unique " if op.unique else ""
        return SchemaChange(
            ADDITIVE, op.table_name, f"add {unique}index {op.index_name} on {op.table_name} ({_columns(op)})", op
        )
    if isinstance(op, ops.CreateUniqueConstraintOp):
        return SchemaChange(
            ADDITIVE, op.table_name,
            f"add unique rule {op.constraint_name} on {op.table_name} ({', '.join(op.columns)})", op,
        )
    if isinstance(op, ops.CreateForeignKeyOp):
        return SchemaChange(
            ADDITIVE, op.source_table,
            f"add reference {op.constraint_name}: {op.source_table} ({', '.join(op.local_cols)})"
            f" -> {op.referent_table} ({', '.join(op.remote_cols)})", op,
        )
    if isinstance(op, ops.DropColumnOp):
        return SchemaChange(
            DESTRUCTIVE, op.table_name,
            f"drop column {op.table_name}.{op.column_name} (no model names it; its data would be lost)", op,
        )
    if isinstance(op, ops.DropIndexOp):
        return SchemaChange(DESTRUCTIVE, op.table_name, f"drop index {op.index_name} on {op.table_name}", op)
    if isinstance(op, ops.DropConstraintOp):
        return SchemaChange(
            DESTRUCTIVE, op.table_name, f"drop {op.constraint_type or ''} rule {op.constraint_name} on {op.table_name}", op
        )
    if isinstance(op, ops.AlterColumnOp):
        return _classify_alter(op, connection)
    if isinstance(op, ops.CreateTableCommentOp | ops.DropTableCommentOp):
        return SchemaChange(ADDITIVE, op.table_name, f"change the comment of table {op.table_name}", op)
    table = getattr(op, "table_name", "?")
    return SchemaChange(DESTRUCTIVE, table, f"{type(op).__name__} on {table}", op)


def _classify_alter(op: ops.AlterColumnOp, connection: Connection) -> SchemaChange:
    name = f"{op.table_name}.{op.column_name}"
    parts, destructive = [], False
    if op.modify_type is not None:
        old, new = op.existing_type, op.modify_type
        parts.append(f"type {_type_text(old, connection)} -> {_type_text(new, connection)}")
        destructive = destructive or not _widens(old, new)
    if op.modify_nullable is not None:
        parts.append("make optional" if op.modify_nullable else "make required")
        destructive = destructive or not op.modify_nullable
    if op.modify_comment is not False:
        parts.append("change comment")
    kind = DESTRUCTIVE if destructive else ADDITIVE
    return SchemaChange(kind, op.table_name, f"alter column {name}: {', '.join(parts)}", op)


def _widens(old: sa.types.TypeEngine | None, new: sa.types.TypeEngine) -> bool:
    """True when every value of ``old`` fits ``new`` unchanged (a longer string)."""
    if isinstance(new, sa.types.TypeDecorator):  # an Enumeration is a string underneath
        new = new.impl
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        return old.length is not None and (new.length is None or new.length >= old.length)
    return False


def _missing_legacy_tables(connection: Connection, metadatas: list[sa.MetaData]) -> list[SchemaChange]:
    inspector = sa.inspect(connection)
    missing = []
    for metadata in metadatas:
        for table in metadata.tables.values():
            if is_legacy(table) and not inspector.has_table(table.name, schema=table.schema):
                missing.append(SchemaChange(
                    BLOCKED, table.name,
                    f"legacy table {table.name} ({object_name(table) or 'no object'}) does not exist"
                    " in this database; legacy tables are never created - check the storage URL"
                    " or the table name in the model",
                ))
    return missing


def _type_text(type_: sa.types.TypeEngine | None, connection: Connection) -> str:
    if type_ is None:
        return "?"
    try:
        return type_.compile(dialect=connection.dialect)
    except Exception:
        return repr(type_)


def _columns(op: ops.CreateIndexOp) -> str:
    return ", ".join(getattr(c, "name", str(c)) for c in op.columns)


def _refuse_unless_allowed(diff: SchemaDiff, allow_destructive: bool) -> None:
    refused = list(diff.blocked)
    if not allow_destructive:
        refused.extend(diff.destructive)
    if not refused:
        return
    lines = "\n".join(f"  {c}" for c in refused)
    hint = "" if allow_destructive or not diff.destructive else (
        "\nrun `caruso db upgrade --allow-destructive` to apply the destructive ones"
        " (after a backup)"
    )
    raise SchemaChangeRefused(
        f"the upgrade was not applied; {len(refused)} change(s) need attention:\n{lines}{hint}",
        [c.description for c in refused],
    )


# -- applying --------------------------------------------------------------------------


def _has_new_tables(diff: SchemaDiff) -> bool:
    from alembic.operations import ops

    return any(isinstance(c.operation, ops.CreateTableOp) for c in diff.changes)


def _create_tables(operations: Operations, metadatas: list[sa.MetaData], diff: SchemaDiff) -> None:
    from alembic.operations import ops

    creates = {c.operation.table_name: c.operation for c in diff.changes
               if isinstance(c.operation, ops.CreateTableOp)}
    dependency_order = [t.name for m in metadatas for t in m.sorted_tables]
    for name in dependency_order:
        if name in creates:
            operations.invoke(creates[name])


def _apply_table_changes(operations: Operations, diff: SchemaDiff, sqlite: bool) -> None:
    from alembic.operations import ops

    # Operations SQLite can do in place; everything else there goes through batch mode.
    in_place_on_sqlite = (ops.AddColumnOp, ops.CreateIndexOp, ops.DropIndexOp,
                          ops.CreateTableCommentOp, ops.DropTableCommentOp)
    by_table: dict[str, list[ops.MigrateOperation]] = {}
    for change in diff.changes:
        if change.kind != BLOCKED and not isinstance(change.operation, ops.CreateTableOp):
            by_table.setdefault(change.table, []).append(change.operation)
    for table, table_ops in by_table.items():
        new_column_fks = _inline_foreign_keys(table_ops) if sqlite else set()
        if sqlite and not all(
            isinstance(op, in_place_on_sqlite) or id(op) in new_column_fks for op in table_ops
        ):
            with operations.batch_alter_table(table, recreate="always") as batch:
                for op in table_ops:
                    batch.invoke(_bare_column(op, inline_fk=False))
            continue
        for op in _in_dependency_order(table_ops):
            if id(op) in new_column_fks:
                continue  # created inline with its column below
            operations.invoke(_bare_column(op, inline_fk=sqlite))


def _in_dependency_order(table_ops: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """Columns before the indexes and references that use them; drops after."""
    from alembic.operations import ops

    def rank(op):
        if isinstance(op, ops.AddColumnOp):
            return 0
        if isinstance(op, ops.DropConstraintOp | ops.DropIndexOp):
            return 1
        if isinstance(op, ops.DropColumnOp):
            return 3
        return 2
    return sorted(table_ops, key=rank)


def _inline_foreign_keys(table_ops: list[ops.MigrateOperation]) -> set[int]:
    """FK operations (by id) on columns added in the same run: SQLite adds them inline."""
    from alembic.operations import ops

    added = {op.column.name: op.column for op in table_ops if isinstance(op, ops.AddColumnOp)}
    inline = set()
    for op in table_ops:
        if isinstance(op, ops.CreateForeignKeyOp) and len(op.local_cols) == 1:
            column = added.get(op.local_cols[0])
            if column is not None and len(column.foreign_keys) == 1:
                inline.add(id(op))
    return inline


def _bare_column(op: ops.MigrateOperation, *, inline_fk: bool) -> ops.MigrateOperation:
    """An AddColumnOp whose column carries no index or unique flag (and no reference
    unless it is rendered inline): those arrive as operations of their own."""
    from alembic.operations import ops

    if not isinstance(op, ops.AddColumnOp):
        return op
    column = op.column
    bare = sa.Column(
        column.name,
        column.type,
        *([sa.ForeignKey(next(iter(column.foreign_keys)).target_fullname,
                         ondelete=next(iter(column.foreign_keys)).ondelete)]
          if inline_fk and len(column.foreign_keys) == 1 else []),
        nullable=column.nullable,
        server_default=getattr(column.server_default, "arg", None),
        comment=column.comment,
    )
    return ops.AddColumnOp(op.table_name, bare, schema=op.schema, inline_references=inline_fk or None)


def _check_sqlite_foreign_keys(connection: Connection, tables: set[str]) -> None:
    """References in the changed tables must point somewhere (others are not ours to judge)."""
    quote = connection.dialect.identifier_preparer.quote
    broken = [
        row for table in sorted(tables)
        for row in connection.exec_driver_sql(f"PRAGMA foreign_key_check({quote(table)})").fetchall()
    ]
    if broken:
        tables = sorted({row[0] for row in broken})
        raise StorageError(
            f"the upgrade would leave {len(broken)} row(s) whose reference points nowhere"
            f" (tables: {', '.join(tables)}); it was rolled back - fix those rows first"
        )
