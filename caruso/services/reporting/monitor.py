"""The ``monitor`` service: the live status of the call centre, a push stream of changes, KPI alerts.

``snapshot()`` answers what a supervisor asks at a glance: the agents by
state with time in state, per queue the contacts waiting, the longest wait
and today's service level, the campaigns with their progress, the open
alarms. ``subscribe(callback)`` (or ``async for change in monitor.changes()``)
pushes every change as it happens: the web front office's monitor page and
``caruso monitor`` use this API.

The state is folded from the event log (``live.py``): at start the monitor
reads what the log says about today (and the agents and contacts still open
from before), then follows the server's events through its subscription.
``following.py`` does the same from another process by reading the table,
which is how ``caruso monitor DIR`` watches a call centre it does not run.

Alert rules (``alerts.py``) are evaluated every ``evaluate_every`` seconds on
the communication server's clock - real time in production, virtual time in
tests and simulations - and delivered on their channels (``notifiers.py``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from caruso.errors import ConfigError
from caruso.services.base import Health, Service
from caruso.services.communication.events import Event
from caruso.services.reporting.alerts import Alarm, AlertEvaluator, AlertRule
from caruso.services.reporting.checks import alert_problems
from caruso.services.reporting.following import load_state
from caruso.services.reporting.live import AgentStatus, CampaignStatus, LiveState, QueueLive
from caruso.services.reporting.notifiers import deliver
from caruso.services.reporting.sources import configured_agents, queue_targets

__all__ = ["Change", "MonitorService", "MonitorSettings", "Snapshot", "take_snapshot"]

log = logging.getLogger("caruso.reporting.monitor")


@attrs.frozen
class MonitorSettings:
    """``[services.monitor.settings]``.

    Args:
        timezone: where "today" starts (an IANA name).
        short_abandon: seconds; abandons within them are not in the service level.
        evaluate_every: seconds between two evaluations of the alert rules.
        alerts: the rules (``[[services.monitor.settings.alerts]]``, see docs/reporting.md).
    """

    timezone: str = "UTC"
    short_abandon: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    evaluate_every: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    alerts: tuple[AlertRule, ...] = ()


@attrs.frozen
class Snapshot:
    """The call centre at ``at`` (epoch seconds); ``seq`` is the last event folded in."""

    at: float
    seq: int
    agents: tuple[AgentStatus, ...]
    queues: tuple[QueueLive, ...]
    campaigns: tuple[CampaignStatus, ...]
    alarms: tuple[Alarm, ...]

    @property
    def agents_by_state(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for agent in self.agents:
            found[agent.state] = found.get(agent.state, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``caruso monitor --json``, the web page)."""
        return {
            "at": self.at, "seq": self.seq, "agents_by_state": self.agents_by_state,
            "agents": [attrs.asdict(a) for a in self.agents],
            "queues": [attrs.asdict(q) for q in self.queues],
            "campaigns": [attrs.asdict(c) for c in self.campaigns],
            "alarms": [a.to_dict() for a in self.alarms],
        }


@attrs.frozen
class Change:
    """One change pushed to subscribers: ``event`` (folded; ``data`` is the Event),
    ``alarm-raised`` or ``alarm-cleared`` (``data`` is the Alarm)."""

    kind: str
    data: Any


def take_snapshot(state: LiveState, alarms: Any, now: float, campaigns: Any = None) -> Snapshot:
    """The snapshot of a live state and its open alarms at ``now``; ``campaigns`` (the server's
    ``campaigns.all_progress()``, in its process) replaces the progress folded from the log."""
    state.roll(now)
    found = (tuple(CampaignStatus.from_progress(p) for p in campaigns) if campaigns is not None
             else tuple(state.campaign_statuses()))
    return Snapshot(now, state.seq, tuple(state.agent_statuses(now)), tuple(state.queue_statuses(now)),
                    found, tuple(alarms))


class MonitorService(Service):
    """The default ``monitor`` service (see the module docstring and docs/reporting.md)."""

    requires = ("storage", "clock", "communication")
    Settings = MonitorSettings

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._subscribers: list[Callable[[Change], None]] = []
        self.state: LiveState | None = None
        self.evaluator = AlertEvaluator(())
        self.config = MonitorSettings()
        self._subscription: Any = None
        self._timer: Any = None
        self.server: Any = None
        self.delivery_failures = 0
        self._pending: list[Event] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        settings = self.context.settings
        self.config = settings if isinstance(settings, MonitorSettings) else MonitorSettings()
        manager = self.context.manager
        problems = alert_problems(self.context.app, self.config, lambda name: name in manager)
        if problems:
            raise ConfigError(problems)
        self.clock = manager.resolve("clock")
        self.server = manager.resolve("communication")
        self._lookup = manager.get
        self.timezone = ZoneInfo(self.config.timezone)
        self.state = self._new_state(self.context.app)
        self.evaluator = AlertEvaluator(self.config.alerts)
        # Subscribe first, read the log, then fold what arrived meanwhile: nothing is missed,
        # and an event both read and received is folded once (by its seq).
        self._pending = []
        self._subscription = self.server.subscribe(self._on_event)
        load_state(manager.get("storage"), self.state, self.now())
        with self._lock:
            for event in self._pending:
                self.state.apply(event)
            self._pending = None
        if self.config.alerts:
            self._schedule()

    def _new_state(self, app: Any) -> LiveState:
        window = max((r.window for r in self.config.alerts), default=900.0)
        targets = queue_targets(app)
        return LiveState(targets=targets, queues=targets, agents=configured_agents(app), timezone=self.timezone,
                         short_abandon=self.config.short_abandon, window=window)

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def health(self) -> Health:
        if self.state is None:
            return Health("down", "not started")
        detail = f"{len(self.evaluator.open)} open alarms"
        if self.delivery_failures:
            return Health("degraded", f"{detail}; {self.delivery_failures} alert deliveries failed")
        return Health(detail=detail)

    def now(self) -> float:
        """Epoch seconds on the injected clock (the server's, which writes the events)."""
        return self.server.epoch() if self.server is not None and self.server.scheduler is not None \
            else self.clock.now().timestamp()

    # --- the live state -------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        with self._lock:
            if self._pending is not None:  # still reading the log
                self._pending.append(event)
                return
            if not self.state.apply(event):
                return
            subscribers = self._subscribers
        self._push(subscribers, Change("event", event))

    def snapshot(self) -> Snapshot:
        """The call centre now (see ``Snapshot``)."""
        now = self.now()
        manager = self.server.campaigns
        campaigns = manager.all_progress() if manager is not None else None  # the server's live counters
        with self._lock:
            return take_snapshot(self.state, self.evaluator.open.values(), now, campaigns)

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` for every change from now on; returns the function that stops it.
        Keep it quick: it runs in the thread of the server's event."""
        with self._lock:
            self._subscribers = [*self._subscribers, callback]

        def close() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not callback]
        return close

    async def changes(self, *, maxsize: int = 10_000) -> AsyncIterator[Change]:
        """The changes as an async stream (server-sent events, a WebSocket); a consumer more than
        ``maxsize`` behind loses the oldest, and a new ``snapshot()`` catches up."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=maxsize)

        def put(change: Change) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(change)

        close = self.subscribe(lambda change: loop.call_soon_threadsafe(put, change))
        try:
            while True:
                yield await queue.get()
        finally:
            close()

    @staticmethod
    def _push(subscribers: list[Callable[[Change], None]], change: Change) -> None:
        for callback in subscribers:
            try:
                callback(change)
            except Exception:  # a broken page must not stop the monitor
                log.exception("monitor: a subscriber failed")

    # --- alerts ---------------------------------------------------------------------------

    @property
    def alarms(self) -> list[Alarm]:
        """The open alarms."""
        with self._lock:
            return list(self.evaluator.open.values())

    def evaluate(self) -> tuple[list[Alarm], list[Alarm]]:
        """Evaluate every rule now and deliver what changed: (raised, cleared)."""
        now = self.now()
        with self._lock:
            raised, cleared = self.evaluator.evaluate(self.state, now)
            subscribers = self._subscribers
        for change, found in (("raised", raised), ("cleared", cleared)):
            for rule, alarm in found:
                log.warning("alert %s: %s", change, alarm.message)
                self._push(subscribers, Change(f"alarm-{change}", alarm))
                self.delivery_failures += len(deliver(rule, alarm, change, lookup=self._lookup,
                                                      timezone=self.timezone))
        return [a for _, a in raised], [a for _, a in cleared]

    def _schedule(self) -> None:
        self._timer = self.server.call_at(self.server.now() + self.config.evaluate_every, self._tick)

    def _tick(self) -> None:
        try:
            self.evaluate()
        finally:
            if self.state is not None and self._subscription is not None:
                self._schedule()

