"""The one event log: every interaction and agent event, appended to storage as it happens.

Like Asterisk's ``queue_log``, the log is the truth the rest reads: the live
monitor and the reports are computed from it, and after a crash the
communication server rebuilds its queues from it (``open_interactions``).
One row per event, in the table ``caruso_event``:

========== ==============================================================
column     what
========== ==============================================================
seq        the sequence number, strictly increasing, never reused
at         when, in seconds since 1970-01-01 UTC (a float: portable
           interval arithmetic in SQL on every backend)
kind       one of ``KINDS`` below
interaction the interaction's id (None for agent and campaign events)
channel    ``voice``, ``email``, ``chat``, ``sms``, ``callback``, ``voicemail``
queue      the queue it is about, if any
agent      the agent it is about, if any
campaign   the outbound campaign, if any
external   the channel's own id of the contact (a call id, a Message-ID),
           on ``offered`` events only: a contact delivered twice is found by it
data       the rest, as JSON (see ``docs/event-log.md``)
========== ==============================================================

Writes are batched: ``append`` only buffers, ``flush`` writes what is
buffered in one transaction. When the database is briefly unavailable the
events stay buffered, in order, and the next ``flush`` writes them; the
server refuses *new* interactions once too many are waiting (so nothing it
accepted can be lost silently), while events about interactions it already
holds are always kept.
"""

from __future__ import annotations

import json
import logging

import orjson
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa

from caruso.errors import StorageError
from caruso.storage.metadata import new_metadata

__all__ = [
    "AGENT_KINDS",
    "CAMPAIGN_KINDS",
    "EVENT_TABLE",
    "INTERACTION_KINDS",
    "KINDS",
    "TERMINAL_KINDS",
    "Event",
    "EventLog",
    "event_table",
]

log = logging.getLogger("caruso.communication.events")

EVENT_TABLE = "caruso_event"

INTERACTION_KINDS = (
    "offered",      # a contact arrived; data holds the whole interaction
    "ivr",          # the IVR script finished; data: session, outcome, answers
    "queued",       # entered a queue; data: priority, reason (arrival, transfer, overflow, limit, recovered)
    "routed",       # offered to an agent; data: strategy, step
    "unanswered",   # the agent did not take it (timeout, declined, logout); back to the head of its queue
    "answered",     # the agent took it; data: wait (seconds since it was queued)
    "transferred",  # moved by an agent to a queue or an agent; data: to_queue / to_agent
    "abandoned",    # the customer left while waiting; data: wait, position
    "voicemail",    # the caller left a message; data: recording, callback (the new interaction)
    "callback",     # the caller accepted to be called back; data: callback (the new interaction)
    "wrapup",       # the conversation ended, the agent wraps up; data: talk (seconds)
    "completed",    # finished; data: code, outcome, handle (seconds)
)
AGENT_KINDS = ("agent",)  # data: state (logged-out, ready, away), reason
CAMPAIGN_KINDS = (
    "campaign",     # started, paused, resumed, finished; data: state
    "attempt",      # one dial of a campaign; data: number, result, attempt, customer
)
KINDS = INTERACTION_KINDS + AGENT_KINDS + CAMPAIGN_KINDS
TERMINAL_KINDS = frozenset({"completed", "abandoned", "voicemail", "callback"})
"""After one of these the interaction is finished: recovery does not bring it back."""

_NAME = 100


class Event(NamedTuple):
    """One row of the log (a NamedTuple: the simulator makes millions of them)."""

    seq: int
    at: float
    kind: str
    interaction: str | None = None
    channel: str | None = None
    queue: str | None = None
    agent: str | None = None
    campaign: str | None = None
    external: str | None = None
    data: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as plain data (for a JSON stream); ``data`` an empty dict when none."""
        return {**self._asdict(), "data": dict(self.data or {})}


def event_table(metadata: sa.MetaData) -> sa.Table:
    """The ``caruso_event`` table in ``metadata``."""
    return sa.Table(
        EVENT_TABLE,
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("at", sa.Float(precision=53), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("interaction", sa.String(40), nullable=True, index=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("queue", sa.String(_NAME), nullable=True),
        sa.Column("agent", sa.String(_NAME), nullable=True),
        sa.Column("campaign", sa.String(_NAME), nullable=True),
        sa.Column("external", sa.String(255), nullable=True, index=True),
        sa.Column("data", sa.Text, nullable=True),
        info={"caruso_object": "Event"},
    )


class EventLog:
    """Appends events to the ``caruso_event`` table of a storage manager, in batches.

    Args:
        storage: the ``storage`` service (a ``StorageManager``).
        batch_size: ``append`` writes the buffer once this many events wait in it; by
            default only ``flush`` writes.
    """

    def __init__(self, storage: Any, *, batch_size: int | None = None):
        self.storage = storage
        self.batch_size = batch_size
        self.metadata = new_metadata()
        self.table = event_table(self.metadata)
        self._buffer: list[Event] = []
        self._next_seq = 1
        self._insert: tuple[str, bool] | None = None
        self.last_error: StorageError | None = None
        self.written = 0

    # --- lifecycle ----------------------------------------------------------------

    def open(self, *, create: bool = True) -> None:
        """Register the table, create it if missing (unless ``create`` is False: a reader),
        and continue the sequence after the last event."""
        self.storage.register(self.metadata)
        if create:
            self.storage.upgrade(self.metadata)
        elif not sa.inspect(self.storage.engine).has_table(EVENT_TABLE):
            self.storage.upgrade(self.metadata)  # an empty log reads as empty
        with self.storage.transaction() as connection:
            last = connection.execute(sa.select(sa.func.max(self.table.c.seq))).scalar()
        self._next_seq = (last or 0) + 1

    def close(self) -> None:
        self.storage.unregister(self.metadata)

    # --- writing ------------------------------------------------------------------

    def append(
        self,
        kind: str,
        at: float,
        interaction: str | None = None,
        channel: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
        campaign: str | None = None,
        external: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Buffer one event with the next sequence number; ``flush`` writes it (and so does
        ``append`` itself once ``batch_size`` events are buffered)."""
        event = Event(self._next_seq, at, kind, interaction, channel, queue, agent, campaign, external, data)
        self._next_seq += 1
        buffer = self._buffer
        buffer.append(event)
        if self.batch_size is not None and len(buffer) >= self.batch_size:
            self.flush()  # on failure the events stay buffered (see flush)
        return event

    @property
    def pending(self) -> int:
        """Events buffered, not yet written."""
        return len(self._buffer)

    def flush(self) -> bool:
        """Write every buffered event in one transaction; False (events kept) when storage fails.

        The failure is logged once per outage and kept in ``last_error``; the next
        flush tries again with the same events, so nothing is lost or reordered.
        """
        if not self._buffer:
            return True
        batch = self._buffer
        count = len(batch)
        try:
            with self.storage.transaction() as connection:
                sql, positional = self._insert_statement(connection)
                rows = _rows(batch)
                if not positional:
                    rows = [dict(zip(Event._fields, row)) for row in rows]
                connection.exec_driver_sql(sql, rows)
        except StorageError as exc:
            if self.last_error is None:
                log.warning("event log: %d event(s) kept in memory, the database refused them: %s",
                            count, exc)
            self.last_error = exc
            return False
        except sa.exc.SQLAlchemyError as exc:  # an error storage did not translate (a locked SQLite file)
            if self.last_error is None:
                log.warning("event log: %d event(s) kept in memory: %s", count, exc)
            self.last_error = StorageError(f"the event log could not be written: {exc}")
            return False
        del batch[:count]
        if self.last_error is not None:
            log.warning("event log: the database is back; %d buffered event(s) written", count)
        self.last_error = None
        self.written += count
        return True

    def _insert_statement(self, connection: Any) -> tuple[str, bool]:
        """The INSERT in the driver's own parameter style, compiled once.

        Rows go to the driver's ``executemany`` as plain tuples: the columns are
        floats, strings and NULLs that need no conversion, and skipping
        SQLAlchemy's per-row parameter processing makes a batch several times
        cheaper - what lets the simulator log hundreds of thousands of events a second.
        """
        if self._insert is None:
            compiled = self.table.insert().compile(dialect=connection.dialect)
            positional = bool(compiled.positional)
            if positional:
                order = tuple(compiled.positiontup)
                if order != Event._fields:
                    raise RuntimeError(f"unexpected column order {order}")
            self._insert = (str(compiled), positional)
        return self._insert

    # --- reading ------------------------------------------------------------------

    def read(
        self,
        *,
        after: int = 0,
        kinds: Iterable[str] | None = None,
        interaction: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Written events with ``seq > after``, in order (buffered ones are not included)."""
        table = self.table
        query = sa.select(table).where(table.c.seq > after).order_by(table.c.seq)
        if kinds is not None:
            query = query.where(table.c.kind.in_(list(kinds)))
        if interaction is not None:
            query = query.where(table.c.interaction == interaction)
        if limit is not None:
            query = query.limit(limit)
        with self.storage.transaction() as connection:
            return [_event(row) for row in connection.execute(query)]

    def __iter__(self) -> Iterator[Event]:
        """Every written event, in order, read in pages."""
        after = 0
        while True:
            page = self.read(after=after, limit=5000)
            if not page:
                return
            yield from page
            after = page[-1].seq

    def open_interactions(self) -> dict[str, list[Event]]:
        """The events of every interaction that has no terminal event yet, by interaction, in order.

        This is what a restarted server needs to put waiting interactions back.
        """
        table = self.table
        finished = sa.select(table.c.interaction).where(table.c.kind.in_(sorted(TERMINAL_KINDS)))
        query = (
            sa.select(table)
            .where(table.c.interaction.is_not(None), table.c.interaction.not_in(finished))
            .order_by(table.c.seq)
        )
        found: dict[str, list[Event]] = {}
        with self.storage.transaction() as connection:
            for row in connection.execute(query):
                event = _event(row)
                found.setdefault(event.interaction, []).append(event)
        return found

    def last_agent_states(self) -> dict[str, str]:
        """Each agent's state after its last ``agent`` event (``ready``, ``away``, ``logged-out``)."""
        table = self.table
        last = (
            sa.select(sa.func.max(table.c.seq))
            .where(table.c.kind == "agent")
            .group_by(table.c.agent)
        )
        query = sa.select(table.c.agent, table.c.data).where(table.c.seq.in_(last))
        with self.storage.transaction() as connection:
            return {agent: json.loads(data or "{}").get("state", "") for agent, data in connection.execute(query)}

    def find_external(self, external: str) -> str | None:
        """The interaction a channel's own id was first offered as, or None."""
        table = self.table
        query = (
            sa.select(table.c.interaction)
            .where(table.c.external == external, table.c.kind == "offered")
            .order_by(table.c.seq)
            .limit(1)
        )
        with self.storage.transaction() as connection:
            return connection.execute(query).scalar()


def _rows(events: list[Event]) -> list[tuple]:
    """The rows to insert: the events as they are, ``data`` as compact JSON (orjson: the
    encoding is a large part of writing an event; what JSON has no type for, a Decimal or a
    date, as text). One pass over the batch, no function call per row."""
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    try:
        return [(*event[:9], dumps(event.data, default=str, option=option).decode() if event.data else None)
                for event in events]
    except orjson.JSONEncodeError:  # an integer past 64 bits in some data: only the standard library writes it
        return [(*event[:9], json.dumps(event.data, default=str, separators=(",", ":")) if event.data else None)
                for event in events]


def _event(row: Any) -> Event:
    mapping = row._mapping
    data = mapping["data"]
    return Event(
        mapping["seq"], mapping["at"], mapping["kind"], mapping["interaction"], mapping["channel"],
        mapping["queue"], mapping["agent"], mapping["campaign"], mapping["external"],
        json.loads(data) if data else None,
    )
