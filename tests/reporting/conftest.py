"""Fixtures: small fixed event logs on a real database, and the reports service reading them.

The events are written with the communication server's own ``EventLog`` (the
real table, the real batch insert), at times chosen so every figure can be
computed by hand; the tests say how.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator

import pytest

from caruso.clock import ManualClock
from caruso.services.communication.events import EventLog
from caruso.services.reporting.service import ReportsService, ReportsSettings
from caruso.storage import Storage
from caruso.testing import make_app

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
"""Monday 2 March 2026, 08:00 UTC: every fixed log is written relative to it."""

DESCRIPTOR = """
[application]
name = "Reporting test"

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.communication.settings]
skills = ["billing", "technical"]
real_time = false

[[services.communication.settings.queues]]
name = "billing"
service_level = {{ answer_within = 20, target = 0.8 }}

[[services.communication.settings.queues]]
name = "technical"
service_level = {{ answer_within = 30, target = 0.8 }}

[[services.communication.settings.agents]]
name = "anna"

[[services.communication.settings.agents]]
name = "bert"
"""


class FixedLog:
    """Writes events at ``T0 + seconds``; ``flush()`` writes them all in one batch."""

    def __init__(self, storage: Storage):
        self.log = EventLog(storage)
        self.log.open()

    def event(self, kind: str, seconds: float, interaction: str | None = None, *, queue: str | None = None,
              agent: str | None = None, channel: str | None = None, campaign: str | None = None,
              **data) -> None:
        if interaction is not None and channel is None:
            channel = "voice"
        self.log.append(kind, T0.timestamp() + seconds, interaction, channel, queue, agent, campaign, None,
                        data or None)

    def contact(self, ix: str, queue: str, arrive: float, *, answer: float | None = None, agent: str | None = None,
                end: float | None = None, complete: float | None = None, abandon: float | None = None,
                channel: str = "voice", code: str | None = None, direction: str = "inbound") -> None:
        """offered+queued at ``arrive``; then answered/wrapup/completed, or abandoned."""
        self.event("offered", arrive, ix, queue=queue, channel=channel, direction=direction)
        self.event("queued", arrive, ix, queue=queue, channel=channel, reason="arrival")
        if abandon is not None:
            self.event("abandoned", abandon, ix, queue=queue, channel=channel, wait=abandon - arrive)
            return
        if answer is not None:
            self.event("routed", answer, ix, queue=queue, agent=agent, channel=channel)
            self.event("answered", answer, ix, queue=queue, agent=agent, channel=channel, wait=answer - arrive)
        if end is not None:
            self.event("wrapup", end, ix, queue=queue, agent=agent, channel=channel, talk=end - answer)
        if complete is not None:
            data = {"handle": complete - answer}
            if code is not None:
                data["code"] = code
            self.event("completed", complete, ix, queue=queue, agent=agent, channel=channel, **data)

    def agent(self, name: str, seconds: float, state: str, reason: str | None = None) -> None:
        data = {"state": state}
        if reason:
            data["reason"] = reason
        self.event("agent", seconds, agent=name, **data)

    def flush(self) -> None:
        assert self.log.flush()


@pytest.fixture
def reporting(database_url, tmp_path) -> Iterator[tuple[FixedLog, ReportsService]]:
    """(a FixedLog, the reports service of an application) on each backend."""
    yield from _reporting(database_url, tmp_path)


@pytest.fixture
def local_reporting(tmp_path) -> Iterator[tuple[FixedLog, ReportsService]]:
    """The same on SQLite only, for what does not depend on the database (checks made before any query)."""
    yield from _reporting(f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)


def _reporting(database_url: str, tmp_path) -> Iterator[tuple[FixedLog, ReportsService]]:
    app = make_app(tmp_path / "app", textwrap.dedent(DESCRIPTOR).format(url=database_url))
    storage = Storage(database_url)
    log = FixedLog(storage)
    clock = ManualClock(T0 + dt.timedelta(days=3))
    reports = ReportsService().bind(app, storage, clock, ReportsSettings())
    try:
        yield log, reports
    finally:
        log.log.close()
        storage.close()


def hours(n: float) -> dt.timedelta:
    return dt.timedelta(hours=n)


def figures(result, *names: str) -> list[tuple]:
    """The rows as (interval, *dimensions, *measures) tuples: what a test compares with its hand count."""
    return [(row.interval, *row.dimensions, *(row.values[name] for name in names)) for row in result.rows]
