"""Pages are jinja2 templates with autoescape on: a ``<script>`` in a customer's name is text.

An application may override any template by putting one of the same name in its
``templates/`` folder; the base template gives every page the menu its user may
see and the CSRF token its forms need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["MenuItem", "Templates"]


@attrs.frozen
class MenuItem:
    """One entry of the menu: shown when the user's roles list its ``id`` in ``menus`` and
    ``allowed`` (given the user's ``Permissions``) holds. Entries with a ``group`` are shown
    together under that heading (a view file's menu)."""

    id: str
    label: str
    url: str
    allowed: Callable[[Any], bool] = lambda perms: perms.logged_in
    order: int = 50
    group: str = ""


class Templates:
    """The jinja2 environment of the front office and the menu every page shows."""

    def __init__(self, folders: Sequence[Path] = ()):
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()])]
        loaders.append(jinja2.PackageLoader("caruso.web", "templates"))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["when"] = _when
        self.env.filters["cell"] = _cell
        self.menu: list[MenuItem] = []

    def add_menu(self, items: Sequence[MenuItem]) -> None:
        self.menu = sorted([*self.menu, *items], key=lambda item: (item.order, item.label))

    def render(self, request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        from caruso.web.guard import permissions, session_of

        perms = permissions(request)
        menu = _grouped(item for item in self.menu if perms.sees_menu(item.id) and item.allowed(perms))
        context.setdefault("title", "Caruso")
        page = self.env.get_template(name).render(
            request=request, perms=perms, user=perms.user, csrf=session_of(request).csrf,
            menu=menu, path=request.url.path, **context)
        return HTMLResponse(page, status_code=status)


def _grouped(items: Any) -> list[tuple[str, list[MenuItem]]]:
    """The menu as (heading, entries), in order: a page's own entry has no heading; the
    entries of one view-file menu share theirs, where its first entry stands."""
    groups: list[tuple[str, list[MenuItem]]] = []
    index: dict[str, list[MenuItem]] = {}
    for item in items:
        if item.group and item.group in index:
            index[item.group].append(item)
            continue
        entries = [item]
        groups.append((item.group, entries))
        if item.group:
            index[item.group] = entries
    return groups


def _when(epoch: float) -> str:
    """Epoch seconds (how the event log and the history keep time) as UTC minutes."""
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cell(value: Any) -> str:
    """A business object's value as a page shows it: nothing for None, yes/no, dates as written
    in a model file, moments to the minute."""
    import datetime as dt

    from caruso.bom.values import to_text

    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return to_text(value) or ""
