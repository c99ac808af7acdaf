"""From model files to a consistent set of objects: extensions applied, every name checked.

Objects may be defined in any file and extended from any later one (the files
come in plugin order, the application's own last). Once every extension is
applied, each name an object uses is checked against what exists: a reference
to an unknown object, a rule on an unknown attribute, two objects on one table.
All problems are collected with their file:line so ``caruso check`` shows them
at once; only a model without problems is mapped.

The result also carries what the mapper needs, computed once here: column
types, parsed defaults, foreign-key columns, behaviour classes and validators.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
from sqlalchemy.types import TypeEngine

from caruso.bom.definitions import (
    AttributeDef,
    BehaviourDef,
    CollectionDef,
    Location,
    ModelFile,
    ObjectDef,
    ReferenceDef,
)
from caruso.bom.objects import RESERVED_NAMES
from caruso.bom.rules import Validator, compile_validator
from caruso.bom.values import parse_value
from caruso.errors import CarusoError, Problem, did_you_mean
from caruso.storage.types import PORTABLE_TYPES, ExactDecimal

__all__ = ["NOW", "TODAY", "ForeignKeyPart", "ResolvedObject", "resolve"]

NOW = "now"
TODAY = "today"
_MOMENT_DEFAULTS = {"datetime": NOW, "date": TODAY}
AUDIT_OBJECT = "AuditEntry"


@attrs.frozen
class ForeignKeyPart:
    """One column of a reference's foreign key: its attribute key, column name and the key it points at.

    ``shared`` is True when the column is also an attribute of the object (a
    legacy order line whose key ORDER_ID, LINE_NO includes the order's key):
    the reference then reuses that attribute's column instead of adding one.
    """

    key: str
    column: str
    target: AttributeDef
    shared: bool = False


@attrs.define
class ResolvedObject:
    """An object ready to map: its definition plus everything derived from it."""

    definition: ObjectDef
    column_types: dict[str, TypeEngine]
    defaults: dict[str, object]
    generated: tuple[str, ...]
    foreign_keys: dict[str, tuple[ForeignKeyPart, ...]]
    collection_references: dict[str, str]
    behaviours: tuple[type, ...]
    validator: Validator

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def columns(self) -> dict[str, str]:
        """Attribute key -> column name, for attributes and foreign-key keys."""
        found = {a.name: a.column_name for a in self.definition.attributes}
        for parts in self.foreign_keys.values():
            found.update((p.key, p.column) for p in parts)
        return found


def resolve(
    files: Sequence[ModelFile], *, search_paths: Sequence[Path] = ()
) -> tuple[dict[str, ResolvedObject], list[Problem]]:
    """Apply extensions in file order and check every name, collecting problems.

    Args:
        files: model files in plugin order (the application's own last).
        search_paths: folders to import behaviour classes from (plugin folders).

    Returns:
        Objects by name (in definition order), and every problem found. The
        objects are only safe to map when there are no problems.
    """
    problems: list[Problem] = []
    objects = _merge(files, problems)
    _check_tables(objects.values(), problems)
    resolved: dict[str, ResolvedObject] = {}
    for definition in objects.values():
        resolved[definition.name] = _Resolver(definition, objects, search_paths, problems).run()
    return resolved, problems


def _merge(files: Sequence[ModelFile], problems: list[Problem]) -> dict[str, ObjectDef]:
    objects: dict[str, ObjectDef] = {}
    for model in files:
        for definition in model.objects:
            earlier = objects.get(definition.name)
            if earlier is not None:
                problems.append(definition.where.problem(
                    f"object {definition.name} is already defined at {earlier.where}; to add to it,"
                    f' write <extend object="{definition.name}">'
                ))
            elif definition.name == AUDIT_OBJECT:
                problems.append(definition.where.problem(
                    f"{AUDIT_OBJECT} is Caruso's audit trail object; choose another name"
                ))
            else:
                objects[definition.name] = definition
    for model in files:
        for extension in model.extensions:
            target = objects.get(extension.target)
            if target is None:
                problems.append(extension.where.problem(
                    f"extends unknown object {extension.target!r}{did_you_mean(extension.target, objects)}"
                ))
                continue
            objects[target.name] = attrs.evolve(
                target,
                members=target.members + extension.members,
                auditable=target.auditable if extension.auditable is None else extension.auditable,
                behaviours=target.behaviours + ((extension.behaviour,) if extension.behaviour else ()),
            )
    return objects


def _check_tables(objects: Iterable[ObjectDef], problems: list[Problem]) -> None:
    owners: dict[tuple[str | None, str], ObjectDef] = {}
    for definition in objects:
        key = (definition.schema, definition.table.lower())
        owner = owners.setdefault(key, definition)
        if owner is not definition:
            problems.append(definition.where.problem(
                f"objects {owner.name} ({owner.where}) and {definition.name} both map table"
                f" {definition.table!r}; each table holds one object - set table= on one of them"
            ))


class _Resolver:
    """Checks one object against the others and derives what its mapping needs."""

    def __init__(self, definition: ObjectDef, objects: dict[str, ObjectDef],
                 search_paths: Sequence[Path], problems: list[Problem]):
        self.definition = definition
        self.objects = objects
        self.search_paths = search_paths
        self.problems = problems

    def problem(self, where: Location, message: str) -> None:
        self.problems.append(where.problem(message))

    def run(self) -> ResolvedObject:
        definition = self.definition
        column_types = {a.name: self._column_type(a) for a in definition.attributes}
        generated = self._generated()
        foreign_keys = {r.name: self._foreign_key(r) for r in definition.references}
        self._check_names(foreign_keys)
        self._check_columns(foreign_keys)
        collections = {c.name: self._collection(c) for c in definition.collections}
        self._check_indexes(foreign_keys)
        validator, found = compile_validator(
            definition,
            column_types,
            {name: tuple(p.key for p in parts) for name, parts in foreign_keys.items()},
            generated,
        )
        self.problems.extend(found)
        return ResolvedObject(
            definition=definition,
            column_types=column_types,
            defaults={a.name: self._default(a, column_types[a.name]) for a in definition.attributes
                      if a.default is not None},
            generated=generated,
            foreign_keys=foreign_keys,
            collection_references={k: v for k, v in collections.items() if v},
            behaviours=tuple(c for c in map(self._behaviour, reversed(definition.behaviours)) if c is not None),
            validator=validator,
        )

    def _column_type(self, attribute: AttributeDef) -> TypeEngine | None:
        if attribute.values and attribute.type != "enum":
            self.problem(attribute.where, f"<value> elements belong to enum attributes, not to {attribute.type}")
        options = {"length": attribute.length, "precision": attribute.precision, "scale": attribute.scale,
                   "values": attribute.values if attribute.type == "enum" else None}
        try:
            column_type = PORTABLE_TYPES[attribute.type](**options)
        except ValueError as exc:
            self.problem(attribute.where, f"{self.definition.name}.{attribute.name}: {exc}")
            return None
        if self.definition.legacy and isinstance(column_type, ExactDecimal):
            # a legacy SQLite column holds NUMERIC values, not Caruso's scaled integers
            column_type = ExactDecimal(column_type.precision, column_type.scale, sqlite_storage="numeric")
        return column_type

    def _generated(self) -> tuple[str, ...]:
        keys = self.definition.primary_key
        if not keys:
            self.problem(self.definition.where, (
                f"object {self.definition.name} has no primary key; mark the attribute (or attributes)"
                ' that identify an object with primary-key="yes"'
            ))
            return ()
        for key in keys:
            if key.generated and (len(keys) > 1 or key.type != "integer"):
                self.problem(key.where, "only a single integer primary key can be generated by the database")
        single = keys[0]
        if len(keys) == 1 and single.type == "integer" and single.generated is not False:
            return (single.name,)
        return ()

    def _default(self, attribute: AttributeDef, column_type: TypeEngine | None) -> object:
        text = attribute.default
        if _MOMENT_DEFAULTS.get(attribute.type) == text:
            return text
        try:
            value = parse_value(attribute.type, text, values=attribute.values)
            if column_type is not None and hasattr(column_type, "coerce"):
                value = column_type.coerce(value)
        except ValueError as exc:
            hint = f' (or "{_MOMENT_DEFAULTS[attribute.type]}")' if attribute.type in _MOMENT_DEFAULTS else ""
            self.problem(attribute.where, f"default {text!r} does not fit type {attribute.type}: {exc}{hint}")
            return None
        return copy.deepcopy(value)

    def _foreign_key(self, reference: ReferenceDef) -> tuple[ForeignKeyPart, ...]:
        target = self.objects.get(reference.target)
        if target is None:
            self.problem(reference.where, (
                f"{self.definition.name}.{reference.name} refers to unknown object"
                f" {reference.target!r}{did_you_mean(reference.target, self.objects)}"
            ))
            return ()
        if reference.on_delete == "set-null" and reference.required:
            self.problem(reference.where, 'on-delete="set-null" cannot clear a required reference;'
                                          ' use restrict or cascade, or make it optional')
        keys = target.primary_key
        columns = reference.columns or tuple(f"{reference.name}_{k.name}" for k in keys)
        if keys and len(columns) != len(keys):
            self.problem(reference.where, (
                f"{reference.target} has {len(keys)} primary-key attributes"
                f" ({', '.join(k.name for k in keys)}); column= lists {len(columns)}: give one per key"
            ))
            return ()
        own = {a.column_name.lower(): a for a in self.definition.attributes}
        return tuple(
            ForeignKeyPart(own[c.lower()].name, c, k, shared=True) if c.lower() in own
            else ForeignKeyPart(f"{reference.name}_{k.name}", c, k)
            for k, c in zip(keys, columns, strict=True)
        )

    def _collection(self, collection: CollectionDef) -> str | None:
        target = self.objects.get(collection.target)
        where = collection.where
        owner = self.definition.name
        if target is None:
            self.problem(where, f"{owner}.{collection.name} collects unknown object"
                                f" {collection.target!r}{did_you_mean(collection.target, self.objects)}")
            return None
        pointing = [r for r in target.references if r.target == owner]
        if collection.reference is None:
            if len(pointing) != 1:
                found = ", ".join(r.name for r in pointing) or "none"
                self.problem(where, f"{target.name} has {len(pointing)} references to {owner} ({found});"
                                    " name the one this collection follows with reference=")
                return None
            chosen = pointing[0]
        else:
            chosen = target.reference(collection.reference)
            if chosen is None or chosen.target != owner:
                names = [r.name for r in pointing]
                self.problem(where, f"{target.name} has no reference {collection.reference!r} to {owner}"
                                    f"{did_you_mean(collection.reference, names)}")
                return None
        for word in collection.order_by:
            name = word.lstrip("-")
            if target.attribute(name) is None:
                self.problem(where, f"order-by: {target.name} has no attribute {name!r}"
                                    f"{did_you_mean(name, [a.name for a in target.attributes])}")
        return chosen.name

    def _check_names(self, foreign_keys: dict[str, tuple[ForeignKeyPart, ...]]) -> None:
        seen: dict[str, Location] = {}
        members = [(a.name, a.where) for a in self.definition.attributes]
        members += [(r.name, r.where) for r in self.definition.references]
        members += [(p.key, r.where) for r in self.definition.references for p in foreign_keys[r.name]
                    if not p.shared]
        members += [(c.name, c.where) for c in self.definition.collections]
        for name, where in members:
            if name in RESERVED_NAMES:
                self.problem(where, f"{name!r} is a method of every business object; choose another name")
            elif name in seen:
                self.problem(where, f"{self.definition.name} already has a member named {name!r} ({seen[name]})")
            else:
                seen[name] = where

    def _check_columns(self, foreign_keys: dict[str, tuple[ForeignKeyPart, ...]]) -> None:
        seen: dict[str, str] = {}
        columns = [(a.column_name, a.name, a.where) for a in self.definition.attributes]
        columns += [(p.column, p.key, r.where) for r in self.definition.references for p in foreign_keys[r.name]
                    if not p.shared]
        for column, member, where in columns:
            other = seen.setdefault(column.lower(), member)
            if other != member:
                self.problem(where, f"{member} and {other} both map column {column!r} of table"
                                    f" {self.definition.table!r}")

    def _check_indexes(self, foreign_keys: dict[str, tuple[ForeignKeyPart, ...]]) -> None:
        names = [a.name for a in self.definition.attributes] + list(foreign_keys)
        for index in self.definition.members.indexes:
            for member in index.members:
                if member not in names:
                    self.problem(index.where, f"{self.definition.name} has no attribute or reference"
                                              f" {member!r}{did_you_mean(member, names)}")

    def _behaviour(self, behaviour: BehaviourDef) -> type | None:
        from caruso.config import import_object

        try:
            found = import_object(behaviour.spec, search_paths=self.search_paths)
        except CarusoError as exc:
            self.problem(behaviour.where, f"behaviour: {exc}")
            return None
        if not isinstance(found, type):
            self.problem(behaviour.where, f"behaviour {behaviour.spec!r} is a {type(found).__name__},"
                                          " not a class")
            return None
        members = {a.name for a in self.definition.attributes} | {r.name for r in self.definition.references}
        members |= {c.name for c in self.definition.collections}
        clashes = sorted(n for klass in found.__mro__[:-1] for n in vars(klass) if n in members)
        if clashes:
            also = "is also a member" if len(clashes) == 1 else "are also members"
            self.problem(behaviour.where, (
                f"behaviour {behaviour.spec!r} defines {', '.join(clashes)}, which {also} of"
                f" {self.definition.name} in the model; rename the method or the member"
            ))
        return found
