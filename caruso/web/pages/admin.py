"""The administrator's pages: the registered services with their health, replacing one while
the system runs, the ``caruso check`` findings, and the access log.

Replacing goes through the service manager's ``replace`` (the new implementation is
verified and started before callers switch to it, and the old one stays when that
fails), so the page can do nothing the Python API would not do. The implementation is
named as ``package.module:Class`` importable from the application folder or its
plugin folders, as in ``implementation`` of the descriptor; nothing is uploaded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from caruso.errors import CarusoError
from caruso.web.guard import Refused, guarded, web_of
from caruso.web.templating import MenuItem

__all__ = ["menu", "routes"]

ACTION = "admin"


def routes(web: Any) -> list[Route]:
    return [
        Route("/admin", services_page),
        Route("/admin/services/{name}/replace", replace, methods=["POST"]),
        Route("/admin/check", check_page),
        Route("/admin/log", log_page),
    ]


def menu(web: Any) -> list[MenuItem]:
    return [MenuItem("admin", "Administration", "/admin", lambda perms: perms.can(ACTION), order=90)]


def _service_rows(manager: Any) -> list[dict[str, Any]]:
    return [{"name": info.name, "state": info.state, "health": info.health, "implementation": info.implementation,
             "version": info.version or "-", "plugin": info.plugin or "-"} for info in manager]


@guarded(action=ACTION)
async def services_page(request: Request) -> Response:
    web = web_of(request)
    rows = await web.blocking(_service_rows, web.context.manager)
    return web.templates.render(request, "admin/services.html", title="Services", services=rows,
                                message=request.query_params.get("message", ""),
                                failed=request.query_params.get("failed", ""))


@guarded(action=ACTION)
async def replace(request: Request) -> Response:
    web = web_of(request)
    name = request.path_params["name"]
    path = str((await request.form()).get("implementation", "")).strip()
    if name == web.context.name:
        raise Refused(400, "the front office cannot replace itself while serving this page; "
                           "name an implementation in [services.web] and restart")
    try:
        info = await web.blocking(_replace, web, name, path)
    except CarusoError as exc:
        return RedirectResponse(f"/admin?failed={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/admin?message={quote(f'{name} now runs {info.implementation}')}", status_code=303)


def _replace(web: Any, name: str, path: str) -> Any:
    from caruso.config import import_object
    from caruso.errors import ServiceDefinitionError

    app = web.context.app
    factory = import_object(path, search_paths=(web.context.root, *app.config.plugins.folders))
    try:
        service = factory() if callable(factory) else factory
    except Exception as exc:
        raise ServiceDefinitionError(f"could not create {path!r}: {type(exc).__name__}: {exc}") from exc
    return web.context.manager.replace(name, service)


@guarded(action=ACTION)
async def check_page(request: Request) -> Response:
    web = web_of(request)
    problems = await web.blocking(web.context.app.check)
    return web.templates.render(request, "admin/check.html", title="Check", problems=problems,
                                descriptor=str(web.context.app.config.path))


@guarded(action=ACTION)
async def log_page(request: Request) -> Response:
    web = web_of(request)
    event = request.query_params.get("event") or None
    entries = await web.blocking(web.access.latest, limit=200, event=event)
    return web.templates.render(request, "admin/log.html", title="Access log", entries=entries, event=event or "",
                                events=web.access.EVENTS)
