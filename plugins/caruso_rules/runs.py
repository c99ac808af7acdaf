"""The run log: every time a rule fired, what it did, and what went wrong.

A rule runs after the save that triggered it has been committed, so a failing
action cannot undo that save - and must not vanish either. Every firing is a
row of ``caruso_rule_run`` (created by the rules service when it starts, moved
by ``caruso db transfer`` like every table), which is also how a ``due`` rule
remembers that it already handled an object's moment.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.storage.types import UTCDateTime

__all__ = ["RUN_TABLE", "STATUSES", "RuleRun", "RunLog"]

RUN_TABLE = "caruso_rule_run"
STATUSES = ("done", "failed", "loop", "not-due")
"""``done``: every action ran; ``failed``: an action failed (``error`` says which and why);
``loop``: not run, because rules triggering rules went deeper than ``max_depth``;
``not-due``: a ``due`` rule's moment came but its condition did not hold."""


@attrs.frozen
class RuleRun:
    """One firing of a rule on one object."""

    rule: str
    event: str
    object: str
    key: str
    at: dt.datetime
    status: str
    error: str | None = None
    moment: dt.datetime | None = None
    depth: int = 0
    requests: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()


class RunLog:
    """Writes and reads ``caruso_rule_run`` through the storage manager."""

    def __init__(self, storage: Any):
        self.storage = storage
        self.metadata = sa.MetaData()
        self.table = sa.Table(
            RUN_TABLE, self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("rule", sa.String(100), nullable=False),
            sa.Column("event", sa.String(20), nullable=False),
            sa.Column("object", sa.String(100), nullable=False),
            sa.Column("object_key", sa.String(255), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("moment", UTCDateTime()),
            sa.Column("depth", sa.Integer, nullable=False, default=0),
            sa.Column("details", sa.Text),
            sa.Index("ix_caruso_rule_run_rule_key", "rule", "object_key"),
        )

    def open(self) -> None:
        """Register the table and create it if missing."""
        self.storage.register(self.metadata)
        self.storage.upgrade(self.metadata)

    def close(self) -> None:
        self.storage.unregister(self.metadata)

    def write(self, run: RuleRun) -> None:
        details = {"requests": list(run.requests), "notes": list(run.notes)} if run.requests or run.notes else None
        with self.storage.transaction() as connection:
            connection.execute(self.table.insert().values(
                rule=run.rule, event=run.event, object=run.object, object_key=run.key, at=run.at,
                status=run.status, error=run.error, moment=run.moment, depth=run.depth,
                details=json.dumps(details, default=str) if details else None))

    def read(self, *, rule: str | None = None, statuses: Iterable[str] | None = None) -> list[RuleRun]:
        """The recorded runs in order, of one rule and/or some statuses."""
        table = self.table
        query = sa.select(table).order_by(table.c.id)
        if rule is not None:
            query = query.where(table.c.rule == rule)
        if statuses is not None:
            query = query.where(table.c.status.in_(list(statuses)))
        with self.storage.transaction() as connection:
            rows = connection.execute(query).mappings().all()
        return [_run(row) for row in rows]

    def handled(self, rule: str, since: dt.datetime | None = None) -> set[tuple[str, dt.datetime]]:
        """(object key, moment) pairs a ``due`` rule has already handled."""
        table = self.table
        query = sa.select(table.c.object_key, table.c.moment).where(table.c.rule == rule, table.c.moment.is_not(None))
        if since is not None:
            query = query.where(table.c.moment >= since)
        with self.storage.transaction() as connection:
            return {(key, moment) for key, moment in connection.execute(query)}


def _run(row: Any) -> RuleRun:
    details = json.loads(row["details"]) if row["details"] else {}
    return RuleRun(rule=row["rule"], event=row["event"], object=row["object"], key=row["object_key"], at=row["at"],
                   status=row["status"], error=row["error"], moment=row["moment"], depth=row["depth"],
                   requests=tuple(details.get("requests", ())), notes=tuple(details.get("notes", ())))
