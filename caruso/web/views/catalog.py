"""The views of one application: a default list, detail and form for every business object,
then every view file in order - the plugins' (``register_views`` hook), then the
application's ``views/`` - each replacing a view of the same name or extending one.

The same merge and the same checks run in ``caruso check`` (from the model files, nothing
started) and when the ``web`` service starts (from the running model), so a view naming an
attribute the object does not have is reported at its file:line either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.bom.definitions import Location, ObjectDef
from caruso.errors import Problem, did_you_mean
from caruso.plugins import contributed_paths
from caruso.web.views.definitions import (
    Column, CompositeView, DetailView, Extension, FieldSpec, FilterSpec, FormView, ListView, Menu, MenuEntry,
    Part, Related, Section, View, slug,
)
from caruso.web.views.reader import read_views

__all__ = ["DEFAULT_VIEWS", "ObjectFacts", "ViewCatalog", "check_application_views", "view_paths"]

DEFAULT_VIEWS = Path("views")
"""The application's own view folder, relative to the application folder."""

SEARCHABLE = ("string", "text", "enum")
HISTORY_OBJECT = "Customer"
"""The object whose records have a contact history (the ``history`` service keys it by customer)."""
_DEFAULT_COLUMNS = 6
_DEFAULT_SEARCH = 4


@attrs.frozen
class ObjectFacts:
    """What the views need to know of a business object: its definition, the attribute keys a
    record has (attributes and foreign-key keys, in order) and the keys the database generates."""

    definition: ObjectDef
    keys: tuple[str, ...]
    generated: tuple[str, ...] = ()

    @classmethod
    def of_class(cls, business_class: type) -> ObjectFacts:
        mapper = sa.inspect(business_class)
        return cls(business_class.__caruso__.definition, tuple(p.key for p in mapper.column_attrs),
                   tuple(c.key for c in mapper.columns if c.autoincrement is True))

    def type_of(self, key: str) -> str:
        attribute = self.definition.attribute(key)
        return attribute.type if attribute is not None else "key"

    def collection(self, name: str) -> Any:
        return next((c for c in self.definition.collections if c.name == name), None)


def view_paths(app: Any, configured: Sequence[Path], root: Path) -> list[Path]:
    """The view files and folders of an application, in the order they apply."""
    return contributed_paths(app, "register_views", configured, default=DEFAULT_VIEWS, root=root)


def check_application_views(app: Any, configured: Sequence[Path]) -> list[Problem]:
    """Problems in the application's view files for ``caruso check``, starting nothing."""
    from caruso.bom.service import resolved_models

    objects = {name: ObjectFacts(found.definition, tuple(found.columns), tuple(found.generated))
               for name, found in resolved_models(app).items()}
    _, problems = ViewCatalog.build(objects, view_paths(app, configured, app.root))
    return problems


class ViewCatalog:
    """Every view and menu by name, merged and checked."""

    def __init__(self, objects: Mapping[str, ObjectFacts], views: Mapping[str, View], menus: Mapping[str, Menu]):
        self.objects = dict(objects)
        self.views = dict(views)
        self.menus = sorted(menus.values(), key=lambda m: (m.order, m.name))

    @classmethod
    def build(cls, objects: Mapping[str, ObjectFacts], paths: Iterable[Path]) -> tuple[ViewCatalog, list[Problem]]:
        """The catalog of ``objects``' default views with the files ``paths`` applied, and every
        problem found. Views with problems stay in the catalog as written (the web service
        refuses to start when there is any problem)."""
        definitions, problems = read_views(paths)
        views: dict[str, View] = {}
        for name, facts in objects.items():
            for view in default_views(name, facts):
                views[view.name] = view
        menus: dict[str, Menu] = {}
        for definition in definitions:
            if isinstance(definition, Extension):
                problems.extend(_extend(definition, views, menus))
            elif isinstance(definition, Menu):
                menus[definition.name] = definition
            else:
                views[definition.name] = definition
        catalog = cls(objects, views, menus)
        problems.extend(_Checker(catalog).problems())
        return catalog, problems

    def get(self, name: str) -> View | None:
        return self.views.get(name)

    def list_of(self, obj: str) -> ListView:
        return self._named(f"{slug(obj)}-list", ListView)

    def detail_of(self, obj: str) -> DetailView | CompositeView:
        return self._named(f"{slug(obj)}-detail", (DetailView, CompositeView))

    def form_of(self, obj: str) -> FormView:
        return self._named(f"{slug(obj)}-form", FormView)

    def detail_for(self, view: ListView) -> DetailView | CompositeView:
        """The view a row of ``view`` opens."""
        return self.views[view.detail] if view.detail else self.detail_of(view.object)

    def form_for(self, view: DetailView | CompositeView) -> FormView:
        """The form the detail ``view``'s Edit button opens."""
        form = getattr(view, "form", None)
        return self.views[form] if form else self.form_of(view.object)

    def related_list(self, obj: str, related: Related | Part) -> ListView:
        """The list view whose columns show a collection of ``obj``."""
        if related.view:
            return self.views[related.view]
        return self.list_of(self.objects[obj].collection(related.collection).target)

    def _named(self, name: str, kind: Any) -> Any:
        view = self.views.get(name)
        if not isinstance(view, kind):
            raise LookupError(f"no view {name!r}")
        return view


# --- defaults ------------------------------------------------------------------------


def default_views(name: str, facts: ObjectFacts) -> list[View]:
    """A list, a detail and a form for ``name``: every object is usable before anyone writes a
    view. The list shows the key and the first short attributes, searches the first text
    attributes and filters by the enumerations and yes/no attributes."""
    base = slug(name)
    where = Location(element=f"the default views of {name}")
    definition = facts.definition
    short = [key for key in facts.keys if facts.type_of(key) not in ("text", "json")]
    keys = [a.name for a in definition.primary_key]
    columns = keys + [key for key in short if key not in keys][:_DEFAULT_COLUMNS - len(keys)]
    search = [a.name for a in definition.attributes if a.type in ("string", "text") and not a.primary_key]
    filters = [a.name for a in definition.attributes if a.type in ("enum", "boolean")]
    related = tuple(Related(c.name, limit=20, where=where) for c in definition.collections)
    title = definition.description.split(".")[0] if definition.description else name
    return [
        ListView(f"{base}-list", name, name, tuple(Column(c, where=where) for c in columns),
                 tuple(search[:_DEFAULT_SEARCH]), tuple(FilterSpec(f, where=where) for f in filters[:3]),
                 where=where),
        DetailView(f"{base}-detail", name, title,
                   (Section("", tuple(FieldSpec(k, where=where) for k in facts.keys), related, where),), where=where),
        FormView(f"{base}-form", name, name,
                 tuple(FieldSpec(k, where=where) for k in facts.keys if k not in facts.generated), where),
    ]


# --- extensions ----------------------------------------------------------------------

_EXTENDS = {
    ListView: {Column: "columns", FilterSpec: "filters"},
    DetailView: {Section: "sections"},
    FormView: {FieldSpec: "fields"},
    CompositeView: {Part: "parts"},
    Menu: {MenuEntry: "items"},
}


def _extend(extension: Extension, views: dict[str, View], menus: dict[str, Menu]) -> list[Problem]:
    target = views.get(extension.view) or menus.get(extension.view)
    if target is None:
        return [extension.where.problem(
            f"no view {extension.view!r} to extend{did_you_mean(extension.view, [*views, *menus])}")]
    problems = []
    for addition in extension.additions:
        if isinstance(target, DetailView) and isinstance(addition, FieldSpec | Related):
            last = target.sections[-1]
            member = "fields" if isinstance(addition, FieldSpec) else "related"
            target = attrs.evolve(target, sections=(
                *target.sections[:-1], attrs.evolve(last, **{member: (*getattr(last, member), addition)})))
            continue
        member = _EXTENDS[type(target)].get(type(addition))
        if member is None:
            kind = "menu" if isinstance(target, Menu) else f"{target.kind} view"
            problems.append(addition.where.problem(f"cannot be added to {extension.view!r}, a {kind}"))
            continue
        target = attrs.evolve(target, **{member: (*getattr(target, member), addition)})
    (menus if isinstance(target, Menu) else views)[target.name] = target
    return problems


# --- checks --------------------------------------------------------------------------


class _Checker:
    """Whether every view means something in the model; see docs/views.md#checks."""

    def __init__(self, catalog: ViewCatalog):
        self.catalog = catalog
        self.found: list[Problem] = []

    def problems(self) -> list[Problem]:
        for view in self.catalog.views.values():
            facts = self.catalog.objects.get(view.object)
            if facts is None:
                self._problem(view.where, f"no business object {view.object!r}"
                                          f"{did_you_mean(view.object, self.catalog.objects)}")
                continue
            getattr(self, "_" + view.kind)(view, facts)
        for menu in self.catalog.menus:
            for item in menu.items:
                self._view(item.where, item.view, ListView, None, "a menu item opens a list view")
        return self.found

    def _problem(self, where: Location, message: str) -> None:
        self.found.append(where.problem(message))

    def _attribute(self, where: Location, facts: ObjectFacts, key: str) -> bool:
        if key in facts.keys:
            return True
        self._problem(where, f"{facts.definition.name} has no attribute {key!r}{did_you_mean(key, facts.keys)}")
        return False

    def _view(self, where: Location, name: str | None, kind: Any, obj: str | None, what: str) -> None:
        """``name`` must be a view of ``kind`` (showing ``obj`` when given)."""
        if name is None:
            return
        view = self.catalog.views.get(name)
        if view is None:
            self._problem(where, f"no view {name!r}{did_you_mean(name, self.catalog.views)}")
        elif not isinstance(view, kind):
            self._problem(where, f"{what}; {name!r} is a {view.kind} view")
        elif obj is not None and view.object != obj:
            self._problem(where, f"{what} of {obj}; {name!r} shows {view.object}")

    def _collection(self, where: Location, facts: ObjectFacts, related: Related | Part) -> None:
        name = related.collection
        collection = facts.collection(name) if name else None
        if collection is None:
            known = [c.name for c in facts.definition.collections]
            self._problem(where, f"{facts.definition.name} has no collection {name!r}{did_you_mean(name, known)}")
            return
        self._view(where, related.view, ListView, collection.target, "a collection is shown by a list view")

    def _list(self, view: ListView, facts: ObjectFacts) -> None:
        for column in view.columns:
            self._attribute(column.where, facts, column.attribute)
        for key in view.search:
            if self._attribute(view.where, facts, key) and facts.type_of(key) not in SEARCHABLE:
                self._problem(view.where, f"search looks in text; {view.object}.{key} is {facts.type_of(key)}")
        for spec in view.filters:
            self._attribute(spec.where, facts, spec.attribute)
        for key in view.sort:
            self._attribute(view.where, facts, key.lstrip("-"))
        self._view(view.where, view.detail, (DetailView, CompositeView), view.object, "a row opens a detail view")

    def _detail(self, view: DetailView, facts: ObjectFacts) -> None:
        for section in view.sections:
            for spec in section.fields:
                self._attribute(spec.where, facts, spec.attribute)
            for related in section.related:
                self._collection(related.where, facts, related)
        self._view(view.where, view.form, FormView, view.object, "the Edit button opens a form")

    def _form(self, view: FormView, facts: ObjectFacts) -> None:
        for spec in view.fields:
            if self._attribute(spec.where, facts, spec.attribute) and spec.attribute in facts.generated \
                    and not spec.readonly:
                self._problem(spec.where, f"{view.object}.{spec.attribute} is generated by the database; "
                                          'a form shows it only with readonly="yes"')

    def _composite(self, view: CompositeView, facts: ObjectFacts) -> None:
        for part in view.parts:
            if part.kind == "detail" and part.view is None:
                self._problem(part.where, 'a detail part names the detail view it shows: view="..."')
            elif part.kind == "detail":
                self._view(part.where, part.view, DetailView, view.object, "a detail part shows a detail view")
            elif part.kind == "related":
                self._collection(part.where, facts, part)
            elif part.kind == "history" and view.object != HISTORY_OBJECT:
                self._problem(part.where, f"the contact history belongs to a {HISTORY_OBJECT}; "
                                          f"this view shows {view.object}")
