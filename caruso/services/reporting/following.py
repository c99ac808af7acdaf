"""Following the event log from the monitor: what to read at start, and what came after.

The monitor never registers the ``caruso_event`` table with storage (the
communication server owns it, in the same process or another), it only reads
it: ``load_state`` folds what matters of the past into a ``LiveState``,
``follow`` folds what was written since. ``caruso monitor`` in a terminal does
exactly this every refresh.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from caruso.services.communication.events import EVENT_TABLE, TERMINAL_KINDS, Event, event_table
from caruso.services.reporting.live import LiveState
from caruso.storage.metadata import new_metadata

__all__ = ["LogReader", "follow", "load_state"]


class LogReader:
    """Reads the ``caruso_event`` table without registering it with storage (the server owns
    the table in the same process); a log that does not exist yet reads as empty."""

    def __init__(self, storage: Any):
        self.storage = storage
        self.table = event_table(new_metadata())
        self._present = False

    def present(self) -> bool:
        if not self._present:
            self._present = sa.inspect(self.storage.engine).has_table(EVENT_TABLE)
        return self._present

    def _events(self, query: Any) -> list[Event]:
        if not self.present():
            return []
        with self.storage.transaction() as connection:
            return [_event(row) for row in connection.execute(query)]

    def _scalar(self, query: Any) -> Any:
        if not self.present():
            return None
        with self.storage.transaction() as connection:
            return connection.execute(query).scalar()

    def read(self, *, after: int, limit: int) -> list[Event]:
        """Events with ``seq > after``, in order, at most ``limit``."""
        table = self.table
        return self._events(sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(limit))

    def before(self, moment: float) -> list[Event]:
        """What still matters of the time before ``moment``: each agent's last ``agent`` event,
        and every event of the contacts without a terminal event yet, in order."""
        table = self.table
        last = (sa.select(sa.func.max(table.c.seq)).where(table.c.kind == "agent", table.c.at < moment)
                .group_by(table.c.agent))
        finished = sa.select(table.c.interaction).where(table.c.kind.in_(sorted(TERMINAL_KINDS)))
        open_ones = sa.and_(table.c.interaction.is_not(None), table.c.interaction.not_in(finished),
                            table.c.at < moment)
        return self._events(sa.select(table).where(sa.or_(table.c.seq.in_(last), open_ones)).order_by(table.c.seq))

    def first_since(self, moment: float) -> int | None:
        return self._scalar(sa.select(sa.func.min(self.table.c.seq)).where(self.table.c.at >= moment))

    def last(self) -> int | None:
        return self._scalar(sa.select(sa.func.max(self.table.c.seq)))


def load_state(storage: Any, state: LiveState, now: float) -> LogReader:
    """Fold into ``state`` what the event log says about today and what is still open from before:
    each agent's last ``agent`` event and the events of the contacts still open, then every event
    since today began. Returns the reader, for following the log further (``follow``)."""
    reader = LogReader(storage)
    day_start = dt.datetime.combine(dt.datetime.fromtimestamp(now, state.timezone).date(), dt.time(),
                                    state.timezone).timestamp()
    for event in reader.before(day_start):
        state.apply(event)
    first = reader.first_since(day_start)
    if first is not None:
        state.seq = first - 1
        follow(reader, state)
    else:
        state.seq = max(state.seq, reader.last() or 0)  # nothing today: follow from the end
    return reader


def follow(reader: LogReader, state: LiveState, *, page: int = 5000) -> int:
    """Fold every written event after ``state.seq``; how many were new."""
    count = 0
    while True:
        events = reader.read(after=state.seq, limit=page)
        for event in events:
            count += state.apply(event)
        if len(events) < page:
            return count


def _event(row: Any) -> Event:
    values = row._mapping
    data = values["data"]
    return Event(*(values[name] for name in Event._fields[:-1]), json.loads(data) if data else None)
