"""Logging in and out, and the start page that sends each user to their role's portal."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from caruso.web.guard import address_of, guarded, login_as, logout, permissions, web_of

__all__ = ["routes"]


def routes(web: Any) -> list[Route]:
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout_now, methods=["POST"]),
    ]


@guarded()
async def home(request: Request) -> Response:
    portal = permissions(request).portal
    if portal and portal != "/":
        return RedirectResponse(portal, status_code=303)
    return web_of(request).templates.render(request, "home.html", title="Caruso")


@guarded(login=False)
async def login_page(request: Request) -> Response:
    return _login_form(request, next_url=request.query_params.get("next", ""))


@guarded(login=False)
async def login(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()[:100]
    password = str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "")))
    address = address_of(request) or "?"
    keys = (f"user:{name.lower()}", f"address:{address}")
    wait = web.throttle.retry_after(*keys)
    if wait > 0:
        await web.blocking(web.access.record, "login-throttled", user=name, address=address, path="/login")
        response = _login_form(request, next_url=next_url, status=429,
                               error=f"Too many failed logins; try again in {int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    user = await web.blocking(web.users.verify, name, password)
    if user is None:
        web.throttle.failed(*keys)
        await web.blocking(web.access.record, "login-failed", user=name, address=address, path="/login")
        return _login_form(request, next_url=next_url, status=401, error="The name or the password is wrong.")
    web.throttle.succeeded(*keys)
    login_as(request, user)
    await web.blocking(web.access.record, "login", user=user.name, address=address, path="/login")
    return RedirectResponse(next_url or "/", status_code=303)


@guarded(login=False)
async def logout_now(request: Request) -> Response:
    web = web_of(request)
    user = permissions(request).user
    if user is not None:
        await web.blocking(web.access.record, "logout", user=user.name, address=address_of(request), path="/logout")
    logout(request)
    return RedirectResponse("/login", status_code=303)


def _login_form(request: Request, *, next_url: str, status: int = 200, error: str = "") -> Response:
    return web_of(request).templates.render(request, "login.html", status=status, title="Log in",
                                            next_url=_safe_next(next_url), error=error)


def _safe_next(target: str) -> str:
    """Only a path on this site: ``next`` must not send a user who just logged in elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else ""
