"""What a model file says, as plain values, before anything is mapped.

The reader turns XML into these; the resolver applies extensions and checks
them against each other; the mapper builds tables and classes from the result.
Every definition remembers where it was written (``where``) so that a problem
found at any stage points at file:line.
"""

from __future__ import annotations

import attrs

from caruso.errors import Problem

TYPE_NAMES = ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "json", "enum")
ON_DELETE = ("restrict", "cascade", "set-null")
RULE_KINDS = ("range", "pattern", "allowed", "required")


@attrs.frozen
class Location:
    """Where a definition was written: the file, the line and the element as written."""

    file: str | None = None
    line: int | None = None
    element: str = ""

    def problem(self, message: str) -> Problem:
        """A Problem at this place, naming the element."""
        prefix = f"{self.element}: " if self.element else ""
        return Problem(self.file, self.line, prefix + message)

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or "?"


@attrs.frozen
class AttributeDef:
    """One attribute (one column) with its portable type and column facts."""

    name: str
    type: str
    column: str | None = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: str | None = None
    primary_key: bool = False
    generated: bool | None = None
    description: str = ""
    where: Location = Location()

    @property
    def column_name(self) -> str:
        return self.column or self.name


@attrs.frozen
class ReferenceDef:
    """A many-to-one reference to another object, held in one or more foreign-key columns."""

    name: str
    target: str
    columns: tuple[str, ...] = ()
    required: bool = False
    indexed: bool = True
    on_delete: str = "restrict"
    description: str = ""
    where: Location = Location()


@attrs.frozen
class CollectionDef:
    """A one-to-many collection: the objects whose ``reference`` points here."""

    name: str
    target: str
    reference: str | None = None
    order_by: tuple[str, ...] = ()
    description: str = ""
    where: Location = Location()


@attrs.frozen
class IndexDef:
    """An index over several attributes or references, in order."""

    members: tuple[str, ...]
    unique: bool = False
    name: str | None = None
    where: Location = Location()


@attrs.frozen
class RuleDef:
    """A validation rule on one attribute; ``options`` holds min/max, regex or values as written."""

    kind: str
    attribute: str
    options: dict[str, object] = attrs.field(factory=dict)
    message: str | None = None
    where: Location = Location()


@attrs.frozen
class BehaviourDef:
    """A behaviour class named as "package.module:Class", and where it was named."""

    spec: str
    where: Location = Location()


@attrs.frozen
class Members:
    """What an object or an extension contributes: the parts an extension may add to."""

    attributes: tuple[AttributeDef, ...] = ()
    references: tuple[ReferenceDef, ...] = ()
    collections: tuple[CollectionDef, ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    rules: tuple[RuleDef, ...] = ()

    def __add__(self, other: Members) -> Members:
        return Members(
            self.attributes + other.attributes,
            self.references + other.references,
            self.collections + other.collections,
            self.indexes + other.indexes,
            self.rules + other.rules,
        )


@attrs.frozen
class ObjectDef:
    """A business object: a class over a table, with its members and behaviours.

    ``behaviours`` run from the first named (the defining model) to the last
    (the latest extension); the class puts the last one first in its MRO so a
    later plugin overrides an earlier one.
    """

    name: str
    table: str
    members: Members = Members()
    schema: str | None = None
    legacy: bool = False
    auditable: bool = False
    behaviours: tuple[BehaviourDef, ...] = ()
    description: str = ""
    where: Location = Location()

    @property
    def attributes(self) -> tuple[AttributeDef, ...]:
        return self.members.attributes

    @property
    def references(self) -> tuple[ReferenceDef, ...]:
        return self.members.references

    @property
    def collections(self) -> tuple[CollectionDef, ...]:
        return self.members.collections

    @property
    def primary_key(self) -> tuple[AttributeDef, ...]:
        return tuple(a for a in self.attributes if a.primary_key)

    def attribute(self, name: str) -> AttributeDef | None:
        return next((a for a in self.attributes if a.name == name), None)

    def reference(self, name: str) -> ReferenceDef | None:
        return next((r for r in self.references if r.name == name), None)


@attrs.frozen
class ExtensionDef:
    """``<extend object="...">``: members and a behaviour added to another model's object."""

    target: str
    members: Members = Members()
    auditable: bool | None = None
    behaviour: BehaviourDef | None = None
    where: Location = Location()


@attrs.frozen
class ModelFile:
    """One model file as read: its objects and extensions, in file order."""

    path: str
    objects: tuple[ObjectDef, ...] = ()
    extensions: tuple[ExtensionDef, ...] = ()
