"""Outbound campaigns: a call list from a segment, dialed through the communication server.

A campaign is a list of numbers (from a business-object query, a *segment*, or
written in the descriptor) that agents of one queue call, in one of three modes:

- **preview**: the agent sees the next record and decides to dial or skip it;
- **progressive**: one line per free agent, reserved for that agent before it rings;
- **predictive**: more lines than free agents (the *pacing* ratio), because most
  calls are not answered; an answered call waits for the first free agent, and is
  *abandoned* if none takes it within ``abandon_after`` seconds.

Nothing here keeps state of its own that the event log does not also have: every
dial writes an ``attempt`` event, every state change a ``campaign`` event, and the
call's own events (``completed`` with its result code, ``abandoned``) carry the
campaign's name. When the server starts, ``CampaignManager`` replays them, so a
restart neither forgets a do-not-call entry nor dials a number more often than
``max_attempts`` allows.

The manager is driven by the server, never by a thread of its own: a dial listener
records each result, an event subscriber notices agents coming free and calls
ending, and timers (``server.call_at``) wake it for retries and for calling hours. All
of that happens under the server's lock; dialing itself is deferred to the end of
the server operation that made it possible (the server's outbox), so the server
is consistent when the telephony connector - which may answer at once, as the
simulated one does - reports back.

Why predictive dialing cannot break the abandon cap: a line is *at risk* when it
rings (or was answered) without a free agent to take it. Before adding one, the
manager checks that even if every line at risk were answered and abandoned, the
campaign's abandon rate (abandoned / answered by a person, the FCC's and Ofcom's
measure) would stay at or under ``max_abandon_rate``. So the cap is a bound, not
a target the dialer steers around; the pacing ratio (which follows the measured
answer rate) only decides how many lines to use within it. The bound assumes that
the agents counted free when a line is dialed are still free when it is answered:
agents who also take inbound calls, or campaigns sharing agents, loosen it (the
budget then shrinks by the abandons that really happened). See docs/campaigns.md.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import itertools
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from caruso.errors import (
    CarusoError,
    CommunicationError,
    InteractionStateError,
    UnknownName,
    did_you_mean,
)
from caruso.services.communication.identify import normalise_number

__all__ = [
    "DIAL_RESULTS",
    "MODES",
    "NOT_DIALED",
    "CallingHours",
    "CampaignManager",
    "CampaignProgress",
    "CampaignSettings",
    "PreviewRecord",
    "SegmentSettings",
    "check_campaigns",
    "normalise_number",
]

log = logging.getLogger("caruso.communication.campaigns")

MODES = ("preview", "progressive", "predictive")
DIAL_RESULTS = ("answered", "no-answer", "busy", "voicemail", "failed")
"""What the telephony connector reports for a dial."""
NOT_DIALED = ("do-not-call", "invalid", "skipped")
"""Attempt results written without a call: on the do-not-call list, not a phone number,
skipped by the agent in preview."""
RETRY_RESULTS = ("no-answer", "busy", "voicemail", "failed", "abandoned", "skipped")
DEFAULT_RETRY = {"no-answer": 3600.0, "busy": 600.0, "voicemail": 7200.0, "failed": 600.0, "abandoned": 3600.0}
STATES = ("idle", "running", "waiting", "paused", "stopped", "finished")

_TERMINAL = frozenset({"completed", "abandoned", "voicemail", "callback"})
_FREES_AN_AGENT = frozenset({"completed", "agent", "unanswered", "transferred"})
_OVERDUE = 30.0      # seconds past the ring timeout after which a dial without a result has failed
_LOAD_RETRY = 60.0   # seconds before a call list that could not be read is tried again
_LEARNING = 0.05     # weight of one dial in the answer-rate estimate behind the pacing


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@attrs.frozen
class SegmentSettings:
    """The call list as a query on business objects: ``object`` rows matching ``where``
    (attribute = value, or attribute in a list), dialed at their ``phone`` attribute in
    ``order_by`` order (default: the primary key)."""

    object: str
    where: dict[str, Any] = attrs.field(factory=dict)
    phone: str = "phone"
    order_by: str | None = None


@attrs.frozen
class CallingHours:
    """When a campaign may dial, in its time zone: the same form as a queue's ``hours``
    (``days = { mon-fri = "09:00-20:00", sat = "10:00-14:00" }``, ``closed_on`` dates)."""

    timezone: str = "UTC"
    days: dict[str, str] = attrs.field(factory=dict)
    closed_on: tuple[dt.date, ...] = ()

    def business_hours(self) -> Any:
        """The equivalent ``BusinessHours`` (imported here: settings.py imports this module)."""
        from caruso.services.communication.settings import BusinessHours

        return BusinessHours(self.timezone, dict(self.days), tuple(self.closed_on))


@attrs.frozen
class CampaignSettings:
    """``[[services.communication.settings.campaigns]]``: one outbound campaign.

    Args:
        name: how the API, the event log and the monitor name it.
        queue: the queue whose agents take its calls (its requirement chooses them).
        mode: ``preview``, ``progressive`` or ``predictive``.
        segment: the call list from the business objects.
        numbers: an explicit call list (before the segment's numbers).
        call_list: a service whose ``call_list(campaign)`` gives more of the list, as
            ``(number, customer key, data)`` rows (the marketing plugin's saved segments).
        script: the dialogue script the agent runs on its calls.
        max_attempts: dials per number at most.
        retry: result (``no-answer``, ``busy``, ``voicemail``, ``failed``, ``abandoned``,
            ``skipped``) or result code -> seconds before the number is dialed again.
            Results not listed end the number's attempts. Replaces the default table.
        do_not_call: numbers never to dial (compared in E.164).
        do_not_call_file: a file of such numbers, one a line (``#`` comments), read at
            every start and resume.
        do_not_call_codes: result codes meaning "do not call me again": the number is
            added to the do-not-call list of every campaign.
        calling_hours: when it may dial; outside them it waits (None: always).
        max_abandon_rate: the cap on abandoned / answered calls (predictive).
        abandon_after: seconds an answered predictive call waits for an agent before it
            is dropped as abandoned.
        pacing: the initial lines per free agent (predictive); then the measured answer
            rate sets it, between 1 and ``max_pacing``.
        max_pacing: the most lines per free agent.
        max_lines: the most calls of this campaign at once (the trunk's channels); None: no limit.
        auto_answer: connect an answered predictive call to the agent at once (the agent
            does not accept it); False: the agent accepts, within ``abandon_after``.
        ring_timeout: seconds a call rings before it is ``no-answer``.
        result_codes: the codes agents give with ``complete(..., code=)`` (the desktop's list).
        country: the country calling code for national numbers (default: the one of
            ``[services.communication.settings.identify]``).
    """

    name: str
    queue: str
    mode: Literal["preview", "progressive", "predictive"] = "progressive"
    segment: SegmentSettings | None = None
    numbers: tuple[str, ...] = ()
    call_list: str | None = None
    script: str | None = None
    max_attempts: int = 3
    retry: dict[str, float] = attrs.field(factory=lambda: dict(DEFAULT_RETRY))
    do_not_call: tuple[str, ...] = ()
    do_not_call_file: Path | None = None
    do_not_call_codes: tuple[str, ...] = ("do-not-call",)
    calling_hours: CallingHours | None = None
    max_abandon_rate: float = 0.03
    abandon_after: float = 2.0
    pacing: float = 1.5
    max_pacing: float = 3.0
    max_lines: int | None = None
    auto_answer: bool = True
    ring_timeout: float = 25.0
    result_codes: tuple[str, ...] = ()
    country: str | None = None


# ---------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------


@attrs.frozen
class CampaignProgress:
    """A campaign right now, for the supervisor's monitor.

    ``total`` numbers in the list; ``dialed`` of them called at least once; ``attempts``
    dials in all; ``answered`` by a person (abandoned ones included); ``abandoned`` of
    those; ``abandon_rate`` = abandoned / answered; ``remaining`` numbers still to
    finish (in progress included); ``by_result`` attempts per result, with the numbers
    not dialed (``do-not-call``, ``invalid``, ``skipped``); ``by_code`` answered calls per
    result code; ``finished`` numbers per how they ended; ``pacing`` the lines per free
    agent now; ``opens`` when dialing resumes while ``waiting`` for calling hours.
    """

    name: str
    mode: str
    state: str
    total: int
    dialed: int
    attempts: int
    answered: int
    abandoned: int
    abandon_rate: float
    remaining: int
    in_progress: int
    by_result: Mapping[str, int]
    by_code: Mapping[str, int]
    finished: Mapping[str, int]
    pacing: float
    opens: dt.datetime | None = None


@attrs.frozen
class PreviewRecord:
    """The record an agent previews: whom to call, what is known of them, which attempt."""

    campaign: str
    number: str
    customer: Any
    data: Mapping[str, Any]
    attempt: int
    last_result: str | None
    script: str | None


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def check_campaigns(campaigns: Iterable[CampaignSettings], queues: Iterable[str],
                    scripts: Mapping[str, Any] | None = None, *, country: str | None = None,
                    root: Path | None = None) -> Iterator[tuple[KeyPath, str]]:
    """Every inconsistency of the campaigns, as (key path under
    ``services.communication.settings``, message) pairs, like ``settings.check_settings``.

    ``queues`` are the configured queue names; ``scripts`` (script id -> script) is
    checked only when given; ``country`` is the identify section's default.
    """
    queues = list(queues)
    seen: set[str] = set()
    for index, campaign in enumerate(campaigns):
        base: KeyPath = ("campaigns", index)
        if campaign.name in seen:
            yield (*base, "name"), f"two campaigns are named {campaign.name!r}; names must be unique"
        seen.add(campaign.name)
        if campaign.queue not in queues:
            yield (*base, "queue"), f"no queue {campaign.queue!r}{_suggest(campaign.queue, queues)}"
        if campaign.mode not in MODES:
            yield (*base, "mode"), f"unknown mode {campaign.mode!r}{_suggest(campaign.mode, MODES)}"
        if campaign.script is not None and scripts is not None and campaign.script not in scripts:
            yield (*base, "script"), f"no dialogue script {campaign.script!r}{_suggest(campaign.script, scripts)}"
        if not campaign.numbers and campaign.segment is None and campaign.call_list is None:
            yield base, f"campaign {campaign.name!r} has no call list: give a segment, numbers or a call_list service"
        if campaign.max_attempts < 1:
            yield (*base, "max_attempts"), f"max_attempts is 1 or more, not {campaign.max_attempts}"
        codes = set(campaign.result_codes) | set(campaign.do_not_call_codes)
        for key, seconds in campaign.retry.items():
            # Without a list of result codes any key may be a code: only a misspelt result is an error.
            looks_wrong = campaign.result_codes or did_you_mean(key, RETRY_RESULTS)
            if key not in RETRY_RESULTS and key not in codes and looks_wrong:
                yield (*base, "retry", key), (f"{key!r} is neither a result nor a result code"
                                              f"{_suggest(key, [*RETRY_RESULTS, *campaign.result_codes])}")
            if seconds < 0:
                yield (*base, "retry", key), f"a retry interval is 0 seconds or more, not {seconds}"
        if not 0 <= campaign.max_abandon_rate < 1:
            yield (*base, "max_abandon_rate"), (f"max_abandon_rate is a fraction from 0 to below 1 (0.03 is 3%),"
                                                f" not {campaign.max_abandon_rate}")
        for key, value in (("abandon_after", campaign.abandon_after), ("ring_timeout", campaign.ring_timeout)):
            if value <= 0:
                yield (*base, key), f"{key} is a number of seconds above 0, not {value}"
        if campaign.pacing < 1:
            yield (*base, "pacing"), f"pacing is 1 line per free agent or more, not {campaign.pacing}"
        if campaign.max_pacing < max(1.0, campaign.pacing):
            yield (*base, "max_pacing"), f"max_pacing ({campaign.max_pacing}) is below pacing ({campaign.pacing})"
        if campaign.max_lines is not None and campaign.max_lines < 1:
            yield (*base, "max_lines"), f"max_lines is 1 or more, not {campaign.max_lines}"
        calling_code = campaign.country or country
        if calling_code is not None and not calling_code.isdigit():
            yield (*base, "country"), f"country is a calling code like '31', not {calling_code!r}"
        for key, numbers in (("numbers", campaign.numbers), ("do_not_call", campaign.do_not_call)):
            for number in numbers:
                if normalise_number(number, calling_code) is None:
                    yield (*base, key), (f"{number!r} is not a phone number (write it in E.164, like"
                                         " +31201234567, or set country for national numbers)")
        if campaign.do_not_call_file is not None:
            path = _resolve(campaign.do_not_call_file, root)
            if not path.is_file():
                yield (*base, "do_not_call_file"), f"the do-not-call file {str(path)!r} does not exist"
        if campaign.calling_hours is not None:
            try:
                hours = campaign.calling_hours.business_hours()
                hours.zone()
                hours.windows()
            except ValueError as exc:
                yield (*base, "calling_hours"), str(exc)


def _suggest(name: str, names: Iterable[str]) -> str:
    """A did-you-mean, else the names there are."""
    names = sorted(names)
    return did_you_mean(name, names) or ("; known: " + ", ".join(names) if names else "; none is configured")


def _resolve(path: Path, root: Path | None) -> Path:
    return path if path.is_absolute() or root is None else root / path


def next_opening(hours: Any, when: dt.datetime) -> dt.datetime | None:
    """``when`` if ``hours`` (BusinessHours) are open then, else when they next open
    (within a year), else None."""
    zone = hours.zone()
    local = when.astimezone(zone)
    windows = hours.windows()
    for offset in range(370):
        day = local.date() + dt.timedelta(days=offset)
        if day in hours.closed_on:
            continue
        for start, end in sorted(windows.get(day.weekday(), ())):
            opening = dt.datetime.combine(day, start, tzinfo=zone)
            closing = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
                       if end == dt.time.max else dt.datetime.combine(day, end, tzinfo=zone))
            if opening <= local < closing:
                return when
            if opening > local:
                return opening
    return None


# ---------------------------------------------------------------------------
# The state of a running campaign
# ---------------------------------------------------------------------------


@attrs.define
class _Record:
    """One number of a call list and how far it got."""

    number: str
    order: int
    customer: Any = None
    data: dict = attrs.field(factory=dict)
    attempts: int = 0
    last_result: str | None = None
    due: float = 0.0
    final: str | None = None          # why it is done: answered, a code, max-attempts, do-not-call, ...
    live: str | None = None           # the interaction dialing or talking to it
    result_seen: bool = False         # the live call has had its dial result
    reserved: str | None = None       # the agent previewing it
    needs_agent: bool = False         # dial it only with an agent reserved (it was abandoned)


class _Run:
    """A campaign's list, counters and timers."""

    def __init__(self, settings: CampaignSettings):
        self.settings = settings
        self.name = settings.name
        self.state = "idle"
        self.records: dict[str, _Record] = {}
        self.loaded = False
        self.fresh: collections.deque[str] = collections.deque()
        self.retries: list[tuple[float, int, str]] = []
        self.live: dict[str, str] = {}              # interaction id -> number
        self.reserved: dict[str, str] = {}          # agent -> number previewed
        self.do_not_call: set[str] = set()
        self.attempts = 0
        self.dialed = 0
        self.answered = 0
        self.abandoned = 0
        self.by_result: collections.Counter[str] = collections.Counter()
        self.by_code: collections.Counter[str] = collections.Counter()
        self.finished: collections.Counter[str] = collections.Counter()
        self.answer_rate = 1.0 / settings.pacing if settings.pacing >= 1 else 1.0
        self.opens: dt.datetime | None = None       # waiting for calling hours until then
        self.wake: Any = None
        self.wake_at: float | None = None
        self.order = itertools.count()

    @property
    def remaining(self) -> int:
        return sum(1 for record in self.records.values() if record.final is None)

    def ratio(self) -> float:
        """Lines per free agent: the inverse of the measured answer rate, within bounds."""
        settings = self.settings
        if settings.mode != "predictive":
            return 1.0
        return min(settings.max_pacing, max(1.0, 1.0 / max(self.answer_rate, 1e-3)))


class CampaignManager:
    """Runs the campaigns of one communication server (``server.campaigns``).

    Built by the server when it starts, before recovery: it replays the campaigns'
    events from the log, subscribes to the server's events and listens to dial
    results. Campaigns do not start by themselves: ``start(name)``.

    Raises:
        CommunicationError: a do-not-call file cannot be read.
    """

    def __init__(self, server: Any, campaigns: tuple[CampaignSettings, ...]):
        self.server = server
        self.campaigns = {campaign.name: campaign for campaign in campaigns}
        self._runs = {campaign.name: _Run(campaign) for campaign in campaigns}
        self._do_not_call: set[str] = set()      # every campaign's, added at run time
        self._replaying = False
        self._pace_requested = False
        self._pacing = False
        self._again = False
        self._probe: Any = None
        if not campaigns:
            return
        self._check()
        self._replay()
        server.dial_listeners.append(self._dial_result)
        self._subscription = server.subscribe(self._event)
        server.call_at(server.now(), self._after_restart)

    # --- the API --------------------------------------------------------------------

    def start(self, name: str) -> CampaignProgress:
        """Start dialing (again, after a stop or once finished: numbers added to the
        segment since are called, numbers done stay done).

        Raises:
            UnknownName: no such campaign. CommunicationError: the call list cannot be read.
        """
        with self.server._operation():
            run = self._run(name)
            if run.state == "paused":
                return self.resume(name)
            if run.state != "running":
                self._load(run)
                run.state = "running"
                run.opens = None
                self._emit_state(run, "started", total=len(run.records), remaining=run.remaining)
                self._hours_open(run)
                self._request_pace()
            return self._progress(run)

    def pause(self, name: str) -> CampaignProgress:
        """Stop dialing for now; calls in progress go on."""
        with self.server._operation():
            run = self._run(name)
            if run.state == "running":
                run.state = "paused"
                self._emit_state(run, "paused")
            elif run.state != "paused":
                raise InteractionStateError(
                    f"campaign {name!r} is {self._state(run)}; only a running campaign can pause")
            return self._progress(run)

    def resume(self, name: str) -> CampaignProgress:
        """Dial again after a pause (the do-not-call file is read again)."""
        with self.server._operation():
            run = self._run(name)
            if run.state == "paused":
                run.do_not_call = self._campaign_do_not_call(run.settings)
                run.state = "running"
                run.opens = None
                self._emit_state(run, "resumed")
                self._hours_open(run)
                self._request_pace()
            elif run.state != "running":
                raise InteractionStateError(f"campaign {name!r} is {self._state(run)}; start it instead")
            return self._progress(run)

    def stop(self, name: str) -> CampaignProgress:
        """Stop dialing; calls in progress go on, previewed records are given back.
        ``start`` continues where it stopped."""
        with self.server._operation():
            run = self._run(name)
            if run.state in ("running", "paused"):
                run.state = "stopped"
                for agent in list(run.reserved):
                    self._release(run, agent)
                self._emit_state(run, "stopped")
            return self._progress(run)

    def progress(self, name: str) -> CampaignProgress:
        """The campaign's counters right now."""
        with self.server._lock:
            return self._progress(self._run(name))

    def all_progress(self) -> list[CampaignProgress]:
        """Every campaign's counters, in configuration order."""
        with self.server._lock:
            return [self._progress(run) for run in self._runs.values()]

    def add_do_not_call(self, number: str, *, campaign: str | None = None) -> str:
        """Never dial ``number`` again: in every campaign, or in ``campaign`` only.
        Written to the event log, so it holds after a restart. Returns the E.164 form."""
        with self.server._operation():
            run = self._run(campaign) if campaign is not None else None
            return self._add_do_not_call(number, run)

    def preview(self, agent: str, campaign: str | None = None) -> PreviewRecord | None:
        """The next record for ``agent`` to look at (the same one until it is dialed or
        skipped), from ``campaign`` or the first running preview campaign whose queue
        admits the agent; None when there is nothing to call now.

        Raises:
            InteractionStateError: the agent is logged out, or not admitted by the campaign's queue.
        """
        with self.server._operation():
            person = self._logged_in(agent)
            held = self._held_by(agent)
            if held is not None:
                run, record = held
                return self._preview_of(run, record)
            runs = [self._run(campaign)] if campaign is not None else [
                run for run in self._runs.values() if run.settings.mode == "preview" and run.state == "running"]
            for run in runs:
                if run.settings.mode != "preview":
                    raise InteractionStateError(f"campaign {run.name!r} is {run.settings.mode}, not a preview campaign")
                if self._target(run).level_of(person) is None:
                    if campaign is not None:
                        raise InteractionStateError(
                            f"agent {agent!r} does not meet the requirement of queue {run.settings.queue!r},"
                            f" which takes the calls of campaign {run.name!r}")
                    continue
                if run.state != "running" or not self._hours_open(run):
                    continue
                if not run.loaded:
                    self._load(run)
                record = self._next_record(run)
                if record is None:
                    self._maybe_finished(run)
                    continue
                record.reserved = agent
                run.reserved[agent] = record.number
                return self._preview_of(run, record)
            return None

    def dial_preview(self, agent: str, record: PreviewRecord) -> Any:
        """The agent dials the record previewed; the agent is reserved for the call.
        Returns the interaction (``InteractionView``, state ``dialing``).

        Raises:
            InteractionStateError: it is not this agent's record, the agent is busy, the
                number is on the do-not-call list now, or calling hours are over.
        """
        with self.server._operation():
            run, found = self._reserved(agent, record)
            person = self._logged_in(agent)
            if not person.can_take("voice"):
                raise InteractionStateError(f"agent {agent!r} is busy ({person.state}); dial when free")
            self._release(run, agent)
            if self._blocked(run, found):
                raise InteractionStateError(f"{found.number} is on the do-not-call list; it is not dialed")
            if not self._hours_open(run):
                opens = run.opens.isoformat() if run.opens else "not within a year"
                raise InteractionStateError(f"campaign {run.name!r} is outside its calling hours (they open: {opens})")
            return self._dial(run, found, agent, quiet=False)

    def skip(self, agent: str, record: PreviewRecord, reason: str | None = None) -> None:
        """The agent does not call the record: it is done (``skipped``), or offered again
        after ``retry.skipped`` seconds when that is set. Not a dial: no attempt is used."""
        with self.server._operation():
            run, found = self._reserved(agent, record)
            self._release(run, agent, back=False)
            self._write_attempt(run, found, "skipped", agent=agent, reason=reason)
            self._decide(run, found, "skipped", self.server.now())
            self._maybe_finished(run)

    # --- settings -------------------------------------------------------------------

    def _check(self) -> None:
        """Read every campaign's do-not-call numbers; a file that cannot be read stops the
        start. (The settings themselves were checked with the server's, by
        ``settings.check_settings``, which calls ``check_campaigns``.)"""
        for run in self._runs.values():
            run.do_not_call = self._campaign_do_not_call(run.settings)

    def _country(self, settings: CampaignSettings) -> str | None:
        return settings.country or self.server.config.identify.country

    def _campaign_do_not_call(self, settings: CampaignSettings) -> set[str]:
        """The campaign's own do-not-call numbers: the descriptor's and the file's."""
        numbers = list(settings.do_not_call)
        if settings.do_not_call_file is not None:
            path = _resolve(settings.do_not_call_file, self.server.context.root)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise CommunicationError(f"campaign {settings.name!r}: the do-not-call file {str(path)!r}"
                                         f" cannot be read ({exc}); no number is dialed without it") from exc
            numbers += [line.split("#", 1)[0].strip() for line in text.splitlines()]
        country = self._country(settings)
        return {normalise_number(number, country) or number for number in numbers if number}

    # --- the call list --------------------------------------------------------------

    def _load(self, run: _Run) -> None:
        """Read the call list (numbers, then the segment) and merge it with what the
        campaign already did; build the order of dialing."""
        settings = run.settings
        run.do_not_call = self._campaign_do_not_call(settings)
        country = self._country(settings)
        entries: list[tuple[str, Any, dict]] = [(number, None, {}) for number in settings.numbers]
        if settings.segment is not None:
            entries += self._segment(settings)
        if settings.call_list is not None:
            entries += self._call_list(settings)
        known = run.records
        listed: dict[str, _Record] = {}
        for raw, customer, data in entries:
            number = normalise_number(raw, country)
            key = number or str(raw).strip()
            if key in listed:
                continue
            record = known.get(key)
            if record is None:
                record = _Record(key, next(run.order), customer, data)
                if number is None:
                    self._write_attempt(run, record, "invalid")
                    self._finalise(run, record, "invalid")
            else:
                record.customer = customer if customer is not None else record.customer
                record.data = data or record.data
            listed[key] = record
        for key, record in known.items():  # kept while a call to it goes on
            if key not in listed and record.live is not None:
                listed[key] = record
        run.records = listed
        run.loaded = True
        self._reorder(run)

    def _reorder(self, run: _Run) -> None:
        run.fresh = collections.deque(
            record.number for record in sorted(run.records.values(), key=lambda r: r.order)
            if record.final is None and record.live is None and record.attempts == 0 and not record.due)
        run.retries = [(record.due, record.order, record.number) for record in run.records.values()
                       if record.final is None and record.live is None and (record.attempts or record.due)]
        heapq.heapify(run.retries)

    def _segment(self, settings: CampaignSettings) -> list[tuple[str, Any, dict]]:
        import sqlalchemy as sa

        segment = settings.segment
        manager = self.server.context.manager
        if "bom" not in manager:
            raise CommunicationError(f"campaign {settings.name!r} takes its call list from {segment.object!r}"
                                     " business objects, but no bom service runs; enable [services.bom]")
        bom = manager.get("bom")
        model = bom.model
        if segment.object not in model:
            raise UnknownName("business object", segment.object, model.classes)
        cls = model[segment.object]
        names = set(cls.__caruso__.keys) if hasattr(cls, "__caruso__") else set()
        for attribute in (segment.phone, *segment.where, *([segment.order_by] if segment.order_by else [])):
            if names and attribute not in names:
                raise UnknownName(f"attribute of {segment.object}", attribute, names)
        clauses = [getattr(cls, key).in_(list(value)) if isinstance(value, (list, tuple))
                   else getattr(cls, key) == value for key, value in segment.where.items()]
        order = [getattr(cls, segment.order_by)] if segment.order_by else list(sa.inspect(cls).primary_key)
        found = []
        with bom.session() as session:
            for row in session.scalars(sa.select(cls).where(*clauses).order_by(*order)):
                number = getattr(row, segment.phone)
                if not number:
                    continue
                identity = sa.inspect(row).identity
                key = identity[0] if identity and len(identity) == 1 else identity
                found.append((str(number), key, row.to_dict()))
        return found

    def _call_list(self, settings: CampaignSettings) -> list[tuple[str, Any, dict]]:
        """The rows the ``call_list`` service gives for this campaign."""
        manager = self.server.context.manager
        if settings.call_list not in manager:
            raise UnknownName("service", settings.call_list, [])
        try:
            rows = manager.get(settings.call_list).call_list(settings.name)
        except CarusoError:
            raise
        except Exception as exc:  # the service's own fault: the campaign waits, it does not crash the server
            raise CommunicationError(f"campaign {settings.name!r}: the call list of service"
                                     f" {settings.call_list!r} failed: {type(exc).__name__}: {exc}") from exc
        return [(str(number), customer, dict(data or {})) for number, customer, data in rows]

    def _next_record(self, run: _Run) -> _Record | None:
        """The next record to dial now: a retry that is due first, then the list in order.
        A number on a do-not-call list is finished on the way, never returned."""
        now = self.server.now()
        while True:
            record = None
            while run.retries and run.retries[0][0] <= now:
                due, _order, number = heapq.heappop(run.retries)
                candidate = run.records.get(number)
                if candidate is not None and self._available(candidate) and candidate.due == due:
                    record = candidate
                    break
            if record is None:
                while run.fresh:
                    candidate = run.records.get(run.fresh.popleft())
                    if candidate is not None and self._available(candidate) and candidate.attempts == 0:
                        record = candidate
                        break
            if record is None:
                return None
            if not self._blocked(run, record):
                return record

    @staticmethod
    def _available(record: _Record) -> bool:
        return record.final is None and record.live is None and record.reserved is None

    def _put_back(self, run: _Run, record: _Record) -> None:
        heapq.heappush(run.retries, (record.due, record.order, record.number))

    def _blocked(self, run: _Run, record: _Record) -> bool:
        """True (and the record finished) when its number is on a do-not-call list."""
        if record.number not in self._do_not_call and record.number not in run.do_not_call:
            return False
        self._write_attempt(run, record, "do-not-call")
        self._finalise(run, record, "do-not-call")
        return True

    # --- dialing --------------------------------------------------------------------

    def _request_pace(self) -> None:
        """Dial what can be dialed once the current server operation is over."""
        if self._replaying or self._pace_requested:
            return
        self._pace_requested = True
        self.server._outbox.append(self._pace_all)

    def _pace_all(self) -> None:
        self._pace_requested = False
        if self._pacing:          # called from inside a pass (a connector that answers at once)
            self._again = True
            return
        self._pacing = True
        try:
            for _ in range(100_000):
                self._again = False
                for run in self._runs.values():
                    if run.state == "running" and run.settings.mode != "preview":
                        try:
                            self._pace(run)
                        except Exception:  # a campaign must never break the server operation it follows
                            log.exception("campaign %r: dialing failed", run.name)
                if not self._again:
                    break
        finally:
            self._pacing = False

    def _pace(self, run: _Run) -> None:
        if not run.loaded:
            try:
                self._load(run)
            except CarusoError as exc:
                log.warning("campaign %r: the call list cannot be read (%s); trying again in %d s",
                            run.name, exc, _LOAD_RETRY)
                self._wake_at(run, self.server.now() + _LOAD_RETRY)
                return
        if not self._hours_open(run):
            return
        predictive = run.settings.mode == "predictive"
        deferred: list[_Record] = []
        while True:
            live = len(run.live)
            if run.settings.max_lines is not None and live >= run.settings.max_lines:
                break
            free = self._free_agents(run)
            if predictive:
                lines = self._lines(run, len(free))
            else:
                lines = len(free)
            if lines <= 0:
                break
            record = self._next_record(run)
            if record is None:
                break
            agent = None
            if not predictive or record.needs_agent:
                if not free:
                    deferred.append(record)
                    continue
                agent = free[0].name
            if self._dial(run, record, agent) is None and record.final is None:
                break  # outside calling hours, or the server refused
        for record in deferred:
            self._put_back(run, record)
        self._maybe_finished(run)
        if run.state == "running" and run.retries and run.retries[0][0] > self.server.now():
            self._wake_at(run, run.retries[0][0])  # a retry falls due; one due already waits for an agent

    def _lines(self, run: _Run, free: int) -> int:
        """New lines to dial now (predictive): what the pacing ratio asks, within what the
        abandon cap allows even if every line without a free agent were abandoned."""
        ringing = unserved = 0
        interactions = self.server.interactions
        for interaction_id in run.live:
            interaction = interactions.get(interaction_id)
            if interaction is None:
                continue
            if interaction.state == "dialing" and interaction.agent is None:
                ringing += 1
            elif interaction.state == "waiting":
                unserved += 1
        wanted = math.ceil(max(0, free - unserved) * run.ratio() - 1e-9) - ringing
        covered = max(0, free - ringing - unserved)
        cap = run.settings.max_abandon_rate
        at_risk = max(0, ringing + unserved - free)
        budget = math.floor((cap * run.answered - run.abandoned - at_risk) / (1.0 - cap) + 1e-9)
        return min(wanted, covered + max(0, budget))

    def _free_agents(self, run: _Run) -> list[Any]:
        """The logged-in agents of the campaign's queue with nothing to do, longest idle first."""
        target = self._target(run)
        free = [agent for agent in target.ready[0].values() if agent.can_take("voice")]
        free.sort(key=lambda agent: (agent.last_ended, agent.order))
        return free

    def _target(self, run: _Run) -> Any:
        """The router's target the campaign's calls wait in (its queue, voice, no language)."""
        from caruso.services.communication.model import Interaction

        if self._probe is None:
            self._probe = Interaction("campaign-probe", "voice")
        server = self.server
        return server.router.target(server._queue(run.settings.queue), self._probe)

    def _dial(self, run: _Run, record: _Record, agent: str | None, *, quiet: bool = True) -> Any:
        """Dial one record (checked against the do-not-call lists and calling hours once
        more); the interaction, or None when it is not dialed (a refusal by the server
        raises unless ``quiet``; the record then waits)."""
        if self._blocked(run, record):
            return None
        if not self._hours_open(run):
            self._put_back(run, record)
            return None
        settings = run.settings
        record.needs_agent = False
        data = {"campaign": run.name, "attempt": record.attempts + 1}
        if settings.script is not None:
            data["script"] = settings.script
        try:
            view = self.server.dial(record.number, queue=settings.queue, campaign=run.name, customer=record.customer,
                                    agent=agent, data=data, timeout=settings.ring_timeout)
        except CarusoError as exc:
            if not quiet:
                self._put_back(run, record)
                raise
            log.warning("campaign %r: %s could not be dialed: %s", run.name, record.number, exc)
            record.due = self.server.now() + _LOAD_RETRY
            self._put_back(run, record)
            self._wake_at(run, record.due)
            return None
        interaction = self.server.interactions.get(view.id)
        if interaction is not None and interaction.state == "dialing":
            self.server.call_at(self.server.now() + settings.ring_timeout + _OVERDUE, self._overdue, view.id)
        return view

    def _overdue(self, interaction_id: str) -> None:
        """A dial the connector never reported: it failed (and frees the reserved agent)."""
        interaction = self.server.interactions.get(interaction_id)
        if interaction is not None and interaction.state == "dialing":
            log.warning("campaign call %s had no dial result in time; counted as failed", interaction_id)
            self.server.dial_result(interaction_id, "failed")

    def _wake_at(self, run: _Run, when: float) -> None:
        if self._replaying or (run.wake_at is not None and run.wake_at <= when and not run.wake.cancelled):
            return
        if run.wake is not None:
            run.wake.cancel()
        run.wake_at = when
        run.wake = self.server.call_at(max(when, self.server.now()), self._woken, run)

    def _woken(self, run: _Run) -> None:
        run.wake_at = None
        self._request_pace()

    def _hours_open(self, run: _Run) -> bool:
        """Calling hours, read on the clock now; when closed, the campaign waits for them
        (a ``waiting`` event and a timer at the opening)."""
        hours = run.settings.calling_hours
        if hours is None:
            return True
        now = self.server.clock.now()
        opening = next_opening(hours.business_hours(), now)
        if opening == now:
            if run.opens is not None:
                run.opens = None
                self._emit_state(run, "resumed", reason="calling hours")
            return True
        if run.opens != opening:
            run.opens = opening
            self._emit_state(run, "waiting", reason="calling hours",
                             until=opening.isoformat() if opening is not None else None)
        if opening is not None:
            self._wake_at(run, self.server.now() + (opening - now).total_seconds())
        return False

    # --- what the server reports ----------------------------------------------------

    def _dial_result(self, interaction: Any, result: str) -> None:
        run = self._runs.get(interaction.campaign) if interaction.campaign else None
        if run is None or interaction.id not in run.live:
            return
        record = run.records[run.live[interaction.id]]
        self._count_attempt(run, record, result)
        self._write_attempt(run, record, result, interaction=interaction.id, agent=interaction.agent)
        if result == "answered" and interaction.agent is None:
            self.server.call_at(self.server.now() + run.settings.abandon_after, self._abandon_check, interaction.id)

    def _abandon_check(self, interaction_id: str) -> None:
        """An answered predictive call no agent took in time: the dialer hangs up."""
        server = self.server
        interaction = server.interactions.get(interaction_id)
        if interaction is None or interaction.state not in ("waiting", "offered"):
            return
        server.hangup(interaction_id, by="customer")
        server._later("voice", "release", interaction)

    def _event(self, event: Any) -> None:
        """Every server event: campaign calls starting and ending, agents coming free."""
        kind = event.kind
        if event.campaign is not None and event.interaction is not None:
            run = self._runs.get(event.campaign)
            if run is not None:
                if kind == "offered":
                    self._offered(run, event)
                elif kind in _TERMINAL:
                    self._ended(run, event.interaction, kind, event.data or {}, self.server.now())
                    self._request_pace()
                elif kind == "routed" and run.settings.mode == "predictive" and run.settings.auto_answer:
                    self._auto_answer(event.agent, event.interaction)
        if event.agent is not None and kind in _FREES_AN_AGENT:
            if kind == "agent" and (event.data or {}).get("state") == "logged-out":
                for run in self._runs.values():
                    self._release(run, event.agent)
            if any(run.state == "running" and run.settings.mode != "preview" for run in self._runs.values()):
                self._request_pace()

    def _offered(self, run: _Run, event: Any) -> None:
        number = (event.data or {}).get("address")
        record = run.records.get(number)
        if record is not None and record.live is None:
            record.live = event.interaction
            record.result_seen = False
            run.live[event.interaction] = number

    def _auto_answer(self, agent: str, interaction_id: str) -> None:
        """Connect the agent once the routing operation is over - after its ``ring``
        request, hence the second step through the outbox."""
        server = self.server

        def accept() -> None:
            try:
                server.accept(agent, interaction_id)
            except CarusoError:  # taken by another agent, or the customer left
                pass

        server._outbox.append(lambda: server._outbox.append(accept))

    def _ended(self, run: _Run, interaction_id: str, kind: str, data: Mapping[str, Any], at: float) -> None:
        """A campaign call is over: decide what becomes of its number."""
        number = run.live.pop(interaction_id, None)
        record = run.records.get(number) if number is not None else None
        if record is None:
            return
        record.live = None
        if not record.result_seen:  # hung up before the connector reported
            self._count_attempt(run, record, "failed")
        if kind in ("completed", "abandoned") and record.last_result != "answered":
            self._decide(run, record, record.last_result or "failed", at)
        elif kind == "abandoned":
            run.abandoned += 1
            self._decide(run, record, "abandoned", at)
        else:
            code = data.get("code") if kind == "completed" else None
            if code is not None:
                run.by_code[code] += 1
                codes = (*run.settings.result_codes, *run.settings.do_not_call_codes)
                if run.settings.result_codes and code not in codes and not self._replaying:
                    log.warning("campaign %r: result code %r is not one of %s", run.name, code, ", ".join(codes))
            self._decide(run, record, code or "answered", at)
        self._maybe_finished(run)

    def _count_attempt(self, run: _Run, record: _Record, result: str) -> None:
        record.result_seen = True
        if record.attempts == 0:
            run.dialed += 1
        record.attempts += 1
        record.last_result = result
        run.attempts += 1
        run.by_result[result] += 1
        live = result == "answered"
        if live:
            run.answered += 1
        run.answer_rate += _LEARNING * ((1.0 if live else 0.0) - run.answer_rate)

    def _decide(self, run: _Run, record: _Record, outcome: str, at: float) -> None:
        """After a call (or a skip): retry later, or finish the number."""
        settings = run.settings
        if outcome in settings.do_not_call_codes:
            self._add_do_not_call(record.number, None)
            self._finalise(run, record, outcome)
            return
        delay = settings.retry.get(outcome)
        if delay is not None and record.attempts < settings.max_attempts:
            record.due = at + delay
            record.needs_agent = outcome == "abandoned"
            if run.loaded:
                self._put_back(run, record)
            return
        self._finalise(run, record, "max-attempts" if delay is not None else outcome)

    def _finalise(self, run: _Run, record: _Record, why: str) -> None:
        if record.final is None:
            record.final = why
            run.finished[why] += 1

    def _maybe_finished(self, run: _Run) -> None:
        if run.state == "running" and run.loaded and not run.live and run.remaining == 0 and not self._replaying:
            run.state = "finished"
            self._emit_state(run, "finished")

    def _after_restart(self) -> None:
        """Campaign calls the server put back in their queues after a restart are over:
        nobody is on those lines any more."""
        server = self.server
        for interaction in list(server.interactions.values()):
            recovered = interaction.data.get("recovered") and interaction.state == "waiting"
            if recovered and interaction.campaign in self._runs:
                server.hangup(interaction.id, by="customer")
        for run in self._runs.values():  # calls the log shows going on, which the server no longer has
            for interaction_id in [i for i in run.live if i not in server.interactions]:
                self._ended(run, interaction_id, "completed", {}, server.now())
        self._request_pace()

    # --- preview helpers ----------------------------------------------------------

    def _logged_in(self, agent: str) -> Any:
        found = self.server.agents.get(agent)
        if found is None:
            raise UnknownName("agent", agent, self.server.agents)
        if found.presence == "logged-out":
            raise InteractionStateError(f"agent {agent!r} is logged out; log in first")
        return found

    def _held_by(self, agent: str) -> tuple[_Run, _Record] | None:
        for run in self._runs.values():
            number = run.reserved.get(agent)
            if number is not None:
                return run, run.records[number]
        return None

    def _reserved(self, agent: str, record: PreviewRecord) -> tuple[_Run, _Record]:
        run = self._run(record.campaign)
        if run.reserved.get(agent) != record.number:
            raise InteractionStateError(f"{record.number} of campaign {run.name!r} is not previewed by agent"
                                        f" {agent!r}; ask for a record with preview()")
        return run, run.records[record.number]

    def _release(self, run: _Run, agent: str, *, back: bool = True) -> None:
        number = run.reserved.pop(agent, None)
        record = run.records.get(number) if number is not None else None
        if record is None:
            return
        record.reserved = None
        if back and record.final is None:
            self._put_back(run, record)

    def _preview_of(self, run: _Run, record: _Record) -> PreviewRecord:
        return PreviewRecord(run.name, record.number, record.customer, dict(record.data), record.attempts + 1,
                             record.last_result, run.settings.script)

    # --- do-not-call ----------------------------------------------------------------

    def _add_do_not_call(self, number: str, run: _Run | None) -> str:
        settings = run.settings if run is not None else None
        country = self._country(settings) if settings is not None else self.server.config.identify.country
        normal = normalise_number(number, country) or str(number).strip()
        numbers = run.do_not_call if run is not None else self._do_not_call
        if normal in numbers:
            return normal
        numbers.add(normal)
        if not self._replaying:
            self.server._emit("campaign", campaign=run.name if run is not None else None,
                              data={"do_not_call": normal})
        return normal

    # --- events and snapshots ---------------------------------------------------------

    def _write_attempt(self, run: _Run, record: _Record, result: str, *, interaction: str | None = None,
                       agent: str | None = None, reason: str | None = None) -> None:
        if result in NOT_DIALED:
            run.by_result[result] += 1
        if self._replaying:
            return
        data: dict[str, Any] = {"number": record.number, "result": result, "attempt": record.attempts}
        if record.customer is not None:
            data["customer"] = record.customer
        if interaction is not None:
            data["interaction"] = interaction
        if reason is not None:
            data["reason"] = reason
        self.server._emit("attempt", campaign=run.name, queue=run.settings.queue, agent=agent, data=data)

    def _emit_state(self, run: _Run, state: str, **more: Any) -> None:
        if not self._replaying:
            self.server._emit("campaign", campaign=run.name, queue=run.settings.queue, data={"state": state, **more})

    def _run(self, name: str) -> _Run:
        found = self._runs.get(name)
        if found is None:
            raise UnknownName("campaign", name, self._runs)
        return found

    @staticmethod
    def _state(run: _Run) -> str:
        return "waiting" if run.state == "running" and run.opens is not None else run.state

    def _progress(self, run: _Run) -> CampaignProgress:
        answered = run.answered
        return CampaignProgress(
            name=run.name, mode=run.settings.mode, state=self._state(run), total=len(run.records),
            dialed=run.dialed, attempts=run.attempts, answered=answered, abandoned=run.abandoned,
            abandon_rate=round(run.abandoned / answered, 4) if answered else 0.0, remaining=run.remaining,
            in_progress=len(run.live), by_result=dict(run.by_result), by_code=dict(run.by_code),
            finished=dict(run.finished), pacing=round(run.ratio(), 3), opens=run.opens)

    # --- restart ------------------------------------------------------------------

    def _replay(self) -> None:
        """Rebuild every campaign's state from its events: states, attempts per number,
        how each call ended, the do-not-call numbers added at run time."""
        import sqlalchemy as sa

        event_log = self.server.event_log
        table = event_log.table
        names = list(self._runs)
        query = (
            sa.select(table.c.at, table.c.kind, table.c.interaction, table.c.campaign, table.c.data)
            .where(sa.or_(table.c.campaign.in_(names), sa.and_(table.c.campaign.is_(None), table.c.kind == "campaign")))
            .where(table.c.kind.in_(["campaign", "attempt", *_TERMINAL]))
            .order_by(table.c.seq)
        )
        epoch = self.server.epoch(0.0)
        self._replaying = True
        try:
            with event_log.storage.transaction() as connection:
                rows = list(connection.execute(query))
            for at, kind, interaction_id, campaign, raw in rows:
                data = json.loads(raw) if raw else {}
                run = self._runs.get(campaign) if campaign is not None else None
                if kind == "campaign":
                    if "do_not_call" in data:
                        (run.do_not_call if run is not None else self._do_not_call).add(data["do_not_call"])
                    elif run is not None:
                        run.state = {"started": "running", "resumed": "running", "waiting": "running",
                                     "paused": "paused", "stopped": "stopped", "finished": "finished"}.get(
                            data.get("state"), run.state)
                elif run is None:
                    continue
                elif kind == "attempt":
                    self._replay_attempt(run, data, at - epoch)
                elif interaction_id in run.live:
                    self._ended(run, interaction_id, kind, data, at - epoch)
        finally:
            self._replaying = False
        for run in self._runs.values():
            run.do_not_call |= self._campaign_do_not_call(run.settings)

    def _replay_attempt(self, run: _Run, data: Mapping[str, Any], at: float) -> None:
        number = data.get("number")
        if number is None:
            return
        record = run.records.get(number)
        if record is None:
            record = run.records[number] = _Record(number, next(run.order), data.get("customer"))
        result = data.get("result")
        if result in ("do-not-call", "invalid"):
            self._write_attempt(run, record, result)
            self._finalise(run, record, result)
        elif result == "skipped":
            self._write_attempt(run, record, result)
            self._decide(run, record, result, at)
        else:
            self._count_attempt(run, record, result)
            interaction_id = data.get("interaction")
            if interaction_id is not None:
                record.live = interaction_id
                run.live[interaction_id] = number
