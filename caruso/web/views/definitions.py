"""What a view file says, as plain values: the reader makes them, the catalog merges and
checks them, the view pages render them.

Every definition remembers where it was written (``where``, the bom's ``Location``), so a
view naming an unknown attribute is reported at its file and line.
"""

from __future__ import annotations

import re

import attrs

from caruso.bom.definitions import Location

__all__ = ["Column", "CompositeView", "DetailView", "Extension", "FieldSpec", "FilterSpec", "FormView",
           "ListView", "Menu", "MenuEntry", "Part", "Related", "Section", "View", "label_of", "slug"]

_CASE_CHANGE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def slug(object_name: str) -> str:
    """``ServiceRequest`` -> ``service-request``: the object's part of its default views' names."""
    return _CASE_CHANGE.sub("-", object_name).lower()


def label_of(attribute: str) -> str:
    """``customer_id`` -> ``Customer id``: the label of a field nobody named."""
    return attribute.replace("_", " ").capitalize()


@attrs.frozen
class _OfAttribute:
    """What names one attribute of the object, and may give it a label."""

    attribute: str
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or label_of(self.attribute)


@attrs.frozen
class Column(_OfAttribute):
    where: Location = Location()


@attrs.frozen
class FilterSpec(_OfAttribute):
    where: Location = Location()


@attrs.frozen
class FieldSpec(_OfAttribute):
    help: str = ""
    readonly: bool = False
    where: Location = Location()


@attrs.frozen
class Related:
    collection: str
    title: str = ""
    view: str | None = None
    limit: int = 20
    where: Location = Location()


@attrs.frozen
class Section:
    title: str = ""
    fields: tuple[FieldSpec, ...] = ()
    related: tuple[Related, ...] = ()
    where: Location = Location()


@attrs.frozen
class ListView:
    name: str
    object: str
    title: str = ""
    columns: tuple[Column, ...] = ()
    search: tuple[str, ...] = ()
    filters: tuple[FilterSpec, ...] = ()
    sort: tuple[str, ...] = ()
    page_size: int = 25
    detail: str | None = None
    where: Location = Location()
    kind = "list"


@attrs.frozen
class DetailView:
    name: str
    object: str
    title: str = ""
    sections: tuple[Section, ...] = ()
    form: str | None = None
    where: Location = Location()
    kind = "detail"


@attrs.frozen
class FormView:
    name: str
    object: str
    title: str = ""
    fields: tuple[FieldSpec, ...] = ()
    where: Location = Location()
    kind = "form"


@attrs.frozen
class Part:
    kind: str
    view: str | None = None
    collection: str | None = None
    title: str = ""
    limit: int = 20
    where: Location = Location()


@attrs.frozen
class CompositeView:
    name: str
    object: str
    title: str = ""
    parts: tuple[Part, ...] = ()
    where: Location = Location()
    kind = "composite"


@attrs.frozen
class MenuEntry:
    view: str
    label: str = ""
    where: Location = Location()


@attrs.frozen
class Menu:
    name: str
    label: str
    order: int = 50
    items: tuple[MenuEntry, ...] = ()
    where: Location = Location()
    kind = "menu"


View = ListView | DetailView | FormView | CompositeView


@attrs.frozen
class Extension:
    """``<extend view="...">``: what it adds, in file order, for the catalog to apply."""

    view: str
    additions: tuple[Column | FilterSpec | FieldSpec | Section | Related | Part | MenuEntry, ...]
    where: Location = Location()
