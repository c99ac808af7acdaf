"""Every page and API call passes here: who is asking, may they, and is the form genuine.

``guarded`` wraps an endpoint; the session middleware (``SessionMiddleware``) has
already found the session from its signed cookie or an API token. Refusals are
raised as ``Refused`` and answered in one place (``app.refused``), which logs them
in the access log: a permission denial is never only a hidden button.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caruso.web.permissions import Permissions
from caruso.web.security import COOKIE, Session, same_token

__all__ = ["Refused", "SessionMiddleware", "deny", "guarded", "hide", "permissions", "session_of", "web_of"]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_KEY = "caruso.session"
TOKEN_KEY = "caruso.token-user"


class Refused(Exception):
    """A request the front office will not serve: answered with ``status`` and logged as ``event``."""

    def __init__(self, status: int, message: str, *, event: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.event = event


def web_of(request: Request) -> Any:
    """The running ``web`` service (settings, users, sessions, templates, the service manager)."""
    return request.app.state.web


def session_of(request: Request) -> Session:
    return request.scope[SESSION_KEY]


def permissions(request: Request) -> Permissions:
    found = request.scope.get("caruso.permissions")
    if found is None:
        user = request.scope.get(TOKEN_KEY) or session_of(request).user
        found = request.scope["caruso.permissions"] = Permissions.of(user, web_of(request).roles)
    return found


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def deny(request: Request, what: str) -> None:
    """Refuse with 403 and log it: the user is known but their roles do not allow ``what``."""
    request.scope["caruso.refused"] = what
    raise Refused(403, f"your role does not allow {what}", event="denied")


def hide(request: Request, what: str) -> None:
    """Refuse with 404 and log ``what``: a record outside the user's record rules does not exist
    for them, so the answer is the same as for a record that does not exist at all."""
    request.scope["caruso.refused"] = what
    raise Refused(404, "not found", event="not-found")


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(*, action: str | None = None, login: bool = True) -> Callable[[Endpoint], Endpoint]:
    """Wrap an endpoint: require a login (and ``action`` when given), and a valid CSRF token on
    every POST, PUT, PATCH and DELETE that does not come with an API token."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            await check_csrf(request)
            perms = permissions(request)
            if login and not perms.logged_in:
                if is_api(request) or request.headers.get("accept", "").startswith("text/event-stream"):
                    return JSONResponse({"error": "log in first"}, status_code=401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            if action is not None and not perms.can(action):
                deny(request, f"{action!r}")
            return await endpoint(request)

        checked.guarded = True  # tests/web/test_admin.py checks that every route has it
        return checked

    return wrap


async def check_csrf(request: Request) -> None:
    if request.method not in UNSAFE or request.scope.get(TOKEN_KEY) is not None:
        return
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form(max_files=5, max_fields=200)
        given = form.get("csrf_token")
    if not same_token(given, session_of(request).csrf):
        raise Refused(403, "the form's security token is missing or wrong; reload the page and try again",
                      event="csrf-refused")


class SessionMiddleware:
    """Finds the request's session from its signed cookie (or the user of an API token) and
    sets the cookie on the response when the session is new or was renewed at login.

    A cookie whose signature does not verify has been altered: the request goes on as
    logged out, with a fresh session, and the tampering is logged."""

    def __init__(self, app: ASGIApp, *, web: Any):
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = HTTPConnection(scope)  # also a WebSocket: the chat mounted at /chat
        store = self.web.sessions
        session = None
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            user = await self.web.blocking(self.web.users.for_token, authorization[7:].strip())
            if user is not None:
                scope[TOKEN_KEY] = user
        cookie = request.cookies.get(COOKIE)
        if cookie:
            session, tampered = store.from_cookie(cookie)
            if tampered:
                await self.web.blocking(self.web.access.record, "session-tampered",
                                        address=address_of(request), path=request.url.path)
        # API calls and static files answer without a session of their own: a cookie-less
        # client (an integration, a load test) would otherwise leave one behind per request.
        fresh = session is None and not (TOKEN_KEY in scope or is_api(request)
                                         or request.url.path.startswith("/static/"))
        if session is None:
            session = store.new(remember=fresh)
        scope[SESSION_KEY] = session
        secure = self.web.is_secure(request)

        async def with_cookie(message: Message) -> None:
            current: Session = scope[SESSION_KEY]
            if message["type"] == "http.response.start" and (fresh or current is not session):
                value = store.cookie_value(current)
                flags = "; HttpOnly; SameSite=Lax; Path=/" + ("; Secure" if secure else "")
                message.setdefault("headers", []).append(
                    (b"set-cookie", f"{COOKIE}={value}{flags}".encode()))
            await send(message)

        await self.app(scope, receive, with_cookie)


def address_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_as(request: Request, user: Any) -> Session:
    """Replace the request's session by a fresh one for ``user`` (the cookie follows)."""
    session = web_of(request).sessions.renew(session_of(request), user)
    request.scope[SESSION_KEY] = session
    request.scope.pop("caruso.permissions", None)
    return session


def logout(request: Request) -> None:
    web_of(request).sessions.drop(session_of(request))
    request.scope[SESSION_KEY] = web_of(request).sessions.new()
    request.scope.pop("caruso.permissions", None)

