"""The live state of the call centre, folded from the event log one event at a time.

The monitor does not ask the communication server for its state: it reads the
same events the server writes (``docs/event-log.md``), in order, and keeps
what a supervisor looks at - each agent's state and since when, the contacts
waiting per queue and since when, today's figures per queue, the campaigns, a
short window of recent outcomes for the alert rules. One fold serves both ways
of following the log: in the server's process through its subscription (every
event as it is appended), and in another process (``caruso monitor``) by
reading the table after the last ``seq`` seen. Applying an event is O(1);
a snapshot is O(agents + waiting contacts).

An agent's state follows the server's rule (``model.Agent.state``): logged
out; else busy if any contact is connected, offered if one rings, wrap-up if
one is in wrap-up, else the presence (ready or away).
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from caruso.services.communication.events import Event

__all__ = ["AgentStatus", "CampaignStatus", "LiveState", "QueueLive", "Settled"]

_SETTLED_KINDS = ("abandoned", "voicemail", "callback")


@attrs.frozen
class AgentStatus:
    """One agent now: state (``ready``, ``away``, ``offered``, ``busy``, ``wrapup``,
    ``logged-out``), the away reason, since when (epoch seconds), contacts held, handled today."""

    name: str
    state: str
    reason: str | None
    since: float
    in_state: float
    contacts: int
    handled_today: int


@attrs.frozen
class QueueLive:
    """One queue now: contacts waiting, the longest wait (s), and today's figures
    (contacts that arrived today, counted as in the contact-statistics report)."""

    name: str
    waiting: int
    longest_wait: float
    offered_today: int
    answered_today: int
    abandoned_today: int
    service_level_today: float | None


@attrs.frozen
class CampaignStatus:
    """One outbound campaign: its state, the numbers in its list and still to do, dials so far
    and how many reached a person."""

    name: str
    state: str
    total: int | None
    remaining: int | None
    attempts: int
    reached: int

    @classmethod
    def from_progress(cls, progress: Any) -> CampaignStatus:
        """From the communication server's own counters (``campaigns.all_progress()``)."""
        return cls(progress.name, progress.state, progress.total, progress.remaining, progress.attempts,
                   progress.answered)


@attrs.frozen
class Settled:
    """A contact whose wait ended: when, in which queue, answered within target or abandoned."""

    at: float
    queue: str
    answered: bool
    within: bool
    abandoned: bool


class _Agent:
    __slots__ = ("name", "presence", "reason", "since", "work", "handled", "state")

    def __init__(self, name: str):
        self.name = name
        self.presence = "logged-out"
        self.reason: str | None = None
        self.since = 0.0
        self.work: dict[str, str] = {}   # interaction -> offered | busy | wrapup
        self.handled = 0
        self.state = "logged-out"


class _Contact:
    __slots__ = ("queue", "arrived_queue", "arrived", "today", "waiting_since", "first_queued",
                 "offered_to", "answered", "waiting")

    def __init__(self, queue: str | None, arrived: float, today: bool):
        self.queue = queue
        self.arrived_queue = queue
        self.arrived = arrived
        self.today = today
        self.waiting_since: float | None = None
        self.first_queued: float | None = None
        self.offered_to: set[str] = set()
        self.answered = False
        self.waiting = False


class _Day:
    __slots__ = ("offered", "answered", "abandoned", "within", "settled")

    def __init__(self) -> None:
        self.offered = self.answered = self.abandoned = self.within = self.settled = 0


class LiveState:
    """The fold (see the module docstring).

    Args:
        targets: each queue's service-level threshold in seconds (default 20).
        queues: the configured queue names, shown even before any event.
        agents: the configured agent names, shown (logged out) before any event.
        timezone: where "today" starts and ends.
        short_abandon: abandons within this many seconds count apart (not in the service level).
        window: seconds of recent outcomes kept for the alert rules.
    """

    def __init__(self, *, targets: Mapping[str, float] | None = None, queues: Iterable[str] = (),
                 agents: Iterable[str] = (),
                 timezone: dt.tzinfo = dt.timezone.utc, short_abandon: float = 5.0, window: float = 3600.0):
        self.targets = dict(targets or {})
        self.timezone = timezone
        self.short_abandon = short_abandon
        self.window = window
        self.seq = 0
        self.agents: dict[str, _Agent] = {name: _Agent(name) for name in agents}
        self.contacts: dict[str, _Contact] = {}
        self.waiting: dict[str, dict[str, _Contact]] = {name: {} for name in queues}
        self.days: dict[str, _Day] = {}
        self.day: dt.date | None = None
        self.day_start = 0.0
        self.day_end = 0.0
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.recent: collections.deque[Settled] = collections.deque()

    # --- folding --------------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Fold one event; False (ignored) when it is not newer than the last one applied."""
        if event.seq <= self.seq:
            return False
        self.seq = event.seq
        at = event.at
        if at >= self.day_end:
            self._new_day(at)
        kind = event.kind
        if kind == "agent":
            self._presence(event)
        elif kind in ("campaign", "attempt"):
            self._campaign(event)
        elif event.interaction is not None:
            self._interaction(event)
        return True

    def _new_day(self, at: float) -> None:
        day = dt.datetime.fromtimestamp(at, self.timezone).date()
        start = dt.datetime.combine(day, dt.time(), self.timezone)
        self.day, self.day_start = day, start.timestamp()
        self.day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.timezone).timestamp()
        self.days = {}
        for agent in self.agents.values():
            agent.handled = 0
        for contact in self.contacts.values():
            contact.today = False

    def _agent(self, name: str) -> _Agent:
        agent = self.agents.get(name)
        if agent is None:
            agent = self.agents[name] = _Agent(name)
        return agent

    def _presence(self, event: Event) -> None:
        agent = self._agent(event.agent)
        data = event.data or {}
        agent.presence = data.get("state", agent.presence)
        agent.reason = data.get("reason") if agent.presence == "away" else None
        if agent.presence == "logged-out":
            agent.work.clear()
        self._restate(agent, event.at, force=True)

    def _restate(self, agent: _Agent, at: float, *, force: bool = False) -> None:
        if agent.presence == "logged-out":
            state = "logged-out"
        else:
            held = set(agent.work.values())
            state = next((s for s in ("busy", "offered", "wrapup") if s in held), agent.presence)
        if force or state != agent.state:
            agent.state = state
            agent.since = at

    def _work(self, name: str | None, interaction: str, state: str | None, at: float) -> None:
        if name is None:
            return
        agent = self._agent(name)
        if state is None:
            agent.work.pop(interaction, None)
        else:
            agent.work[interaction] = state
        self._restate(agent, at)

    def _queue(self, name: str) -> dict[str, _Contact]:
        found = self.waiting.get(name)
        if found is None:
            found = self.waiting[name] = {}
        return found

    def _day(self, queue: str | None) -> _Day:
        key = queue or "(none)"
        found = self.days.get(key)
        if found is None:
            found = self.days[key] = _Day()
        return found

    def _interaction(self, event: Event) -> None:
        kind, at, ident = event.kind, event.at, event.interaction
        contact = self.contacts.get(ident)
        if kind == "offered":
            contact = self.contacts[ident] = _Contact(event.queue, at, at >= self.day_start)
            if contact.today:
                self._day(event.queue).offered += 1
            return
        if contact is None:  # its offer is older than what was read: follow it from here
            contact = self.contacts[ident] = _Contact(event.queue, at, False)
        if kind == "queued":
            self._unwait(ident, contact)
            contact.queue = event.queue
            if contact.waiting_since is None:
                contact.waiting_since = at
            if contact.first_queued is None:
                contact.first_queued = at
            contact.waiting = True
            self._queue(event.queue)[ident] = contact
        elif kind == "routed":
            contact.offered_to.add(event.agent)
            self._unwait(ident, contact)
            self._work(event.agent, ident, "offered", at)
        elif kind == "unanswered":
            contact.offered_to.discard(event.agent)
            self._work(event.agent, ident, None, at)
            if not contact.offered_to and not contact.answered and contact.queue is not None:
                contact.waiting = True
                self._queue(contact.queue)[ident] = contact
        elif kind == "answered":
            self._unwait(ident, contact)
            contact.offered_to.clear()
            self._work(event.agent, ident, "busy", at)
            if not contact.answered:
                contact.answered = True
                self._settle(contact, at, answered=True)
        elif kind == "wrapup":
            self._work(event.agent, ident, "wrapup", at)
        elif kind == "transferred":
            self._work(event.agent, ident, None, at)
            contact.waiting_since = None
        elif kind == "completed":
            self._work(event.agent, ident, None, at)
            if event.agent is not None and event.agent in self.agents:
                self.agents[event.agent].handled += 1
            self._forget(ident, contact)
        elif kind in _SETTLED_KINDS:
            self._unwait(ident, contact)
            for name in list(contact.offered_to):
                self._work(name, ident, None, at)
            if not contact.answered:
                self._settle(contact, at, answered=False, abandoned=kind == "abandoned")
            self._forget(ident, contact)

    def _unwait(self, ident: str, contact: _Contact) -> None:
        if contact.waiting:
            contact.waiting = False
            queue = self.waiting.get(contact.queue)
            if queue is not None:
                queue.pop(ident, None)

    def _forget(self, ident: str, contact: _Contact) -> None:
        self._unwait(ident, contact)
        self.contacts.pop(ident, None)

    def _settle(self, contact: _Contact, at: float, *, answered: bool, abandoned: bool = False) -> None:
        queue = contact.arrived_queue or "(none)"
        wait = at - (contact.first_queued if contact.first_queued is not None else at)
        if abandoned and wait <= self.short_abandon:
            return  # a short abandon: not in the service level
        within = answered and wait <= self.targets.get(queue, 20.0)
        self.recent.append(Settled(at, queue, answered, within, abandoned))
        horizon = at - self.window
        while self.recent and self.recent[0].at < horizon:
            self.recent.popleft()
        if contact.today:
            day = self._day(contact.arrived_queue)
            day.settled += 1
            day.answered += answered
            day.abandoned += abandoned
            day.within += within

    def _campaign(self, event: Event) -> None:
        name = event.campaign
        if name is None:
            return
        found = self.campaigns.setdefault(name, {"state": "created", "total": None, "remaining": None,
                                                 "attempts": 0, "reached": 0})
        data = event.data or {}
        if event.kind == "campaign" and "state" in data:
            found["state"] = data["state"]
            for key in ("total", "remaining"):
                if key in data:
                    found[key] = data[key]
        elif event.kind == "attempt":
            if data.get("result") in ("answered", "no-answer", "busy", "voicemail", "failed"):
                found["attempts"] += 1
                found["reached"] += data.get("result") == "answered"

    # --- reading --------------------------------------------------------------------------

    def roll(self, now: float) -> None:
        """Start a new day at midnight even when no event came since (a quiet night)."""
        if self.day is not None and now >= self.day_end:
            self._new_day(now)

    def agent_statuses(self, now: float) -> list[AgentStatus]:
        return [AgentStatus(a.name, a.state, a.reason, a.since, round(max(0.0, now - a.since), 3),
                            len(a.work), a.handled) for a in sorted(self.agents.values(), key=lambda a: a.name)]

    def queue_statuses(self, now: float) -> list[QueueLive]:
        found = []
        for name in sorted(set(self.waiting) | {q for q in self.days if q != "(none)"}):
            waiting = self.waiting.get(name, {})
            oldest = min((c.waiting_since for c in waiting.values() if c.waiting_since is not None), default=None)
            day = self.days.get(name) or _Day()
            found.append(QueueLive(
                name, len(waiting), round(max(0.0, now - oldest), 3) if oldest is not None else 0.0,
                day.offered, day.answered, day.abandoned,
                round(day.within / day.settled, 4) if day.settled else None))
        return found

    def campaign_statuses(self) -> list[CampaignStatus]:
        return [CampaignStatus(name, c["state"], c["total"], c["remaining"], c["attempts"], c["reached"])
                for name, c in sorted(self.campaigns.items())]

    def recent_outcomes(self, since: float, queue: str | None = None) -> list[Settled]:
        """The contacts whose wait ended at or after ``since`` (of one queue, or all)."""
        return [s for s in self.recent if s.at >= since and (queue is None or s.queue == queue)]
