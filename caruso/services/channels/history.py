"""The one contact history: every message in or out, on any channel, in order, per customer.

The 360-degree view needs one place where an e-mail, a chat message, an SMS
and a script session all appear in the order they happened, whatever channel
brought them, so the customer never repeats themselves. That place is the
``history`` service and its table ``caruso_history``, portable across SQLite,
PostgreSQL and MariaDB. Like the event log (created only when the server has
queues), the table is created when a channel that uses it starts, or at the
first ``record``: an application without channels never gets it.

Everyone records here: the channels their messages, the script engine its
sessions and notes; the customers plugin's 360-degree view reads it back. An
application may replace the ``history`` service with one of its own that has
the same methods.

Customers are keys of a business object (an int, a string, a composite key);
the table keeps them as text (``customer_text``) so one column holds any model's
keys. A message from someone not (yet) known is recorded with its ``address``
and no customer; ``for_address`` finds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import orjson
import sqlalchemy as sa

from caruso.errors import ServiceStateError
from caruso.services.base import DOWN, Health, Service
from caruso.storage.metadata import new_metadata

__all__ = ["DIRECTIONS", "HISTORY_TABLE", "HistoryEntry", "HistoryService", "customer_text", "history_table"]

log = logging.getLogger("caruso.channels.history")

HISTORY_TABLE = "caruso_history"
DIRECTIONS = ("inbound", "outbound")


def customer_text(customer: Any) -> str | None:
    """A customer key as the text the table stores: ``42`` -> ``"42"``, ``(1, "a")`` -> ``'[1,"a"]'``."""
    if customer is None:
        return None
    if isinstance(customer, (list, tuple)):
        return orjson.dumps(list(customer)).decode()
    return str(customer)


def history_table(metadata: sa.MetaData) -> sa.Table:
    """The ``caruso_history`` table in ``metadata``."""
    return sa.Table(
        HISTORY_TABLE,
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("customer", sa.String(100), nullable=True, index=True),
        sa.Column("address", sa.String(255), nullable=True, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("interaction", sa.String(40), nullable=True, index=True),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("body", sa.String(255), nullable=True),
        sa.Column("attachments", sa.Text, nullable=True),
        sa.Column("data", sa.Text, nullable=True),
        info={"caruso_object": "HistoryEntry"},
    )


@attrs.frozen
class HistoryEntry:
    """One message in the history.

    Attributes:
        seq: its place in the history: strictly increasing, the order things happened in.
        at: when, in seconds since 1970 UTC.
        customer: the customer's key as text (``customer_text``), None when unknown.
        address: the e-mail address or E.164 number it came from or went to.
        channel: ``email``, ``chat``, ``sms`` (or any channel a plugin adds).
        direction: ``inbound`` (from the customer) or ``outbound`` (to the customer).
        agent: the agent who wrote or handled it, if any.
        interaction: the communication server's interaction it belongs to.
        subject: the e-mail's subject, the chat's topic.
        summary: the text, cut to ``summary_length`` characters.
        body: where the whole message is (``mail:12``, ``sms:7``, ``chat:<interaction>:3``).
        attachments: references to stored attachments (paths under the mail folder).
        data: anything else the channel keeps (a case reference, a delivery status).
    """

    seq: int
    at: float
    channel: str
    direction: str
    customer: str | None = None
    address: str | None = None
    agent: str | None = None
    interaction: str | None = None
    subject: str | None = None
    summary: str | None = None
    body: str | None = None
    attachments: tuple[str, ...] = ()
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class HistorySettings:
    """``[services.history.settings]``.

    Args:
        summary_length: characters of a message's text kept in ``summary``; the whole
            message stays where ``body`` points.
    """

    summary_length: int = attrs.field(default=2000, validator=attrs.validators.ge(1))


class _GroupCommit:
    """One writer thread that commits every entry waiting at that moment in one transaction.

    Many channels record at once (hundreds of chats); a transaction each would make them queue
    for the database's write lock (SQLite sleeps while it is taken). ``write`` still returns only
    once its entry is committed - durable, and in the order the entries were handed in - but the
    commit is shared by everyone who arrived meanwhile.
    """

    def __init__(self, storage: Any, table: sa.Table, *, batch: int = 500):
        self._storage = storage
        self._insert = table.insert()
        self._seq = table.c.seq
        self._batch = batch
        self._pending: list[list[Any]] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="caruso-history", daemon=True)
        self._thread.start()

    def write(self, row: dict[str, Any]) -> int:
        """Commit ``row``; its ``seq``. Raises what the database raised for its batch."""
        slot = [row, threading.Event(), None, None]  # row, done, seq, error
        with self._condition:
            if self._stopping:
                raise ServiceStateError("the history service is stopping; nothing more is recorded")
            self._pending.append(slot)
            self._condition.notify()
        slot[1].wait()
        if slot[3] is not None:
            raise slot[3]
        return slot[2]

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._stopping:
                    self._condition.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending[: self._batch], self._pending[self._batch:]
            try:
                with self._storage.transaction() as connection:
                    if connection.dialect.insert_executemany_returning_sort_by_parameter_order:
                        # one statement for the batch, the seqs back in the order given
                        # (SQLite 3.35+, PostgreSQL, MariaDB 10.5+)
                        statement = self._insert.returning(self._seq, sort_by_parameter_order=True)
                        seqs = [row[0] for row in connection.execute(statement, [slot[0] for slot in batch])]
                    else:
                        seqs = [connection.execute(self._insert.values(**slot[0])).inserted_primary_key[0]
                                for slot in batch]
                for slot, seq in zip(batch, seqs, strict=True):
                    slot[2] = seq
            except Exception as exc:  # the whole batch was rolled back: each caller hears why
                for slot in batch:
                    slot[3] = exc
            for slot in batch:
                slot[1].set()


class HistoryService(Service):
    """The default ``history`` service: ``record`` a message, read a customer's history."""

    requires = ("storage", "clock")
    Settings = HistorySettings

    def __init__(self) -> None:
        self.metadata = new_metadata()
        self.table = history_table(self.metadata)
        self._storage: Any = None
        self._writer: _GroupCommit | None = None
        self._opening = threading.Lock()

    def on_start(self) -> None:
        settings = self.context.settings
        self.config = settings if isinstance(settings, HistorySettings) else HistorySettings(**(settings or {}))
        self.clock = self.context.manager.resolve("clock")
        self._storage = self.context.manager.get("storage")
        self._opening = threading.Lock()

    def open(self) -> None:
        """Register the table and create it when missing; the channels call this when they start,
        and the first ``record`` does. An application without channels never gets the table."""
        with self._opening:
            if self._writer is not None:
                return
            self._storage.register(self.metadata)
            self._storage.upgrade(self.metadata)
            self._writer = _GroupCommit(self._storage, self.table)

    def on_stop(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
            self._storage.unregister(self.metadata)
        self._storage = None

    def health(self) -> Health:
        if self._storage is None:
            return Health(DOWN, "not started")
        return Health()

    def record(self, *, channel: str, direction: str, customer: Any = None, address: str | None = None,
               agent: str | None = None, interaction: str | None = None, subject: str | None = None,
               summary: str | None = None, body: str | None = None, attachments: Sequence[str] = (),
               data: Mapping[str, Any] | None = None, at: float | None = None) -> HistoryEntry:
        """Append one message to the history and return it with its ``seq``.

        Returns once the entry is committed (with whatever other entries arrived at the
        same moment: a group commit), so a message the channel acknowledged is in the history.
        Raises ``StorageError`` when the database refuses.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if summary is not None and len(summary) > self.config.summary_length:
            summary = summary[: self.config.summary_length - 1] + "\u2026"
        row = {
            "at": self.clock.now().timestamp() if at is None else at,
            "customer": customer_text(customer), "address": address, "channel": channel,
            "direction": direction, "agent": agent, "interaction": interaction,
            "subject": subject[:255] if subject else subject, "summary": summary, "body": body,
            "attachments": orjson.dumps(list(attachments)).decode() if attachments else None,
            "data": orjson.dumps(dict(data)).decode() if data else None,
        }
        if self._storage is None:
            raise ServiceStateError("the history service is not running")
        if self._writer is None:
            self.open()
        return _entry({**row, "seq": self._writer.write(row)})

    def for_customer(self, customer: Any, *, limit: int | None = None) -> list[HistoryEntry]:
        """The customer's history, oldest first (the last ``limit`` entries when given)."""
        return self._select(self.table.c.customer == customer_text(customer), limit)

    def for_address(self, address: str, *, limit: int | None = None) -> list[HistoryEntry]:
        """Everything recorded for an address (an e-mail address without case, a number as given)."""
        return self._select(sa.func.lower(self.table.c.address) == address.strip().lower(), limit)

    def for_interaction(self, interaction: str) -> list[HistoryEntry]:
        """The messages of one interaction, in order (a chat's transcript, an e-mail thread's part)."""
        return self._select(self.table.c.interaction == interaction, None)

    def assign(self, address: str, customer: Any) -> int:
        """Give the entries of ``address`` that have no customer to ``customer`` (a contact
        identified later); returns how many changed."""
        if not self._readable():
            return 0
        table = self.table
        with self._storage.transaction() as connection:
            result = connection.execute(
                table.update()
                .where(sa.func.lower(table.c.address) == address.strip().lower(), table.c.customer.is_(None))
                .values(customer=customer_text(customer)))
        return result.rowcount

    def _readable(self) -> bool:
        """Whether there is a table to read (opened, or created by an earlier run)."""
        if self._writer is not None:
            return True
        if self._storage is None:
            raise ServiceStateError("the history service is not running")
        if not sa.inspect(self._storage.engine).has_table(HISTORY_TABLE):
            return False
        self.open()
        return True

    def _select(self, where: Any, limit: int | None) -> list[HistoryEntry]:
        if not self._readable():
            return []
        table = self.table
        query = sa.select(table).where(where)
        if limit is not None:
            query = query.order_by(table.c.seq.desc()).limit(limit)
        else:
            query = query.order_by(table.c.seq)
        with self._storage.transaction() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        if limit is not None:
            rows.reverse()
        return [_entry(row) for row in rows]


def _entry(row: Mapping[str, Any]) -> HistoryEntry:
    attachments: Iterable[str] = orjson.loads(row["attachments"]) if row.get("attachments") else ()
    data = orjson.loads(row["data"]) if row.get("data") else {}
    return HistoryEntry(
        seq=int(row["seq"]), at=float(row["at"]), channel=row["channel"], direction=row["direction"],
        customer=row.get("customer"), address=row.get("address"), agent=row.get("agent"),
        interaction=row.get("interaction"), subject=row.get("subject"), summary=row.get("summary"),
        body=row.get("body"), attachments=tuple(attachments), data=data,
    )
