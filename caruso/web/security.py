"""Sessions, CSRF tokens, the request-size limit and the login throttle.

A session is kept on the server (``SessionStore``); the cookie holds only its id,
signed with itsdangerous so that a forged or altered cookie is recognised (and
logged) rather than looked up. Logging out removes the session for good, which a
cookie that carried the session itself could not promise. Sessions live in the
process: a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "LoginThrottle", "Session", "SessionStore", "load_secret", "same_token"]

COOKIE = "caruso_session"


def load_secret(path: Path) -> bytes:
    """The key that signs session cookies: read from ``path``, created there (0600) when missing."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    path.touch(mode=0o600)
    path.write_bytes(secret)
    return secret


def same_token(given: str | None, expected: str) -> bool:
    """A constant-time comparison, so a CSRF token cannot be guessed byte by byte."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


@attrs.define
class Session:
    """One browser's session: who is logged in (None before login) and its CSRF token."""

    id: str
    csrf: str
    user: Any = None
    last_seen: float = 0.0


class SessionStore:
    """Sessions by id, and the signing of the cookie that carries the id."""

    def __init__(self, secret: bytes, *, max_age: float, now: Callable[[], float] = time.monotonic):
        self._serializer = URLSafeSerializer(secret, salt="caruso-session")
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._max_age = max_age
        self._now = now
        self._next_expiry = 0.0

    def new(self, *, remember: bool = True) -> Session:
        """A new session; one not remembered lives for one request (an API call, a static file),
        so clients that never send a cookie back do not fill the store."""
        session = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(32), last_seen=self._now())
        if remember:
            with self._lock:
                self._sessions[session.id] = session
                self._expire()
        return session

    def __len__(self) -> int:
        return len(self._sessions)

    def cookie_value(self, session: Session) -> str:
        return self._serializer.dumps(session.id)

    def from_cookie(self, value: str) -> tuple[Session | None, bool]:
        """(the live session or None, whether the cookie was tampered with)."""
        try:
            session_id = self._serializer.loads(value)
        except BadSignature:
            return None, True
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or self._now() - session.last_seen > self._max_age:
                self._sessions.pop(session_id, None)
                return None, False
            session.last_seen = self._now()
            return session, False

    def renew(self, session: Session, user: Any) -> Session:
        """A fresh session for ``user`` replacing ``session`` (a new id at login stops fixation)."""
        self.drop(session)
        fresh = self.new()
        fresh.user = user
        return fresh

    def drop(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def _expire(self) -> None:
        """Forget idle sessions; at most once a minute, as it reads every session."""
        now = self._now()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 60.0
        limit = now - self._max_age
        for key in [k for k, s in self._sessions.items() if s.last_seen < limit]:
            del self._sessions[key]


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413, by its Content-Length before reading
    it and by counting when it arrives in chunks; nothing of it reaches the application."""

    def __init__(self, app: ASGIApp, *, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = PlainTextResponse(
            f"413 Request Entity Too Large: the front office accepts at most {self.limit} bytes", 413)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class LoginThrottle:
    """Counts failed logins per user name and per address in a sliding window."""

    def __init__(self, *, attempts: int, window: float, now: Callable[[], float] = time.monotonic):
        self._attempts = attempts
        self._window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login for these keys is accepted again (0: now)."""
        now = self._now()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._trimmed(key, now)
                if len(failures) >= self._attempts:
                    wait = max(wait, failures[0] + self._window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _trimmed(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        return failures
