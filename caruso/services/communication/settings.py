"""``[services.communication.settings]``: skills, queues, agents and how contacts are handled.

An integrator declares the call centre in the descriptor::

    [services.communication.settings]
    skills = ["billing", "technical", "moves"]
    languages = ["nl", "en"]

    [[services.communication.settings.queues]]
    name = "billing"
    requires = "skills HAS 'billing' AND 'nl' IN languages"
    strategy = "longest-idle"
    service_level = { answer_within = 20, target = 0.8 }
    max_wait = 300
    limit = "voicemail"
    steps = [ { after = 30, requires = "skills HAS 'billing'" },
              { after = 120, queue = "general" } ]

    [[services.communication.settings.agents]]
    name = "anna"
    skills = { billing = 8, technical = 3 }
    languages = ["nl", "en"]
    location = "remote"
    endpoint = "tel:+31612345678"

The attrs classes below are the schema (cattrs structures the table into them
at load, so a typo or a wrong type fails with its line); ``check_settings``
adds what types cannot say - a queue step naming a queue that does not exist,
an agent with an unknown skill - each located at its line in caruso.toml.
The reference for integrators is ``docs/communication.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from caruso.errors import Problem, RequirementError, did_you_mean
from caruso.services.communication.campaigns import CampaignSettings, check_campaigns

__all__ = [
    "AgentSettings",
    "BusinessHours",
    "CommunicationSettings",
    "EventLogSettings",
    "IdentifySettings",
    "QueueSettings",
    "ServiceLevel",
    "StepSettings",
    "TrafficSettings",
    "TrafficStream",
    "check_settings",
]

Limit = Literal["voicemail", "callback", "queue", "wait"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@attrs.frozen
class ServiceLevel:
    """The queue's target: ``target`` of the contacts answered within ``answer_within`` seconds."""

    answer_within: float = 20.0
    target: float = attrs.field(default=0.8, validator=[attrs.validators.ge(0), attrs.validators.le(1)])


@attrs.frozen
class StepSettings:
    """One step of a queue's relaxation: what changes once a contact has waited ``after`` seconds.

    Args:
        after: seconds in this queue before the step applies.
        requires: a wider skill requirement (agents the earlier steps admitted stay admitted).
        max_penalty: admit agents with a penalty up to this in this queue.
        match_language: False to drop the contact's language from the requirement.
        queue: move the contact to this queue instead (overflow).
    """

    after: float = attrs.field(validator=attrs.validators.ge(0))
    requires: str | None = None
    max_penalty: int | None = None
    match_language: bool | None = None
    queue: str | None = None


@attrs.frozen
class BusinessHours:
    """When a queue is open, in its time zone. ``days`` maps ``mon`` .. ``sun`` (or a range
    ``mon-fri``) to ``"08:00-18:00"``, several ranges with commas, or ``"closed"``; a day
    not listed is closed. ``closed_on`` lists dates (holidays)."""

    timezone: str = "UTC"
    days: dict[str, str] = attrs.field(factory=dict)
    closed_on: tuple[dt.date, ...] = ()

    def windows(self) -> dict[int, list[tuple[dt.time, dt.time]]]:
        """Weekday (0 = Monday) -> open windows; raises ValueError with a clear message."""
        found: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for key, text in self.days.items():
            for day in _days(key):
                found[day] = _windows(text, key)
        return found

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r} (write one like 'Europe/Amsterdam')") from exc

    def is_open(self, when: dt.datetime) -> bool:
        local = when.astimezone(self.zone())
        if local.date() in self.closed_on:
            return False
        moment = local.time()
        return any(start <= moment < end for start, end in self.windows().get(local.weekday(), ()))


@attrs.frozen
class QueueSettings:
    """``[[services.communication.settings.queues]]``: one queue.

    Args:
        name: the queue's name, as channels, scripts and agents refer to it.
        requires: the skill requirement agents must meet (see ``docs/communication.md``);
            empty: any agent.
        strategy: the routing strategy's name (``longest-idle``, ``ring-all``, ...).
        service_level: the service-level target reported for this queue.
        max_wait: seconds a contact may wait before ``limit`` applies (None: no limit).
        limit: what happens at ``max_wait``: ``voicemail`` (callers leave a message, which is
            called back), ``callback`` (callers are offered a call back), ``queue`` (move to
            ``limit_queue``) or ``wait`` (keep waiting). A non-voice contact cannot leave a
            voicemail or be offered a call back: it keeps waiting.
        limit_queue: the queue for ``limit = "queue"`` (and out of hours ``queue``).
        hours: business hours; None: always open.
        out_of_hours: what happens to a contact arriving while the queue is closed (as ``limit``).
        wrapup: seconds of wrap-up an agent gets after each contact of this queue (the agent may
            complete earlier); 0: the contact completes as it ends.
        priority: added to every contact's priority in this queue (across the queues an agent
            serves, higher priority is taken first, then the longest waiting).
        penalties: agent name -> penalty in this queue; lower penalties are offered first
            (Asterisk's member penalty); agents not listed have 0.
        max_penalty: agents with a higher penalty are not offered this queue's contacts
            until a step raises it.
        match_language: contacts with a language go only to agents who speak it.
        steps: relaxation and overflow as the wait grows, in order of ``after``.
        ivr: a dialogue script that answers voice calls first, in IVR mode.
        voicemail_queue: where voicemail messages go to be called back (default: this queue).
        channels: the channels this queue accepts (empty: all).
    """

    name: str
    requires: str = ""
    strategy: str = "longest-idle"
    service_level: ServiceLevel = ServiceLevel()
    max_wait: float | None = None
    limit: Limit = "voicemail"
    limit_queue: str | None = None
    hours: BusinessHours | None = None
    out_of_hours: Limit = "voicemail"
    wrapup: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    priority: int = 0
    penalties: dict[str, int] = attrs.field(factory=dict)
    max_penalty: int | None = None
    match_language: bool = True
    steps: tuple[StepSettings, ...] = ()
    ivr: str | None = None
    voicemail_queue: str | None = None
    channels: tuple[str, ...] = ()


@attrs.frozen
class AgentSettings:
    """``[[services.communication.settings.agents]]``: one agent.

    Args:
        name: the agent's login name.
        skills: skill -> level (1 to 10 by convention; 0 means not held).
        languages: language codes the agent speaks.
        capacity: medium -> how many at once (default voice 1, chat 3, email 5, sms 5).
        location: ``office`` or ``remote``.
        endpoint: where interactions are delivered: an office extension, a phone number
            at home (``tel:+31...``), a softphone URI; default ``agent:NAME``.
        attributes: free attributes requirements may read (``team``, ``level``).
    """

    name: str
    skills: dict[str, int] = attrs.field(factory=dict)
    languages: tuple[str, ...] = ()
    capacity: dict[str, int] = attrs.field(factory=dict)
    location: Literal["office", "remote"] = "office"
    endpoint: str | None = None
    attributes: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class IdentifySettings:
    """How a contact's address is matched to a customer in the business objects.

    Args:
        object: the business object (``Customer``); None: contacts stay unidentified.
        phone: attributes holding phone numbers, compared in E.164 and as written.
        email: attributes holding e-mail addresses, compared without case.
        country: the country calling code for national numbers (``31`` turns ``020 ...``
            into ``+3120...``).
        priority: an expression over ``customer`` giving a priority to add
            (``10 if customer.segment == 'vip' else 0``).
    """

    object: str | None = None
    phone: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    country: str | None = None
    priority: str | None = None


@attrs.frozen
class EventLogSettings:
    """How the event log writes.

    Args:
        batch_size: events written in one transaction once this many are buffered.
        flush_interval: seconds between writes of whatever is buffered (real time).
        durable_offers: write the log before a new interaction is accepted, so a crash
            right after never loses it (real time; the simulator batches).
        max_buffered: while the database is unavailable, events stay in memory; past this
            many, new interactions are refused (``EventLogUnavailable``).
    """

    batch_size: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    flush_interval: float = attrs.field(default=0.2, validator=attrs.validators.gt(0))
    durable_offers: bool = True
    max_buffered: int = attrs.field(default=100_000, validator=attrs.validators.ge(1))


@attrs.frozen
class TrafficStream:
    """One stream of synthetic contacts for ``caruso simulate``.

    Args:
        queue: the queue they arrive in.
        per_hour: mean arrivals per hour (Poisson).
        handle_time: mean seconds an agent spends on one (exponential).
        channel: the channel.
        patience: mean seconds a caller waits before hanging up (exponential; None: never).
        language: the contacts' language.
        skills: skills the contacts need beyond the queue's requirement.
        priority: their priority.
    """

    queue: str
    per_hour: float = attrs.field(validator=attrs.validators.gt(0))
    handle_time: float = attrs.field(default=180.0, validator=attrs.validators.gt(0))
    channel: str = "voice"
    patience: float | None = None
    language: str | None = None
    skills: tuple[str, ...] = ()
    priority: int = 0


@attrs.frozen
class TrafficSettings:
    """The application's traffic profile, for ``caruso simulate DIR`` without options."""

    hours: float = 8.0
    streams: tuple[TrafficStream, ...] = ()


@attrs.frozen
class CommunicationSettings:
    """``[services.communication.settings]``.

    Args:
        skills: every skill agents and queues may name (a typo elsewhere is an error).
        languages: every language code (empty: any).
        queues: the queues.
        agents: the agents known from the start (more can be added at run time).
        default_queue: where a contact goes that names no queue (default: the first).
        offer_timeout: seconds an agent has to accept an offer before it is taken back.
        away_on_missed: set an agent who let an offer time out away (reason ``missed offer``).
        identify: how contacts are matched to customers.
        event_log: how the event log writes.
        voicemail_folder: where recordings are stored, relative to the application folder.
        channels: channel -> the service that delivers it (ring the agent's endpoint,
            connect, release); channels without one are shown on the agent desktop only.
        real_time: run the timers in real time on a thread of their own when started
            (False: whoever drives the server - the simulator, a web server's event loop -
            calls ``run_due`` or awaits ``serve``).
        traffic: the traffic profile for ``caruso simulate``.
        campaigns: outbound campaigns (see ``campaigns.py``).
    """

    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    queues: tuple[QueueSettings, ...] = ()
    agents: tuple[AgentSettings, ...] = ()
    default_queue: str | None = None
    offer_timeout: float = attrs.field(default=20.0, validator=attrs.validators.gt(0))
    away_on_missed: bool = True
    identify: IdentifySettings = IdentifySettings()
    event_log: EventLogSettings = EventLogSettings()
    voicemail_folder: Path = Path("voicemail")
    channels: dict[str, str] = attrs.field(
        factory=lambda: {"voice": "telephony", "callback": "telephony", "voicemail": "telephony",
                         "email": "email", "chat": "chat", "sms": "sms"})
    real_time: bool = True
    traffic: TrafficSettings = TrafficSettings()
    campaigns: tuple[CampaignSettings, ...] = ()


# ---------------------------------------------------------------------------
# Checks types cannot express
# ---------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def check_settings(settings: CommunicationSettings, *, strategies: Mapping[str, Any] = (),
                   scripts: Mapping[str, Any] | None = None,
                   root: Path | None = None) -> Iterator[tuple[KeyPath, str]]:
    """Every inconsistency, as (key path under the settings, message) pairs.

    Unknown queues, agents, skills, languages, strategies and IVR scripts are
    named with a did-you-mean; requirements are parsed; campaigns are checked by
    ``campaigns.check_campaigns``. ``scripts`` (script id -> script) is checked only
    when given; ``root`` is the application folder relative file names start from.
    """
    from caruso.services.communication.model import CHANNELS, MEDIA
    from caruso.services.communication.requirements import parse_requirement

    queues = [q.name for q in settings.queues]
    agents = [a.name for a in settings.agents]
    skills = set(settings.skills)
    languages = set(settings.languages)
    for kind, names, key in (("queue", queues, "queues"), ("agent", agents, "agents")):
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                yield (key, index, "name"), f"two {kind}s are named {name!r}; names must be unique"
            seen.add(name)

    def queue_ref(path: KeyPath, name: str | None) -> Iterator[tuple[KeyPath, str]]:
        if name is not None and name not in queues:
            yield path, f"no queue {name!r}{did_you_mean(name, queues) or _known(queues)}"

    def requirement(path: KeyPath, text: str) -> Iterator[tuple[KeyPath, str]]:
        try:
            parsed = parse_requirement(text)
        except RequirementError as exc:
            yield path, str(exc)
            return
        for skill in sorted(parsed.skills - skills):
            yield path, f"unknown skill {skill!r}{did_you_mean(skill, skills) or _known(skills, 'skills')}"
        if languages:
            for language in sorted(parsed.languages - languages):
                yield path, f"unknown language {language!r}{did_you_mean(language, languages) or _known(languages, 'languages')}"

    yield from queue_ref(("default_queue",), settings.default_queue)
    for index, queue in enumerate(settings.queues):
        base: KeyPath = ("queues", index)
        yield from requirement((*base, "requires"), queue.requires)
        if strategies and queue.strategy not in strategies:
            yield (*base, "strategy"), (f"unknown routing strategy {queue.strategy!r}"
                                        f"{did_you_mean(queue.strategy, strategies) or _known(strategies, 'strategies')}")
        for agent in queue.penalties:
            if agent not in agents:
                yield (*base, "penalties", agent), f"no agent {agent!r}{did_you_mean(agent, agents) or _known(agents)}"
        if "queue" in (queue.limit, queue.out_of_hours) and queue.limit_queue is None:
            yield (*base, "limit_queue"), f"queue {queue.name!r} moves contacts to another queue at its limit; name it in limit_queue"
        yield from queue_ref((*base, "limit_queue"), queue.limit_queue)
        yield from queue_ref((*base, "voicemail_queue"), queue.voicemail_queue)
        for channel in queue.channels:
            if channel not in CHANNELS:
                yield (*base, "channels"), f"unknown channel {channel!r}{did_you_mean(channel, CHANNELS) or _known(CHANNELS)}"
        previous = -1.0
        for step_index, step in enumerate(queue.steps):
            path = (*base, "steps", step_index)
            if step.after < previous:
                yield (*path, "after"), "steps must be in order of 'after'"
            previous = step.after
            if step.requires is not None:
                yield from requirement((*path, "requires"), step.requires)
            yield from queue_ref((*path, "queue"), step.queue)
            if step.queue == queue.name:
                yield (*path, "queue"), f"a step of queue {queue.name!r} moves contacts to the same queue"
        if queue.hours is not None:
            try:
                queue.hours.zone()
                queue.hours.windows()
            except ValueError as exc:
                yield (*base, "hours"), str(exc)
        if queue.ivr is not None and scripts is not None and queue.ivr not in scripts:
            yield (*base, "ivr"), f"no dialogue script {queue.ivr!r}{did_you_mean(queue.ivr, scripts) or _known(scripts, 'scripts')}"
    for index, agent in enumerate(settings.agents):
        base = ("agents", index)
        for skill, level in agent.skills.items():
            if skill not in skills:
                yield (*base, "skills", skill), f"agent {agent.name!r} has unknown skill {skill!r}{did_you_mean(skill, skills) or _known(skills, 'skills')}"
            if level < 0:
                yield (*base, "skills", skill), f"skill levels are 0 or more, not {level}"
        if languages:
            for language in agent.languages:
                if language not in languages:
                    yield (*base, "languages"), f"agent {agent.name!r} speaks unknown language {language!r}{did_you_mean(language, languages) or _known(languages, 'languages')}"
        for medium, count in agent.capacity.items():
            if medium not in set(MEDIA.values()):
                yield (*base, "capacity", medium), f"unknown medium {medium!r}; capacities are for voice, chat, email and sms"
            elif count < 0:
                yield (*base, "capacity", medium), f"a capacity is 0 or more, not {count}"
    for channel in settings.channels:
        if channel not in CHANNELS:
            yield ("channels", channel), f"unknown channel {channel!r}{did_you_mean(channel, CHANNELS) or _known(CHANNELS)}"
    for index, stream in enumerate(settings.traffic.streams):
        yield from queue_ref(("traffic", "streams", index, "queue"), stream.queue)
        if stream.channel not in CHANNELS:
            yield ("traffic", "streams", index, "channel"), f"unknown channel {stream.channel!r}"
        for skill in stream.skills:
            if skill not in skills:
                yield ("traffic", "streams", index, "skills"), f"unknown skill {skill!r}{did_you_mean(skill, skills)}"
    yield from check_campaigns(settings.campaigns, queues, scripts, country=settings.identify.country, root=root)


def settings_problems(settings: CommunicationSettings, *, config: Any, service: str = "communication",
                      **checks: Any) -> list[Problem]:
    """``check_settings`` as Problems located at their line in caruso.toml (when there is one)."""
    from caruso.config import locate_key

    found = []
    for key_path, message in check_settings(settings, **checks):
        full = ("services", service, "settings", *key_path)
        dotted = ".".join(str(k) for k in full)
        if config is None:
            found.append(Problem(None, None, f"{dotted}: {message}"))
            continue
        line = locate_key(config.text, full) or locate_key(config.text, full[:-1])
        found.append(Problem(str(config.path), line, f"{dotted}: {message}"))
    return found


def _known(names: Any, what: str = "") -> str:
    names = sorted(names)
    if not names:
        return f"; none is configured{f' (add them to {what})' if what else ''}"
    return "; known: " + ", ".join(names)


def _days(key: str) -> list[int]:
    first, dash, last = key.partition("-")
    if first not in DAYS or (dash and last not in DAYS):
        raise ValueError(f"business hours: {key!r} is not a day; write mon .. sun, or a range like mon-fri")
    start = DAYS.index(first)
    end = DAYS.index(last) if dash else start
    if end < start:
        raise ValueError(f"business hours: the range {key!r} runs backwards")
    return list(range(start, end + 1))


def _windows(text: str, key: str) -> list[tuple[dt.time, dt.time]]:
    if text.strip().lower() == "closed":
        return []
    windows = []
    for part in text.split(","):
        start, dash, end = part.strip().partition("-")
        try:
            opens = dt.time.fromisoformat(start.strip())
            closes = dt.time.fromisoformat(end.strip()) if end.strip() != "24:00" else dt.time.max
        except ValueError:
            raise ValueError(f"business hours for {key!r}: {part.strip()!r} is not a range like 08:00-18:00") from None
        if not dash or closes <= opens:
            raise ValueError(f"business hours for {key!r}: {part.strip()!r} is not a range like 08:00-18:00")
        windows.append((opens, closes))
    return windows
