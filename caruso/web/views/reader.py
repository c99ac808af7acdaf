"""Reading view files: XML validated against ``caruso/schemas/views.dtd``, into view definitions.

The reader checks the form (the DTD, numbers that do not read, a name defined twice in
one file); whether the objects, attributes, collections and views named exist is the
catalog's job, because that needs the application's model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from caruso.bom.definitions import Location
from caruso.errors import DocumentError, Problem
from caruso.xml import Schema, describe, xml_files
from caruso.web.views.definitions import (
    Column, CompositeView, DetailView, Extension, FieldSpec, FilterSpec, FormView, ListView, Menu, MenuEntry,
    Part, Related, Section,
)

__all__ = ["read_views"]

SCHEMA = "views.dtd"


def read_views(paths: Iterable[str | Path]) -> tuple[list[Any], list[Problem]]:
    """Every view, menu and extension in the files and folders ``paths``, in order, and every
    problem found, each at file:line. A file with problems contributes nothing."""
    files, problems = xml_files(paths, kind="view")
    found: list[Any] = []
    for path in files:
        definitions, file_problems = _read_file(path)
        problems.extend(file_problems)
        if not file_problems:
            found.extend(definitions)
    return found, problems


def _read_file(path: Path) -> tuple[list[Any], list[Problem]]:
    schema = Schema.named(SCHEMA)
    try:
        tree = schema.parse(path)
    except DocumentError as exc:
        return [], list(exc.problems)
    reader = _Reader(schema)
    definitions = [reader.element(element) for element in tree.getroot() if isinstance(element.tag, str)]
    seen: dict[tuple[str, str], Location] = {}
    for definition in definitions:
        if isinstance(definition, Extension):
            continue
        key = ("menu" if isinstance(definition, Menu) else "view", definition.name)
        if key in seen:
            reader.problems.append(definition.where.problem(
                f"{key[0]} {definition.name!r} is already defined at line {seen[key].line} of this file"))
        seen.setdefault(key, definition.where)
    return definitions, reader.problems


class _Reader:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.problems: list[Problem] = []

    def element(self, element: etree._Element) -> Any:
        return getattr(self, "_" + element.tag.replace("-", "_"))(element)

    def _where(self, element: etree._Element) -> Location:
        return Location(element.base, element.sourceline, describe(element))

    def _text(self, element: etree._Element, name: str) -> str:
        return self.schema.get(element, name) or ""

    def _number(self, element: etree._Element, name: str) -> int:
        text = self.schema.get(element, name) or ""
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            self.problems.append(self._where(element).problem(f"{name}={text!r} is not a whole number of 1 or more"))
            return 1
        return value

    def _children(self, element: etree._Element, tag: str) -> tuple[Any, ...]:
        return tuple(self.element(child) for child in element.iterchildren(tag))

    # --- elements, by tag ----------------------------------------------------------

    def _list(self, element: etree._Element) -> ListView:
        search = element.find("search")
        return ListView(
            element.get("name"), element.get("object"), self._text(element, "title"),
            columns=self._children(element, "column"),
            search=tuple(search.get("attributes").split()) if search is not None else (),
            filters=self._children(element, "filter"),
            sort=tuple((element.get("sort") or "").replace(",", " ").split()),
            page_size=self._number(element, "page-size"),
            detail=element.get("detail"),
            where=self._where(element),
        )

    def _column(self, element: etree._Element) -> Column:
        return Column(element.get("attribute"), self._text(element, "label"), self._where(element))

    def _filter(self, element: etree._Element) -> FilterSpec:
        return FilterSpec(element.get("attribute"), self._text(element, "label"), self._where(element))

    def _field(self, element: etree._Element) -> FieldSpec:
        return FieldSpec(element.get("attribute"), self._text(element, "label"), self._text(element, "help"),
                         self.schema.get(element, "readonly") == "yes", self._where(element))

    def _related(self, element: etree._Element) -> Related:
        return Related(element.get("collection"), self._text(element, "title"), element.get("view"),
                       self._number(element, "limit"), self._where(element))

    def _section(self, element: etree._Element) -> Section:
        return Section(self._text(element, "title"), self._children(element, "field"),
                       self._children(element, "related"), self._where(element))

    def _detail(self, element: etree._Element) -> DetailView:
        return DetailView(element.get("name"), element.get("object"), self._text(element, "title"),
                          self._children(element, "section"), element.get("form"), self._where(element))

    def _form(self, element: etree._Element) -> FormView:
        return FormView(element.get("name"), element.get("object"), self._text(element, "title"),
                        self._children(element, "field"), self._where(element))

    def _part(self, element: etree._Element) -> Part:
        return Part(element.get("kind"), element.get("view"), element.get("collection"),
                    self._text(element, "title"), self._number(element, "limit"), self._where(element))

    def _composite(self, element: etree._Element) -> CompositeView:
        return CompositeView(element.get("name"), element.get("object"), self._text(element, "title"),
                             self._children(element, "part"), self._where(element))

    def _item(self, element: etree._Element) -> MenuEntry:
        return MenuEntry(element.get("view"), self._text(element, "label"), self._where(element))

    def _menu(self, element: etree._Element) -> Menu:
        return Menu(element.get("name"), element.get("label"), self._number(element, "order"),
                    self._children(element, "item"), self._where(element))

    def _extend(self, element: etree._Element) -> Extension:
        additions = tuple(self.element(child) for child in element if isinstance(child.tag, str))
        return Extension(element.get("view"), additions, self._where(element))
