"""Interactions and agents: the two things the communication server moves around.

Both are plain mutable objects with ``__slots__``: the server changes them on
every event, and the simulator pushes hundreds of thousands through per second.
What the outside world sees of them is a frozen snapshot (``InteractionView``,
``AgentView``), so a caller can never corrupt the router's state.

An **interaction** is one contact on one channel - a call, an e-mail, a chat,
an SMS, a callback request, a voicemail to call back - from arrival to
completion. Its state moves::

    new -> ivr -> waiting -> offered -> connected -> wrapup -> done
                    ^___________|  (taken back, declined)

An **agent** has a presence the person chooses (logged out, ready, away with a
reason) and a load the router gives (interactions offered, connected, in
wrap-up, per medium). The state shown on the monitor follows from both:
``logged-out``, ``away``, ``offered``, ``busy``, ``wrapup`` or ``ready``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "AGENT_STATES",
    "CHANNELS",
    "MEDIA",
    "Agent",
    "AgentView",
    "Interaction",
    "InteractionView",
]

CHANNELS = ("voice", "email", "chat", "sms", "callback", "voicemail")
"""Every channel an interaction can come on. ``callback`` is a customer's request to be
called; ``voicemail`` a message left, to be called back."""

MEDIA = {"voice": "voice", "callback": "voice", "voicemail": "voice",
         "chat": "chat", "email": "email", "sms": "sms"}
"""The medium each channel uses of an agent's capacity: calling a customer back takes
the agent's phone like a call does."""

DEFAULT_CAPACITY = {"voice": 1, "chat": 3, "email": 5, "sms": 5}

# Interaction states
NEW, IVR, WAITING, OFFERED, CONNECTED, WRAPUP, DONE = (
    "new", "ivr", "waiting", "offered", "connected", "wrapup", "done")

# Agent presence (chosen by the person) and states (shown on the monitor)
LOGGED_OUT, READY, AWAY = "logged-out", "ready", "away"
AGENT_STATES = (LOGGED_OUT, READY, "offered", "busy", "wrapup", AWAY)


class Interaction:
    """One contact, from arrival to completion (see the module docstring for its states).

    Times are the server clock's monotonic seconds.
    """

    __slots__ = (
        "id", "channel", "direction", "customer", "address", "subject", "queue", "priority",
        "skills", "language", "sla", "data", "external", "parent", "campaign",
        "state", "created", "waiting_since", "queued_at", "order", "step", "target",
        "agent", "offered_to", "offered_at", "answered_at", "ended_at", "declined",
        "timers", "stamp", "position", "code", "ivr_session", "transfers",
    )

    def __init__(self, id: str, channel: str, *, direction: str = "inbound", customer: Any = None,
                 address: str | None = None, subject: str | None = None, queue: str | None = None,
                 priority: int = 0, skills: tuple[str, ...] = (), language: str | None = None,
                 sla: float | None = None, data: dict | None = None, external: str | None = None,
                 parent: str | None = None, campaign: str | None = None, created: float = 0.0):
        self.id = id
        self.channel = channel
        self.direction = direction
        self.customer = customer
        self.address = address
        self.subject = subject
        self.queue = queue
        self.priority = priority
        self.skills = skills
        self.language = language
        self.sla = sla
        self.data = data if data is not None else {}
        self.external = external
        self.parent = parent
        self.campaign = campaign
        self.state = NEW
        self.created = created
        self.waiting_since: float | None = None  # first entered any queue (speed of answer)
        self.queued_at = 0.0                    # entered the current queue (steps, max wait)
        self.order = 0                          # arrival order in the queue; lower is older
        self.step = 0                           # the queue step (relaxation) it is at
        self.target = None                      # the router's Target it waits in
        self.agent: str | None = None
        self.offered_to: list[str] = []
        self.offered_at = 0.0
        self.answered_at = 0.0
        self.ended_at = 0.0
        self.declined: set[str] | None = None
        self.timers: list = []
        self.stamp = 0
        self.position = 0
        self.code: str | None = None
        self.ivr_session: str | None = None
        self.transfers = 0

    @property
    def medium(self) -> str:
        return MEDIA[self.channel]

    def describe(self) -> dict[str, Any]:
        """What the ``offered`` event records: enough to rebuild the interaction after a crash."""
        found: dict[str, Any] = {"direction": self.direction}
        optional = (("customer", self.customer), ("address", self.address), ("subject", self.subject),
                    ("language", self.language), ("sla", self.sla), ("parent", self.parent),
                    ("campaign", self.campaign))
        for name, value in optional:
            if value is not None:
                found[name] = value
        if self.priority:
            found["priority"] = self.priority
        if self.skills:
            found["skills"] = list(self.skills)
        if self.data:
            found["data"] = self.data
        return found

    def view(self, now: float) -> InteractionView:
        return InteractionView(
            id=self.id, channel=self.channel, direction=self.direction, state=self.state,
            customer=self.customer, address=self.address, subject=self.subject, queue=self.queue,
            priority=self.priority, skills=self.skills, language=self.language, agent=self.agent,
            waiting=(now - self.waiting_since) if self.waiting_since is not None and self.state in (WAITING, OFFERED) else 0.0,
            data=dict(self.data), parent=self.parent, campaign=self.campaign, external=self.external,
            ivr_session=self.ivr_session,
        )


@attrs.frozen
class InteractionView:
    """A snapshot of an interaction for the desktop, the monitor and tests.

    ``data`` carries what travelled with it: the IVR's answers (``data["ivr"]``),
    a voicemail's recording, the channel's own fields.
    """

    id: str
    channel: str
    direction: str
    state: str
    customer: Any = None
    address: str | None = None
    subject: str | None = None
    queue: str | None = None
    priority: int = 0
    skills: tuple[str, ...] = ()
    language: str | None = None
    agent: str | None = None
    waiting: float = 0.0
    data: Mapping[str, Any] = attrs.field(factory=dict)
    parent: str | None = None
    campaign: str | None = None
    external: str | None = None
    ivr_session: str | None = None


class Agent:
    """A person who takes interactions, with a profile the skill requirements read."""

    __slots__ = (
        "name", "skills", "languages", "attributes", "capacity", "endpoint", "location", "order",
        "presence", "reason", "since", "load", "interactions", "offered", "last_ended", "handled",
        "handled_by_queue", "eligibility", "stamp", "profile", "timers",
    )

    def __init__(self, name: str, *, skills: Mapping[str, int] | None = None,
                 languages: tuple[str, ...] = (), attributes: Mapping[str, Any] | None = None,
                 capacity: Mapping[str, int] | None = None, endpoint: str | None = None,
                 location: str = "office", order: int = 0):
        self.name = name
        self.skills = dict(skills or {})
        self.languages = frozenset(languages)
        self.attributes = dict(attributes or {})
        self.capacity = {**DEFAULT_CAPACITY, **(capacity or {})}
        self.endpoint = endpoint or f"agent:{name}"
        self.location = location
        self.order = order
        self.presence = LOGGED_OUT
        self.reason: str | None = None
        self.since = 0.0
        self.load = dict.fromkeys(self.capacity, 0)
        self.interactions: dict[str, Interaction] = {}
        self.offered: str | None = None   # the interaction currently offered, if any
        self.last_ended = 0.0
        self.handled = 0
        self.handled_by_queue: dict[str, int] = {}
        self.eligibility: list = []       # (target, level) pairs, set by the router
        self.stamp = 0
        self.timers: list = []
        self.profile = {
            **self.attributes, "name": name, "skills": self.skills, "languages": self.languages,
            "location": location,
        }

    @property
    def state(self) -> str:
        if self.presence == LOGGED_OUT:
            return LOGGED_OUT
        states = {ix.state for ix in self.interactions.values()}
        if CONNECTED in states:
            return "busy"
        if OFFERED in states:
            return "offered"
        if WRAPUP in states:
            return "wrapup"
        return self.presence

    def busy_slots(self) -> int:
        return len(self.interactions)

    def can_take(self, medium: str) -> bool:
        """Room for one more interaction of ``medium``: one medium at a time, within its capacity,
        no offer outstanding, nothing in wrap-up (the wrap-up time is the agent's own)."""
        if self.presence != READY or self.offered is not None:
            return False
        for ix in self.interactions.values():
            if ix.state == WRAPUP or MEDIA[ix.channel] != medium:
                return False
        return len(self.interactions) < self.capacity.get(medium, 0)

    def view(self, now: float) -> AgentView:
        return AgentView(
            name=self.name, state=self.state, reason=self.reason if self.presence == AWAY else None,
            since=self.since, in_state=max(0.0, now - self.since), skills=dict(self.skills),
            languages=tuple(sorted(self.languages)), endpoint=self.endpoint, location=self.location,
            interactions=tuple(self.interactions), handled=self.handled,
        )


@attrs.frozen
class AgentView:
    """A snapshot of an agent: state (with the away reason), time in state, what they hold."""

    name: str
    state: str
    reason: str | None
    since: float
    in_state: float
    skills: Mapping[str, int]
    languages: tuple[str, ...]
    endpoint: str
    location: str
    interactions: tuple[str, ...]
    handled: int
