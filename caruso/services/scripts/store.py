"""Dialogue sessions in storage: one row per session, its state as compact JSON.

The table ``caruso_script_session`` is registered with the ``storage``
service like any model's tables, so ``caruso db upgrade`` creates it and
``caruso db transfer`` moves it. A few columns are kept beside the JSON for
queries (script, status, step, customer, times); the JSON is the truth.

Every save checks the revision it loaded: when another channel saved the
same session in between (the customer still clicking in the web while the
agent took over), the later save is refused instead of silently undoing the
other's answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import ScriptError, SessionNotFound
from caruso.services.scripts.state import SessionState
from caruso.storage.metadata import new_metadata
from caruso.storage.types import UTCDateTime

__all__ = ["SESSION_TABLE", "SessionStore", "StoredSession"]

SESSION_TABLE = "caruso_script_session"
_ID_LENGTH = 64
_NAME_LENGTH = 200


def session_table(metadata: sa.MetaData) -> sa.Table:
    """The sessions table in ``metadata``."""
    return sa.Table(
        SESSION_TABLE,
        metadata,
        sa.Column("id", sa.String(_ID_LENGTH), primary_key=True),
        sa.Column("script", sa.String(_NAME_LENGTH), nullable=False, index=True),
        sa.Column("version", sa.String(_NAME_LENGTH), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("step", sa.String(_NAME_LENGTH), nullable=False),
        sa.Column("customer", sa.String(_NAME_LENGTH), nullable=True, index=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        info={"caruso_object": "ScriptSession"},
    )


@attrs.frozen
class StoredSession:
    """A session as loaded: its state and the revision to save against."""

    state: SessionState
    revision: int
    created: datetime
    updated: datetime


class SessionStore:
    """Loads and saves sessions through a storage manager (the ``storage`` service).

    Args:
        storage: the storage manager; its ``transaction()`` gives connections.
    """

    def __init__(self, storage: Any):
        self.storage = storage
        self.metadata = new_metadata()
        self.table = session_table(self.metadata)

    def register(self) -> None:
        """Register the table with storage (schema management creates it)."""
        self.storage.register(self.metadata)

    def unregister(self) -> None:
        self.storage.unregister(self.metadata)

    def insert(self, state: SessionState, now: datetime) -> StoredSession:
        """Store a new session at revision 1."""
        with self.storage.transaction() as connection:
            connection.execute(self.table.insert().values(
                id=state.id, created=now, updated=now, revision=1, **self._columns(state)
            ))
        return StoredSession(state, 1, now, now)

    def load(self, session_id: str) -> StoredSession:
        """The stored session.

        Raises:
            SessionNotFound: no session has that id.
        """
        table = self.table
        query = sa.select(table.c.state, table.c.revision, table.c.created, table.c.updated).where(
            table.c.id == str(session_id)
        )
        with self.storage.transaction() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise SessionNotFound(session_id)
        return StoredSession(SessionState.from_json(row.state), row.revision, row.created, row.updated)

    def save(self, state: SessionState, revision: int, now: datetime) -> int:
        """Write ``state`` over the stored revision ``revision``; the new revision.

        Raises:
            ScriptError: the session was saved by someone else since it was loaded.
            SessionNotFound: it was deleted.
        """
        table = self.table
        statement = (
            table.update()
            .where(table.c.id == state.id, table.c.revision == revision)
            .values(updated=now, revision=revision + 1, **self._columns(state))
        )
        with self.storage.transaction() as connection:
            changed = connection.execute(statement).rowcount
        if changed != 1:
            self.load(state.id)  # raises SessionNotFound when it is gone
            raise ScriptError(
                f"session {state.id!r} was changed on another channel while this one worked on it;"
                " load it again (view) and repeat the answer"
            )
        return revision + 1

    def ids(self, *, customer: str | None = None, status: str | None = None, script: str | None = None) -> Iterator[str]:
        """Session ids, newest first, filtered by customer, status and script."""
        table = self.table
        query = sa.select(table.c.id).order_by(table.c.updated.desc(), table.c.id)
        if customer is not None:
            query = query.where(table.c.customer == _customer_key(customer))
        if status is not None:
            query = query.where(table.c.status == status)
        if script is not None:
            query = query.where(table.c.script == script)
        with self.storage.transaction() as connection:
            found = list(connection.execute(query).scalars())
        return iter(found)

    def recent_answers(self, customer: Any, *, since: datetime) -> dict[str, Any]:
        """What the customer answered in sessions saved since ``since``, newest answer winning.

        Only answers the customer gave: values that were looked up or prefilled are
        not evidence of anything the customer said.
        """
        table = self.table
        query = (
            sa.select(table.c.state)
            .where(table.c.customer == _customer_key(customer), table.c.updated >= since)
            .order_by(table.c.updated, table.c.id)
        )
        with self.storage.transaction() as connection:
            states = [SessionState.from_json(text) for text in connection.execute(query).scalars()]
        answers: dict[str, Any] = {}
        for state in states:
            answers.update((k, v) for k, v in state.answers.items() if k not in state.prefilled)
        return answers

    @staticmethod
    def _columns(state: SessionState) -> dict[str, Any]:
        customer = state.context.get("customer_id")
        return {
            "script": state.script,
            "version": state.version,
            "status": state.status,
            "step": state.step,
            "customer": None if customer is None else _customer_key(customer),
            "state": state.to_json(),
        }


def _customer_key(customer: Any) -> str:
    """The customer as the column holds it (text, cut to the column's length), for writes and lookups alike."""
    return str(customer)[:_NAME_LENGTH]
