"""The declared views as pages: lists, detail pages, forms and composite pages such as the
customer's 360-degree view (``/v/VIEW``, ``/v/VIEW/KEY``, ``/v/FORM/new``), and each
object's default pages (``/o/OBJECT``, ``/o/OBJECT/KEY``).

What a page shows comes from the view catalog (``web.views``, docs/views.md); what the
user may see and change comes from ``Records``, which applies the role and the record
rules - so a view cannot show a record the user may not read, whatever it declares.
The desktop loads a composite view into its panel with ``?fragment=1``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from caruso.bom.values import to_text
from caruso.web.guard import Refused, deny, guarded, permissions, web_of
from caruso.web.records import FieldErrors, Records, fields_of
from caruso.web.templating import MenuItem
from caruso.web.views import CompositeView, DetailView, FormView, ListView
from caruso.web.views.definitions import Related

__all__ = ["menu", "routes"]

NEW = "new"
"""The key in a form's address that creates a record instead of changing one."""


def routes(web: Any) -> list[Route]:
    return [
        Route("/o/{object}", object_list),
        Route("/o/{object}/{key}", object_detail),
        Route("/v/{view}", list_page),
        Route("/v/{view}/{key}", record_page, methods=["GET", "POST"]),
    ]


def menu(web: Any) -> list[MenuItem]:
    """The view files' menus: an item shows when the role sees the menu, may open the view and
    may read its object."""
    items = []
    for group in web.views.menus:
        for order, entry in enumerate(group.items):
            view = web.views.get(entry.view)
            items.append(MenuItem(
                group.name, entry.label or view.title or view.name, f"/v/{view.name}",
                lambda perms, view=view: perms.can_view(view.name) and perms.can_read(view.object),
                order=group.order * 100 + order, group=group.label))
    return items


def _view(request: Request, kinds: Any) -> Any:
    """The view the address names, when it is of ``kinds`` and the user's role may open it."""
    name = request.path_params["view"]
    view = web_of(request).views.get(name)
    if not isinstance(view, kinds):
        raise Refused(404, f"no view {name!r}")
    if not permissions(request).can_view(name):
        deny(request, f"the view {name}")
    return view


# --- the object's default pages --------------------------------------------------------


@guarded()
async def object_list(request: Request) -> Response:
    catalog = web_of(request).views
    try:
        view = catalog.list_of(request.path_params["object"])
    except LookupError:
        raise Refused(404, f"no business object {request.path_params['object']!r}") from None
    return RedirectResponse(f"/v/{view.name}", status_code=303)


@guarded()
async def object_detail(request: Request) -> Response:
    catalog = web_of(request).views
    try:
        view = catalog.detail_of(request.path_params["object"])
    except LookupError:
        raise Refused(404, f"no business object {request.path_params['object']!r}") from None
    return RedirectResponse(f"/v/{view.name}/{request.path_params['key']}", status_code=303)


# --- lists -----------------------------------------------------------------------------


@guarded()
async def list_page(request: Request) -> Response:
    web = web_of(request)
    view: ListView = _view(request, ListView)
    query = request.query_params
    filters = {spec.attribute: query[spec.attribute] for spec in view.filters if query.get(spec.attribute)}
    sort = query.get("sort", "")
    if sort.lstrip("-") not in {c.attribute for c in view.columns}:
        sort = ""
    try:
        page_number = max(1, int(query.get("page", "1")))
    except ValueError:
        page_number = 1
    records = Records(request)
    cls = records.object_class(view.object)
    errors: dict[str, str] = {}
    try:
        page = await web.blocking(records.list, view.object, search=query.get("q", ""), search_in=view.search,
                                  filters=filters, sort=[sort] if sort else view.sort,
                                  offset=(page_number - 1) * view.page_size, limit=view.page_size)
    except FieldErrors as exc:
        page, errors = None, exc.errors
    catalog = web.views
    detail = catalog.detail_for(view)
    fields = fields_of(cls)
    state = {"q": query.get("q", ""), "sort": sort, **filters}

    def address(**changes: Any) -> str:
        """This list's address with some of its search, filters, order or page changed."""
        return f"/v/{view.name}?" + urlencode({k: v for k, v in {**state, **changes}.items() if v})

    def sort_link(attribute: str) -> str:
        """A column heading's link: sorted by it, or the other way round when it already is."""
        return address(sort=("-" if sort == attribute else "") + attribute, page="")

    return web.templates.render(
        request, "views/list.html", status=422 if errors else 200, title=view.title or view.name, view=view,
        page=page, page_number=page_number, errors=errors, fields=fields, state=state,
        link=lambda row: f"/v/{detail.name}/{Records.key_text(cls, row)}",
        address=address, sort_link=sort_link,
        form=_form_address(catalog, view.object, permissions(request)))


def _form_address(catalog: Any, obj: str, perms: Any) -> str | None:
    """Where "New" and "Edit" lead, when the user may write the object and may open its form."""
    try:
        form = catalog.form_of(obj)
    except LookupError:
        return None
    return f"/v/{form.name}" if perms.can_write(obj) and perms.can_view(form.name) else None


# --- one record --------------------------------------------------------------------------


@guarded()
async def record_page(request: Request) -> Response:
    view = _view(request, (DetailView, CompositeView, FormView))
    if isinstance(view, FormView):
        return await _form_page(request, view)
    if request.method != "GET":
        raise Refused(405, "a detail page is read-only; change the record through its form")
    return await _detail_page(request, view)


async def _detail_page(request: Request, view: DetailView | CompositeView) -> Response:
    web = web_of(request)
    catalog = web.views
    key = request.path_params["key"]
    records = Records(request)
    cls = records.object_class(view.object)
    parts = _parts(catalog, view)
    wanted = {related.collection: related.limit for part in parts for related in part["related"]}
    history_limit = max((p["limit"] for p in parts if p["kind"] == "history"), default=None)

    def load() -> tuple[Any, Any, Any]:  # one trip to the worker threads for the whole page
        record, collections = records.with_related(view.object, key, wanted)
        history = _history(web, key, history_limit) if history_limit is not None else None
        return record, collections, history

    record, collections, history = await web.blocking(load)
    lists = {related.collection: _related_table(catalog, view.object, related) for part in parts
             for related in part["related"]}
    template = "views/detail-fragment.html" if request.query_params.get("fragment") else "views/detail.html"
    title = str(record.get("name") or f"{view.title or view.object} {key}")
    return web.templates.render(
        request, template, title=title, view=view, parts=parts, record=record, key=key,
        collections=collections, lists=lists, history=history, fields=fields_of(cls),
        edit=_form_address(catalog, view.object, permissions(request)))


def _parts(catalog: Any, view: DetailView | CompositeView) -> list[dict[str, Any]]:
    """What a detail or composite page shows, in order: sections of fields, related records
    (collections) and the contact history - one shape for both kinds of view."""
    if isinstance(view, DetailView):
        return [_section(s) for s in view.sections]
    found: list[dict[str, Any]] = []
    shown = {part.collection for part in view.parts if part.kind == "related"}
    shown |= {r.collection for part in view.parts if part.kind == "detail"
              for s in catalog.get(part.view).sections for r in s.related}
    for part in view.parts:
        if part.kind == "detail":
            found.extend(_section(s) for s in catalog.get(part.view).sections)
        elif part.kind == "related":
            found.append({"kind": "section", "title": "", "fields": (), "related": (part,), "limit": part.limit})
        elif part.kind == "collections":
            definition = catalog.objects[view.object].definition
            others = tuple(Related(c.name, limit=part.limit) for c in definition.collections if c.name not in shown)
            found.append({"kind": "section", "title": part.title, "fields": (), "related": others,
                          "limit": part.limit})
        else:
            found.append({"kind": "history", "title": part.title or "Contact history", "fields": (),
                          "related": (), "limit": part.limit})
    return found


def _section(section: Any) -> dict[str, Any]:
    return {"kind": "section", "title": section.title, "fields": section.fields, "related": section.related,
            "limit": 0}


def _related_table(catalog: Any, obj: str, related: Any) -> dict[str, Any]:
    """The columns and row links of one collection shown on a record's page."""
    listing = catalog.related_list(obj, related)
    target = catalog.objects[listing.object]
    detail = catalog.detail_for(listing)
    keys = [a.name for a in target.definition.primary_key]
    return {"title": related.title or related.collection.replace("_", " ").capitalize(),
            "columns": listing.columns, "detail": detail.name,
            "link": lambda row: f"/v/{detail.name}/" + ",".join(str(row[k]) for k in keys)}


def _history(web: Any, key: str, limit: int) -> list[Any]:
    history = web.optional_service("history")
    return list(reversed(history.for_customer(key, limit=limit))) if history is not None else []


# --- forms -------------------------------------------------------------------------------


async def _form_page(request: Request, view: FormView) -> Response:
    web = web_of(request)
    key = request.path_params["key"]
    records = Records(request)
    cls = records.object_class(view.object, write=request.method == "POST")
    fields = fields_of(cls)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {spec.attribute: str(form.get(spec.attribute, "")) for spec in view.fields if not spec.readonly}
        try:
            if key == NEW:
                saved = await web.blocking(records.create, view.object, values)
            else:
                saved = await web.blocking(records.update, view.object, key, values)
        except FieldErrors as exc:
            errors, shown = exc.errors, values
        else:
            detail = web.views.detail_of(view.object)
            return RedirectResponse(f"/v/{detail.name}/{Records.key_text(cls, saved)}", status_code=303)
    else:
        if not permissions(request).can_write(view.object):
            deny(request, f"changing {view.object}")
        record = {} if key == NEW else await web.blocking(records.get, view.object, key)
        shown = {name: to_text(value) or "" for name, value in record.items()}
    title = f"New {view.title or view.object}" if key == NEW else f"{view.title or view.object} {key}"
    return web.templates.render(request, "views/form.html", status=422 if errors else 200, title=title,
                                view=view, key=key, fields=fields, values=shown, errors=errors,
                                other_errors={k: v for k, v in errors.items()
                                              if k not in {s.attribute for s in view.fields}})
