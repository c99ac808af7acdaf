"""The front office's users and its log of logins and permission denials.

Users are rows in ``caruso_web_user`` (not the descriptor): a bank has thousands of
customers with a self-service login. Passwords are kept as argon2 hashes only; API
tokens as their SHA-256 digest, so a copy of the database gives away neither. The
log (``caruso_web_log``) is what an auditor asks for: who logged in, who failed, who
was refused what, and whose session cookie had been tampered with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import attrs
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from caruso.errors import WebError
from caruso.storage.metadata import new_metadata

__all__ = ["AccessLog", "User", "UserStore", "web_tables"]

log = logging.getLogger("caruso.web.access")

_hasher = PasswordHasher()
_NO_USER_HASH = _hasher.hash(secrets.token_hex(16))
"""Verified against when the user does not exist, so a login takes as long either way."""


@attrs.frozen
class User:
    """Who is logged in: the roles decide what they may do, the fields feed record rules.

    Args:
        name: the login name.
        roles: role names from ``[services.web.settings.roles]``.
        customer: the key of the Customer a self-service user is (as text), or None.
        agent: the communication server's agent name of an agent user, or None.
        queues: the queues whose customers the user works for (record rules).
    """

    name: str
    roles: tuple[str, ...] = ()
    customer: str | None = None
    agent: str | None = None
    queues: tuple[str, ...] = ()

    def field(self, name: str) -> Any:
        """A field a record rule names (``customer``, ``name``, ``agent``, ``queues``)."""
        return getattr(self, name)


def web_tables(metadata: sa.MetaData | None = None) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """The users and the access-log tables, in a metadata of their own."""
    metadata = metadata if metadata is not None else new_metadata()
    users = sa.Table(
        "caruso_web_user", metadata,
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("password", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(400), nullable=False, default=""),
        sa.Column("customer", sa.String(64), nullable=True, index=True),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("queues", sa.String(400), nullable=False, default=""),
        sa.Column("token", sa.String(64), nullable=True, unique=True),
        sa.Column("active", sa.Boolean, nullable=False, default=True),
        sa.Column("created", sa.DateTime, nullable=False),
    )
    access = sa.Table(
        "caruso_web_log", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
        sa.Column("event", sa.String(40), nullable=False, index=True),
        sa.Column("user", sa.String(100), nullable=True, index=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("path", sa.String(400), nullable=True),
        sa.Column("detail", sa.String(400), nullable=True),
    )
    return metadata, users, access


def _joined(values: Iterable[str]) -> str:
    return ",".join(v.strip() for v in values if v and v.strip())


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Adding users, checking passwords and API tokens."""

    def __init__(self, storage: Any, table: sa.Table, *, now: Any = None):
        self._storage = storage
        self._table = table
        self._now = now or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def add(self, name: str, password: str, *, roles: Iterable[str], customer: Any = None,
            agent: str | None = None, queues: Iterable[str] = ()) -> User:
        """Create a user; raises ``WebError`` when the name is taken or the password too short."""
        name = name.strip()
        if not name:
            raise WebError("a user needs a name")
        _check_password(password)
        if self.get(name) is not None:
            raise WebError(f"a user {name!r} exists already; choose another name or use `caruso web passwd`")
        row = {"name": name, "password": _hasher.hash(password), "roles": _joined(roles),
               "customer": None if customer is None else str(customer), "agent": agent,
               "queues": _joined(queues), "active": True, "created": self._now()}
        with self._storage.transaction() as connection:
            connection.execute(self._table.insert(), row)
        return self._user(row)

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self._storage.transaction() as connection:
            done = connection.execute(self._table.update().where(self._table.c.name == name),
                                      {"password": _hasher.hash(password)}).rowcount
        if not done:
            raise WebError(f"there is no user {name!r}")

    def get(self, name: str) -> User | None:
        row = self._row(self._table.c.name == name)
        return self._user(row) if row is not None else None

    def all(self) -> list[User]:
        with self._storage.engine.connect() as connection:
            rows = connection.execute(sa.select(self._table).order_by(self._table.c.name)).mappings()
            return [self._user(row) for row in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs and they are active; None otherwise."""
        row = self._row(self._table.c.name == name.strip())
        try:
            _hasher.verify(row["password"] if row is not None else _NO_USER_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not row["active"]:
            return None
        return self._user(row)

    def issue_token(self, name: str) -> str:
        """A new API token for ``name`` (replacing the previous one); shown once, kept as a digest."""
        token = secrets.token_urlsafe(32)
        with self._storage.transaction() as connection:
            done = connection.execute(self._table.update().where(self._table.c.name == name),
                                      {"token": _digest(token)}).rowcount
        if not done:
            raise WebError(f"there is no user {name!r}")
        return token

    def for_token(self, token: str) -> User | None:
        row = self._row(self._table.c.token == _digest(token))
        return self._user(row) if row is not None and row["active"] else None

    def _row(self, criterion: Any) -> Any:
        with self._storage.engine.connect() as connection:
            return connection.execute(sa.select(self._table).where(criterion)).mappings().first()

    @staticmethod
    def _user(row: Any) -> User:
        return User(row["name"], _split(row["roles"]), row["customer"], row["agent"], _split(row["queues"]))


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise WebError("a password has at least 8 characters")


class AccessLog:
    """Logins, failed logins, logouts, refused requests and tampered sessions, kept in a table."""

    EVENTS = ("login", "login-failed", "login-throttled", "logout", "denied", "not-found",
              "session-tampered", "csrf-refused")

    def __init__(self, storage: Any, table: sa.Table, *, now: Any = None):
        self._storage = storage
        self._table = table
        self._now = now or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def record(self, event: str, *, user: str | None = None, address: str | None = None,
               path: str | None = None, detail: str = "") -> None:
        assert event in self.EVENTS, event
        log.info("%s user=%s address=%s path=%s %s", event, user, address, path, detail)
        row = {"at": self._now(), "event": event, "user": user, "address": address,
               "path": (path or "")[:400], "detail": detail[:400]}
        try:
            with self._storage.transaction() as connection:
                connection.execute(self._table.insert(), row)
        except sa.exc.SQLAlchemyError as exc:  # the request is answered either way; say so loudly
            log.error("could not write the access log (%s): %s", event, exc)

    def latest(self, *, limit: int = 100, event: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(self._table).order_by(self._table.c.id.desc()).limit(limit)
        if event is not None:
            query = query.where(self._table.c.event == event)
        with self._storage.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]
