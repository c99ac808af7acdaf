"""Reflection: an existing database -> a draft model file, the first step in mapping legacy data.

``caruso bom reflect URL`` reads tables, columns, keys and indexes and writes a
model with readable names (``CUST_NM`` -> ``Customer.name``), every object
marked ``legacy="yes"`` (Caruso never alters those tables) and the exact table
and column names kept, so the draft loads as it is. Columns without a portable
type are left out with a comment saying why; a table without a primary key
gets a comment asking for one. The integrator then renames, removes and adds
rules; see docs/legacy-database.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from lxml import etree

from caruso.bom import naming
from caruso.errors import DatabaseUnavailable, ModelError, did_you_mean

__all__ = ["reflect_database", "reflect_model"]

@attrs.define
class _Column:
    name: str
    attribute: str
    element: etree._Element | None
    comment: str | None = None


def reflect_database(url: str, *, tables: Sequence[str] = (), schema: str | None = None) -> str:
    """A draft model for the database at ``url`` (see ``reflect_model``).

    Raises:
        DatabaseUnavailable: the database cannot be reached, or a SQLite file does not exist
            (reflection never creates one).
        ModelError: a named table does not exist.
    """
    from caruso.storage.engine import create_engine, display_url

    shown = display_url(url)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise DatabaseUnavailable(f"{shown}: no such SQLite file {parsed.database!r}")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return reflect_model(connection, tables=tables, schema=schema, source=shown)
    except sa.exc.DBAPIError as exc:
        raise DatabaseUnavailable(f"{shown}: {exc.orig}") from exc
    finally:
        engine.dispose()


def reflect_model(bind: sa.Engine | sa.Connection, *, tables: Sequence[str] = (), schema: str | None = None,
                  source: str = "") -> str:
    """A draft model (XML text) for ``tables`` of the database (all of them by default).

    Args:
        bind: an engine or connection to the database.
        tables: table names to reflect; all tables of ``schema`` when empty.
        schema: the database schema to read (the default schema when None).
        source: how to name the database in the file's header comment.

    Raises:
        ModelError: a named table does not exist.
    """
    inspector = sa.inspect(bind)
    existing = inspector.get_table_names(schema=schema)
    wanted = _find_tables(tables, existing) if tables else sorted(existing)
    classes = _class_names(wanted)
    root = etree.Element("model")
    root.append(etree.Comment(
        f" Draft model reflected from {source or 'a database'}. Review the names, remove what the"
        " CRM does not need and add rules; the tables are legacy: Caruso never alters them. "
    ))
    keys = {table: _primary_key(inspector, table, schema) for table in wanted}
    elements: dict[str, etree._Element] = {}
    for table in wanted:
        elements[table] = _object(inspector, table, schema, classes, keys)
        root.append(elements[table])
    _add_collections(wanted, classes, elements)
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode", pretty_print=True)


def _find_tables(names: Sequence[str], existing: list[str]) -> list[str]:
    """The tables named, matched case-insensitively when not exactly (PostgreSQL folds
    unquoted names to lower case, so CUST_MAST is cust_mast there)."""
    by_lower = {name.lower(): name for name in existing}
    found, problems = [], []
    for name in names:
        match = name if name in existing else by_lower.get(name.lower())
        if match is None:
            hint = did_you_mean(name.lower(), by_lower)
            problems.append(f"no table {name!r} in the database{hint}")
        else:
            found.append(match)
    if problems:
        raise ModelError("; ".join(problems))
    return found


def _class_names(tables: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken = {"AuditEntry"}
    for table in tables:
        name = naming.class_name(table)
        names[table] = naming.unique_name(name, taken, separator="")
    return names


def _object(inspector: Any, table: str, schema: str | None, classes: dict[str, str],
            keys: dict[str, list[str]]) -> etree._Element:
    element = etree.Element("object", name=classes[table], table=table, legacy="yes")
    if schema:
        element.set("schema", schema)
    key = keys[table]
    foreign_keys = [fk for fk in inspector.get_foreign_keys(table, schema=schema)
                    if fk["referred_table"] in classes and fk["constrained_columns"]]
    in_references = {c for fk in foreign_keys for c in fk["constrained_columns"]}
    uniques = inspector.get_unique_constraints(table, schema=schema)
    indexes = inspector.get_indexes(table, schema=schema)
    all_columns = inspector.get_columns(table, schema=schema)
    reflected = [c for c in all_columns if c["name"] not in in_references or c["name"] in key]
    names = naming.attribute_names([c["name"] for c in reflected], table)
    used = set(names.values())
    columns = {c["name"]: _attribute(c, names[c["name"]], key, inspector.bind.dialect.name) for c in reflected}
    if not key:
        element.append(etree.Comment(
            f" {table} has no primary key: mark the attribute(s) that identify a row with"
            ' primary-key="yes" before loading this model '
        ))
    for column in columns.values():
        if column.comment:
            element.append(etree.Comment(column.comment))
        if column.element is not None:
            element.append(column.element)
    _mark_unique_and_indexed(element, columns, uniques, indexes)
    nullable = {c["name"]: c["nullable"] for c in all_columns}
    for fk in foreign_keys:
        target_key = keys.get(fk["referred_table"]) or []
        element.append(_reference(fk, classes, target_key, nullable, used, indexes))
    return element


def _primary_key(inspector: Any, table: str, schema: str | None) -> list[str]:
    """The table's primary key, or else a unique set of NOT NULL columns (which identifies
    a row just as well); [] when there is neither."""
    key = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns")
    if key:
        return list(key)
    nullable = {c["name"]: c["nullable"] for c in inspector.get_columns(table, schema=schema)}
    uniques = inspector.get_unique_constraints(table, schema=schema)
    indexes = inspector.get_indexes(table, schema=schema)
    candidates = [u["column_names"] for u in uniques] + [i["column_names"] for i in indexes if i.get("unique")]
    for names in candidates:
        if names and all(n in nullable and not nullable[n] for n in names):
            return list(names)
    return []


def _portable_type(type_: sa.types.TypeEngine) -> tuple[dict[str, str], list[str], str | None]:
    """(XML attributes, enum values, comment) for a reflected column type; type "" when unmappable."""
    if isinstance(type_, sa.Enum) and type_.enums:
        return {"type": "enum"}, list(type_.enums), None
    if isinstance(type_, sa.Boolean):
        return {"type": "boolean"}, [], None
    if isinstance(type_, sa.BigInteger):
        return {"type": "integer"}, [], "values above 2147483647 do not fit the integer type"
    if isinstance(type_, sa.Integer):
        return {"type": "integer"}, [], None
    if isinstance(type_, sa.Float):
        return {"type": "decimal", "precision": "15", "scale": "6"}, [], "a floating-point column, read as decimal"
    if isinstance(type_, sa.Numeric):
        precision = type_.precision or 18
        scale = type_.scale if type_.scale is not None else 0
        return {"type": "decimal", "precision": str(precision), "scale": str(scale)}, [], None
    if isinstance(type_, sa.DateTime):
        return {"type": "datetime"}, [], None if type_.timezone else "stored without time zone: read as UTC"
    if isinstance(type_, sa.Date):
        return {"type": "date"}, [], None
    if isinstance(type_, sa.JSON):
        return {"type": "json"}, [], None
    if isinstance(type_, sa.Text) or (isinstance(type_, sa.String) and not type_.length):
        return {"type": "text"}, [], None
    if isinstance(type_, sa.String):
        return {"type": "string", "length": str(type_.length)}, [], None
    return {"type": ""}, [], f"type {type_!r} has no portable equivalent"


def _attribute(column: dict, name: str, key: list[str], dialect: str) -> _Column:
    options, values, note = _portable_type(column["type"])
    if not options["type"]:
        return _Column(column["name"], name, None, f" column {column['name']} is not mapped: {note} ")
    element = etree.Element("attribute", name=name, **options)
    if name != column["name"]:
        element.set("column", column["name"])
    if column["name"] in key:
        element.set("primary-key", "yes")
        if options["type"] == "integer":
            generated = len(key) == 1 and _generated(column, dialect)
            element.set("generated", "yes" if generated else "no")
    elif not column["nullable"]:
        element.set("required", "yes")
    for value in values:
        etree.SubElement(element, "value").text = value
    comment = f" {column['name']}: {note} " if note else None
    return _Column(column["name"], name, element, comment)


def _generated(column: dict, dialect: str) -> bool:
    """Whether the database numbers new rows itself (auto-increment, serial, identity)."""
    if column.get("identity") or column.get("autoincrement") is True:
        return True
    default = str(column.get("default") or "").lower()
    if "nextval(" in default:
        return True
    return dialect == "sqlite"  # a single INTEGER PRIMARY KEY is the rowid


def _mark_unique_and_indexed(element: etree._Element, columns: dict[str, _Column], uniques: list,
                             indexes: list) -> None:
    """unique/indexed flags for one column, <index> elements for several. A unique constraint
    is often reported as an index too (MariaDB), so each column set counts once."""
    seen: set[tuple[tuple[str, ...], bool]] = set()
    for found in [*uniques, *indexes]:
        unique = found in uniques or bool(found.get("unique"))
        key = (tuple(found["column_names"]), unique)
        mapped = [columns[n] for n in key[0] if n in columns and columns[n].element is not None]
        if key in seen or not mapped or len(mapped) != len(key[0]):
            continue
        seen.add(key)
        if len(mapped) == 1:
            mapped[0].element.set("unique" if unique else "indexed", "yes")
        else:
            extra = {"unique": "yes"} if unique else {}
            etree.SubElement(element, "index", attributes=" ".join(c.attribute for c in mapped), **extra)


def _reference(fk: dict, classes: dict[str, str], target_key: list[str], nullable: dict[str, bool],
               used: set[str], indexes: list) -> etree._Element:
    """A <reference> for a foreign key to the target's primary key, or a comment for one
    to other columns (a reference always points at the key)."""
    pairs = dict(zip(fk["referred_columns"], fk["constrained_columns"], strict=True))
    if sorted(pairs) != sorted(target_key):
        return etree.Comment(
            f" the foreign key ({', '.join(fk['constrained_columns'])}) to {fk['referred_table']}"
            f" ({', '.join(fk['referred_columns'])}) is not mapped: a reference points at the primary key "
        )
    columns = [pairs[k] for k in target_key]
    target = classes[fk["referred_table"]]
    name = naming.unique_name(naming.reference_name(columns, target), used)
    element = etree.Element("reference", name=name, object=target, column=" ".join(columns))
    if not any(nullable.get(c, True) for c in columns):
        element.set("required", "yes")
    indexed = any(i["column_names"][:len(columns)] == columns for i in indexes)
    element.set("indexed", "yes" if indexed else "no")
    on_delete = (fk.get("options") or {}).get("ondelete", "").lower()
    if on_delete in ("cascade", "set null"):
        element.set("on-delete", on_delete.replace(" ", "-"))
    return element


def _add_collections(tables: Sequence[str], classes: dict[str, str], elements: dict[str, etree._Element]) -> None:
    """Each reference gets the collection that follows it back, on the referenced object."""
    for table in tables:
        source = classes[table]
        for reference in elements[table].iterchildren("reference"):
            target_table = next(t for t, c in classes.items() if c == reference.get("object"))
            target = elements[target_table]
            used = {child.get("name") for child in target if isinstance(child.tag, str)}
            name = naming.plural(naming.snake_case(source))
            if name in used:
                name = f"{name}_by_{reference.get('name')}"
            name = naming.unique_name(naming.identifier(name), used)
            target.append(etree.Element(
                "collection", name=name, object=source, reference=reference.get("name")
            ))
