"""Resolved objects -> tables in a MetaData -> generated classes mapped imperatively.

Tables carry the facts storage needs in ``.info`` (which object, legacy or
not, which attribute a column holds) and get constraint names from storage's
naming convention, so a refused write can be traced back to an attribute.

Columns are keyed by their database name (``table.c.CUST_NM``), as Alembic
and every tool reading a MetaData expect; the mapper gives them their
attribute names (``Customer.name``), which is what Python code and
``select(Customer.name)`` use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import column_property, registry, relationship

from caruso.bom.audit import AuditEntry, AuditTrail, audit_table
from caruso.bom.definitions import AttributeDef
from caruso.bom.objects import BusinessObject, ObjectInfo
from caruso.bom.resolve import NOW, TODAY, ResolvedObject
from caruso.clock import Clock
from caruso.storage.metadata import ATTRIBUTE_KEY, LEGACY_KEY, OBJECT_KEY, new_metadata
from caruso.storage.types import PORTABLE_TYPES

__all__ = ["GENERATED_MODULE", "MappedModel", "build_mapping"]

GENERATED_MODULE = "caruso.bom.generated"
"""The ``__module__`` of generated classes (there is no such file: they exist at run time only)."""

_ON_DELETE = {"restrict": "RESTRICT", "cascade": "CASCADE", "set-null": "SET NULL"}


class MappedModel:
    """The SQLAlchemy side of a model: MetaData, registry and classes by name."""

    def __init__(self, metadata: sa.MetaData, registry_: registry, classes: dict[str, type]):
        self.metadata = metadata
        self.registry = registry_
        self.classes = classes


class _Tables:
    """Tables by object name, and each attribute's column."""

    def __init__(self, resolved: Mapping[str, ResolvedObject]):
        self.resolved = resolved
        self.tables: dict[str, sa.Table] = {}
        self._columns = {name: r.columns for name, r in resolved.items()}

    def column(self, object_name: str, key: str) -> sa.Column:
        return self.tables[object_name].c[self._columns[object_name][key]]

    def columns(self, object_name: str, keys: list[str]) -> list[sa.Column]:
        return [self.column(object_name, k) for k in keys]


def build_mapping(resolved: Mapping[str, ResolvedObject], clock: Clock) -> MappedModel:
    """Build tables and mapped classes for ``resolved`` (which must have no problems)."""
    metadata = new_metadata()
    tables = _Tables(resolved)
    for name, r in resolved.items():
        tables.tables[name] = _table(metadata, r, clock)
    for r in resolved.values():
        _indexes(tables, r)
        _foreign_keys(tables, r)
    trail = None
    if any(r.definition.auditable for r in resolved.values()):
        trail = AuditTrail(audit_table(metadata), clock)
    mapper_registry = registry(metadata=metadata)
    classes = {name: _class(r, clock, trail) for name, r in resolved.items()}
    followers = _followers(resolved)
    for name in resolved:
        properties = _properties(name, tables, classes, followers)
        mapper_registry.map_imperatively(classes[name], tables.tables[name], properties=properties)
    if trail is not None:
        entry_class = type("AuditEntry", (AuditEntry,), {"__module__": GENERATED_MODULE})
        mapper_registry.map_imperatively(entry_class, trail.table)
        classes["AuditEntry"] = entry_class
    mapper_registry.configure()
    return MappedModel(metadata, mapper_registry, classes)


def _default_factory(value: object, clock: Clock) -> Callable[[], object]:
    if value == NOW:
        return clock.now
    if value == TODAY:
        return lambda: clock.now().date()
    if isinstance(value, dict | list):
        return lambda: copy.deepcopy(value)
    return lambda: value


def _server_default(attribute: AttributeDef, value: object) -> Any:
    """A database-side default for simple literals, so a required column can be added
    to a table that already has rows; None where the types' storage differs by backend."""
    if attribute.type in ("string", "enum") and isinstance(value, str):
        return value
    if attribute.type == "integer" and isinstance(value, int):
        return sa.text(str(value))
    if attribute.type == "boolean" and isinstance(value, bool):
        return sa.true() if value else sa.false()
    return None


def _table(metadata: sa.MetaData, resolved: ResolvedObject, clock: Clock) -> sa.Table:
    definition = resolved.definition
    columns = []
    for attribute in definition.attributes:
        default = resolved.defaults.get(attribute.name)
        columns.append(sa.Column(
            attribute.column_name,
            resolved.column_types[attribute.name],
            primary_key=attribute.primary_key,
            nullable=not (attribute.required or attribute.primary_key),
            unique=attribute.unique or None,
            index=attribute.indexed or None,
            default=None if default is None else _default_factory(default, clock),
            server_default=None if default is None else _server_default(attribute, default),
            autoincrement=attribute.name in resolved.generated,
            info={ATTRIBUTE_KEY: attribute.name},
        ))
    for reference in definition.references:
        columns.extend(
            sa.Column(part.column, _key_type(part.target), nullable=not reference.required,
                      info={ATTRIBUTE_KEY: reference.name})
            for part in resolved.foreign_keys[reference.name] if not part.shared
        )
    return sa.Table(
        definition.table,
        metadata,
        *columns,
        schema=definition.schema,
        info={OBJECT_KEY: definition.name, LEGACY_KEY: definition.legacy},
    )


def _indexes(tables: _Tables, resolved: ResolvedObject) -> None:
    definition = resolved.definition
    table = tables.tables[definition.name]

    def keys_of(member: str) -> list[str]:
        parts = resolved.foreign_keys.get(member)
        return [p.key for p in parts] if parts is not None else [member]

    for reference in definition.references:
        if reference.indexed and resolved.foreign_keys[reference.name]:
            sa.Index(None, *tables.columns(definition.name, keys_of(reference.name)))
    for index in definition.members.indexes:
        columns = tables.columns(definition.name, [k for member in index.members for k in keys_of(member)])
        if index.unique:
            table.append_constraint(sa.UniqueConstraint(*columns, name=index.name))
        else:
            sa.Index(index.name, *columns)


def _key_type(target: AttributeDef) -> sa.types.TypeEngine:
    """The type of a foreign-key column pointing at ``target`` (the same as the key's)."""
    options = {"length": target.length, "precision": target.precision, "scale": target.scale,
               "values": target.values or None}
    return PORTABLE_TYPES[target.type](**options)


def _foreign_keys(tables: _Tables, resolved: ResolvedObject) -> None:
    name = resolved.definition.name
    for reference in resolved.definition.references:
        parts = resolved.foreign_keys[reference.name]
        target = tables.tables[reference.target]
        prefix = f"{target.schema}.{target.name}" if target.schema else target.name
        tables.tables[name].append_constraint(sa.ForeignKeyConstraint(
            tables.columns(name, [p.key for p in parts]),
            [f"{prefix}.{tables.column(reference.target, p.target.name).name}" for p in parts],
            ondelete=_ON_DELETE[reference.on_delete],
            link_to_name=True,
        ))


def _class(resolved: ResolvedObject, clock: Clock, trail: AuditTrail | None) -> type:
    definition = resolved.definition
    keys = set(resolved.columns)
    keys |= {r.name for r in definition.references} | {c.name for c in definition.collections}
    info = ObjectInfo(
        name=definition.name,
        definition=definition,
        validator=resolved.validator,
        defaults=tuple((k, _default_factory(v, clock)) for k, v in resolved.defaults.items()),
        keys=frozenset(keys),
        audit=trail if definition.auditable else None,
    )
    namespace = {
        "__module__": GENERATED_MODULE,
        "__qualname__": definition.name,
        "__caruso__": info,
        "__doc__": definition.description or f"The business object {definition.name} (table {definition.table}).",
    }
    return type(definition.name, (*resolved.behaviours, BusinessObject), namespace)


def _followers(resolved: Mapping[str, ResolvedObject]) -> dict[tuple[str, str], str]:
    """(object, reference) -> the collection on the referenced object that follows it back."""
    found: dict[tuple[str, str], str] = {}
    for owner in resolved.values():
        for collection in owner.definition.collections:
            reference = owner.collection_references[collection.name]
            found.setdefault((collection.target, reference), collection.name)
    return found


def _properties(name: str, tables: _Tables, classes: Mapping[str, type],
                followers: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """Attribute names for columns, relationships for references and collections.

    The columns of an auditable object load their old value when changed
    (``active_history``), so the audit trail knows what a value was.
    """
    resolved = tables.resolved[name]
    definition = resolved.definition
    audited = definition.auditable
    properties: dict[str, Any] = {
        key: column_property(tables.column(name, key), active_history=True) if audited else tables.column(name, key)
        for key in resolved.columns
    }
    for reference in definition.references:
        parts = resolved.foreign_keys[reference.name]
        extra = {}
        if reference.target == name:  # a tree (parent/children): say which side is the parent
            extra["remote_side"] = tables.columns(name, [p.target.name for p in parts])
        properties[reference.name] = relationship(
            classes[reference.target],
            foreign_keys=tables.columns(name, [p.key for p in parts]),
            back_populates=followers.get((name, reference.name)),
            active_history=audited,
            **extra,
        )
    order = classes[name].__caruso__.collection_order
    for collection in definition.collections:
        reference = resolved.collection_references[collection.name]
        target = tables.resolved[collection.target]
        order[collection.name] = tuple(
            tables.column(collection.target, word.lstrip("-")).desc() if word.startswith("-")
            else tables.column(collection.target, word).asc()
            for word in collection.order_by
        )
        properties[collection.name] = relationship(
            classes[collection.target],
            foreign_keys=tables.columns(collection.target, [p.key for p in target.foreign_keys[reference]]),
            back_populates=reference,
            order_by=list(order[collection.name]) or None,
            passive_deletes="all",  # the database's ON DELETE decides, as it does for Core deletes
        )
    return properties
