"""The Starlette application: the middleware, every page module's routes, the error pages.

Page modules (``PAGES``) each have ``routes(web)`` and may have ``menu(web)``; they
reach the running services through ``web`` (``caruso.web.service.WebService``). The
chat channel's own application is mounted at ``/chat`` when the chat service runs,
so customers and agents reach it on the front office's address.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from caruso.errors import DatabaseUnavailable
from caruso.web.guard import Refused, SessionMiddleware, address_of, is_api, permissions
from caruso.web.security import BodyLimit

__all__ = ["PAGES", "build_app"]

PAGES = (
    "caruso.web.pages.auth",
    "caruso.web.pages.views",
    "caruso.web.pages.desktop",
    "caruso.web.pages.supervisor",
    "caruso.web.pages.admin",
    "caruso.web.pages.selfservice",
    "caruso.web.pages.api",
)


def build_app(web: Any) -> Starlette:
    """The front office of the running ``web`` service."""
    routes: list[Any] = []
    for name in PAGES:
        module = importlib.import_module(name)
        routes.extend(module.routes(web))
        if hasattr(module, "menu"):
            web.templates.add_menu(module.menu(web))
    routes.append(Mount("/static", StaticFiles(packages=[("caruso.web", "static")]), name="static"))
    chat = web.optional_service("chat")
    if chat is not None and getattr(chat, "asgi", None) is not None:
        routes.append(Mount("/chat", chat.asgi, name="chat"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BodyLimit, limit=web.config.max_body), Middleware(SessionMiddleware, web=web)],
        exception_handlers={Refused: _refused, HTTPException: _http_error, DatabaseUnavailable: _database_down},
    )
    app.state.web = web
    return app


async def _refused(request: Request, exc: Refused) -> Response:
    web = request.app.state.web
    if exc.event is not None:
        perms = permissions(request)
        detail = request.scope.get("caruso.refused", exc.message)
        await web.blocking(web.access.record, exc.event, user=perms.user.name if perms.user else None,
                           address=address_of(request), path=request.url.path, detail=str(detail))
    return _error(request, exc.status, exc.message)


async def _database_down(request: Request, exc: DatabaseUnavailable) -> Response:
    return _error(request, 503, f"the database cannot be reached; try again in a moment ({exc})")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error(request, exc.status_code, exc.detail)


def _error(request: Request, status: int, message: str) -> Response:
    if is_api(request) or "text/html" not in request.headers.get("accept", "text/html"):
        return JSONResponse({"error": message}, status_code=status)
    return request.app.state.web.templates.render(request, "error.html", status=status,
                                                  status_code=status, message=message)
