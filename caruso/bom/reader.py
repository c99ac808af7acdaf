"""Reading model files: safe XML, validated against ``bom.dtd``, into definitions.

The DTD catches the shape (unknown elements, missing names, bad flag values);
this module catches what a DTD cannot say (a length that is not a number, a
name that is not an identifier) and keeps going, so one run reports every
problem of every file.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from caruso.bom.definitions import (
    AttributeDef,
    BehaviourDef,
    CollectionDef,
    ExtensionDef,
    IndexDef,
    Location,
    Members,
    ModelFile,
    ObjectDef,
    ReferenceDef,
    RuleDef,
)
from caruso.bom.naming import snake_case
from caruso.errors import DocumentError, Problem
from caruso.xml import Schema, describe, xml_files

__all__ = ["model_files", "read_model_file", "read_models"]

_SEPARATORS = re.compile(r"[\s,]+")


def model_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """The model files named by ``paths``: files as given, folders as their ``*.xml`` sorted by name."""
    return xml_files(paths, kind="model")


def read_models(paths: Iterable[Path]) -> tuple[list[ModelFile], list[Problem]]:
    """Read every model file under ``paths``, in order, collecting every problem."""
    files, problems = model_files(paths)
    models: list[ModelFile] = []
    for path in files:
        model, found = read_model_file(path)
        problems.extend(found)
        if model is not None:
            models.append(model)
    return models, problems


def read_model_file(
    source: Path | str | bytes, *, filename: str | None = None
) -> tuple[ModelFile | None, list[Problem]]:
    """One model file as definitions, with the problems found; None when it cannot be parsed."""
    schema = Schema.named("bom.dtd")
    try:
        tree = schema.parse(source, filename=filename)
    except DocumentError as exc:
        return None, list(exc.problems)
    reader = _FileReader(schema)
    root = tree.getroot()
    objects = tuple(reader.object(e) for e in root.iterchildren("object"))
    extensions = tuple(reader.extension(e) for e in root.iterchildren("extend"))
    return ModelFile(str(root.base), objects, extensions), reader.problems


class _FileReader:
    """Turns validated elements into definitions, noting problems as it goes."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.problems: list[Problem] = []

    def object(self, element: etree._Element) -> ObjectDef:
        name = self._identifier(element, "name", capitalised=True)
        behaviour = self._get(element, "behaviour")
        where = self._where(element)
        return ObjectDef(
            name=name,
            table=self._get(element, "table") or snake_case(name),
            schema=self._get(element, "schema"),
            legacy=self._flag(element, "legacy"),
            auditable=self._flag(element, "auditable"),
            behaviours=(BehaviourDef(behaviour, where),) if behaviour else (),
            members=self._members(element),
            description=_description(element),
            where=where,
        )

    def extension(self, element: etree._Element) -> ExtensionDef:
        behaviour = self._get(element, "behaviour")
        auditable = self._get(element, "auditable")
        where = self._where(element)
        return ExtensionDef(
            target=self._get(element, "object"),
            members=self._members(element),
            auditable=None if auditable is None else auditable == "yes",
            behaviour=BehaviourDef(behaviour, where) if behaviour else None,
            where=where,
        )

    def _members(self, parent: etree._Element) -> Members:
        readers = {
            "attribute": self._attribute,
            "reference": self._reference,
            "collection": self._collection,
            "index": self._index,
        }
        found: dict[str, list] = {kind: [] for kind in (*readers, "rule")}
        for child in parent.iterchildren(tag=etree.Element):
            if child.tag in readers:
                found[child.tag].append(readers[child.tag](child))
            elif child.tag in ("range", "pattern", "allowed", "required"):
                found["rule"].append(self._rule(child))
        return Members(
            tuple(found["attribute"]),
            tuple(found["reference"]),
            tuple(found["collection"]),
            tuple(found["index"]),
            tuple(found["rule"]),
        )

    def _attribute(self, element: etree._Element) -> AttributeDef:
        generated = self._get(element, "generated")
        return AttributeDef(
            name=self._identifier(element, "name"),
            type=self._get(element, "type"),
            column=self._get(element, "column"),
            length=self._number(element, "length"),
            precision=self._number(element, "precision"),
            scale=self._number(element, "scale", minimum=0),
            values=_values(element),
            required=self._flag(element, "required"),
            unique=self._flag(element, "unique"),
            indexed=self._flag(element, "indexed"),
            default=self._get(element, "default"),
            primary_key=self._flag(element, "primary-key"),
            generated=None if generated is None else generated == "yes",
            description=_description(element),
            where=self._where(element),
        )

    def _reference(self, element: etree._Element) -> ReferenceDef:
        return ReferenceDef(
            name=self._identifier(element, "name"),
            target=self._get(element, "object"),
            columns=_words(element.get("column")),
            required=self._flag(element, "required"),
            indexed=self._flag(element, "indexed"),
            on_delete=self._get(element, "on-delete"),
            description=_description(element),
            where=self._where(element),
        )

    def _collection(self, element: etree._Element) -> CollectionDef:
        return CollectionDef(
            name=self._identifier(element, "name"),
            target=self._get(element, "object"),
            reference=self._get(element, "reference"),
            order_by=_words(element.get("order-by")),
            description=_description(element),
            where=self._where(element),
        )

    def _index(self, element: etree._Element) -> IndexDef:
        members = _words(element.get("attributes"))
        if not members:
            self.problems.append(self._where(element).problem("attributes lists no attribute"))
        return IndexDef(members, self._flag(element, "unique"), self._get(element, "name"), self._where(element))

    def _rule(self, element: etree._Element) -> RuleDef:
        options: dict[str, object] = {}
        if element.tag == "range":
            options = {k: element.get(k) for k in ("min", "max") if element.get(k) is not None}
            if not options:
                self.problems.append(self._where(element).problem("a range needs min, max or both"))
        elif element.tag == "pattern":
            options = {"regex": element.get("regex")}
        elif element.tag == "allowed":
            options = {"values": _values(element)}
        return RuleDef(element.tag, self._get(element, "attribute"), options, element.get("message"),
                       self._where(element))

    def _get(self, element: etree._Element, name: str) -> str | None:
        return self.schema.get(element, name)

    def _flag(self, element: etree._Element, name: str) -> bool:
        return self._get(element, name) == "yes"

    def _number(self, element: etree._Element, name: str, *, minimum: int = 1) -> int | None:
        text = element.get(name)
        if text is None:
            return None
        if not text.isdigit() or int(text) < minimum:
            self.problems.append(self._where(element).problem(
                f"{name}={text!r} is not a whole number of at least {minimum}"
            ))
            return None
        return int(text)

    def _identifier(self, element: etree._Element, attribute: str, *, capitalised: bool = False) -> str:
        name = element.get(attribute) or ""
        wrong = None
        if not name.isidentifier() or keyword.iskeyword(name):
            wrong = "is not a Python identifier (letters, digits and _, not starting with a digit)"
        elif name.startswith("_"):
            wrong = "starts with _, which is reserved for Caruso and SQLAlchemy"
        elif capitalised and not name[0].isupper():
            wrong = f"should start with a capital letter, like a class ({name[0].upper() + name[1:]})"
        if wrong:
            self.problems.append(self._where(element).problem(f"{attribute} {name!r} {wrong}"))
        return name

    @staticmethod
    def _where(element: etree._Element) -> Location:
        return Location(element.base, element.sourceline, describe(element))


def _words(text: str | None) -> tuple[str, ...]:
    """Names separated by spaces or commas, as several model attributes list them."""
    return tuple(w for w in _SEPARATORS.split(text or "") if w)


def _values(element: etree._Element) -> tuple[str, ...]:
    return tuple((v.text or "").strip() for v in element.iterchildren("value"))


def _description(element: etree._Element) -> str:
    found = element.find("description")
    return " ".join((found.text or "").split()) if found is not None else ""
