"""The built-in sources, all read from the communication server's event log.

``contacts``   one fact per interaction that arrived in the period (its
               ``offered`` event), with the figures of its whole life
               (answered, waits, talk, transfers, how it ended) read from its
               later events, even those after the period's end (up to
               ``horizon`` seconds later). Inbound and outbound alike; the
               ``direction`` dimension tells them apart.
``voicemail``  the same facts for the ``voicemail`` interactions (a message left
               to be called back): left, called back, time to call back.
``agents``     spans of each agent's time: presence (ready, away, from ``agent``
               events) and work (talk from ``answered`` to the end of the
               conversation, wrap-up from ``wrapup`` to ``completed``), cut at
               the interval boundaries; plus each contact handled as a point.
``campaigns``  one fact per ``attempt`` event of an outbound campaign.

Every duration comes from the events' ``at`` column (``answered.at -
queued.at`` is the wait the server wrote in ``data.wait``), so the SQL does no
JSON parsing for numbers; ``json_text`` reads only categorical fields (an
agent's state, a dial's result, a wrap-up code, the direction). The exact
formulas are in docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from caruso.services.communication.events import event_table
from caruso.services.reporting.source import (
    MAX,
    SUM,
    Dimension,
    FactQuery,
    Measure,
    Part,
    ReportSource,
    ratio,
    total,
)
from caruso.services.reporting.sql import json_text

__all__ = ["AgentsSource", "BUILTIN_SOURCES", "CampaignsSource", "ContactsSource", "VoicemailSource",
           "configured_agents", "queue_targets"]

HORIZON = 7 * 86400.0
"""Default seconds after the period (contacts) or before it (agents' spans) whose events are read."""

DEFAULT_TARGET = 20.0
"""The service-level threshold of a queue that gives none (the communication server's default)."""

_CONTACT_KINDS = ("offered", "queued", "answered", "wrapup", "transferred", "abandoned",
                  "voicemail", "callback", "completed")


def _when(condition: Any, value: Any) -> Any:
    return sa.case((condition, value))


def _flag(condition: Any) -> Any:
    return sa.case((condition, 1), else_=0)


def _average(numerator: str, denominator: str):
    return ratio(numerator, denominator, digits=3)


class _EventSource(ReportSource):
    tables = ("caruso_event",)

    def __init__(self, metadata: sa.MetaData):
        super().__init__(metadata)
        found = metadata.tables.get("caruso_event")
        self.events = found if found is not None else event_table(metadata)

    def horizon(self, query: FactQuery) -> float:
        return float(query.parameters.get("horizon", HORIZON))


# --- contacts -------------------------------------------------------------------------------


def queue_targets(app: Any) -> dict[str, float]:
    """Each configured queue's service-level threshold in seconds (``service_level.answer_within``)."""
    if app is None:
        return {}
    section = app.config.services.get("communication")
    queues = section.settings.get("queues", ()) if section is not None else ()
    return {q["name"]: float(q.get("service_level", {}).get("answer_within", DEFAULT_TARGET))
            for q in queues if isinstance(q, dict) and "name" in q}


def configured_agents(app: Any) -> list[str]:
    """The agents the descriptor configures for the communication server."""
    section = app.config.services.get("communication") if app is not None else None
    agents = section.settings.get("agents", ()) if section is not None else ()
    return [a["name"] for a in agents if isinstance(a, dict) and "name" in a]


class ContactsSource(_EventSource):
    """Interactions by the interval they arrived in (see the module docstring)."""

    name = "contacts"
    title = "Contacts"
    parameters = {"short-abandon": 5.0, "answer-within": -1.0, "horizon": HORIZON}
    dimensions = (
        Dimension("queue", "Queue", "the queue the contact arrived in (its offered event)"),
        Dimension("channel", "Channel", "voice, email, chat, sms, callback, voicemail"),
        Dimension("agent", "Agent", "the agent who completed it (none when it was not answered)"),
        Dimension("campaign", "Campaign", "the outbound campaign it belongs to"),
        Dimension("direction", "Direction", "inbound or outbound (the offered event's data)"),
        Dimension("code", "Wrap-up code", "the code the agent completed it with"),
    )
    channels: tuple[str, ...] | None = None  # only interactions of these channels

    def facts(self, query: FactQuery) -> sa.Subquery:
        e = self.events
        kind = e.c.kind
        offered = kind == "offered"
        started = sa.func.min(_when(offered, e.c.at))
        leg_ends = kind.in_(("wrapup", "transferred"))
        columns = [
            started.label("start"),
            sa.func.min(_when(kind == "queued", e.c.at)).label("queued_at"),
            sa.func.min(_when(kind == "answered", e.c.at)).label("answered_at"),
            sa.func.min(_when(kind.in_(("answered", "abandoned", "voicemail", "callback")), e.c.at)).label("waited_until"),
            sa.func.max(_when(kind == "abandoned", e.c.at)).label("abandoned_at"),
            sa.func.max(_flag(kind == "voicemail")).label("voicemail"),
            sa.func.max(_flag(kind == "callback")).label("callback"),
            sa.func.sum(_flag(kind == "transferred")).label("transfers"),
            sa.func.sum(_flag(kind == "answered")).label("legs"),
            sa.func.sum(_flag(leg_ends)).label("legs_ended"),
            (sa.func.coalesce(sa.func.sum(_when(leg_ends, e.c.at)), 0.0)
             - sa.func.coalesce(sa.func.sum(_when(kind == "answered", e.c.at)), 0.0)).label("talk"),
            sa.func.max(_when(kind == "wrapup", e.c.at)).label("wrapup_at"),
            sa.func.max(_when(kind == "completed", e.c.at)).label("completed_at"),
        ]
        wanted = set(query.dimensions)
        columns.append(sa.func.max(_when(offered, e.c.queue)).label("queue"))  # also for each queue's target
        if "channel" in wanted:
            columns.append(sa.func.max(_when(offered, e.c.channel)).label("channel"))
        if "campaign" in wanted:
            columns.append(sa.func.max(_when(offered, e.c.campaign)).label("campaign"))
        if "agent" in wanted:
            columns.append(sa.func.max(_when(kind == "completed", e.c.agent)).label("agent"))
        if "direction" in wanted:
            columns.append(sa.func.max(_when(offered, json_text(e.c.data, "direction"))).label("direction"))
        if "code" in wanted:
            columns.append(sa.func.max(_when(kind == "completed", json_text(e.c.data, "code"))).label("code"))
        where = [e.c.at >= query.start, e.c.at < query.end + self.horizon(query),
                 kind.in_(_CONTACT_KINDS), e.c.interaction.is_not(None)]
        if self.channels is not None:
            where.append(e.c.channel.in_(self.channels))
        return (sa.select(*columns).where(*where).group_by(e.c.interaction)
                .having(started >= query.start, started < query.end).subquery(self.name))

    def target(self, facts: Any, query: FactQuery) -> Any:
        """Seconds within which an answer counts for the service level: the report's
        ``answer-within``, else the contact's queue's ``service_level.answer_within``."""
        fixed = float(query.parameters.get("answer-within", -1.0))
        if fixed >= 0:
            return sa.literal(fixed)
        targets = queue_targets(query.app)
        if not targets:
            return sa.literal(DEFAULT_TARGET)
        return sa.case(*((facts.c.queue == name, sa.literal(seconds)) for name, seconds in targets.items()),
                       else_=sa.literal(DEFAULT_TARGET))

    def parts(self, query: FactQuery, facts: sa.Subquery) -> Sequence[Part]:
        short = sa.literal(float(query.parameters.get("short-abandon", 5.0)))
        target = self.target(facts, query)
        f = facts.c
        answered = f.answered_at.is_not(None)
        wait = f.waited_until - sa.func.coalesce(f.queued_at, f.waited_until)
        unanswered_abandon = sa.and_(f.answered_at.is_(None), f.abandoned_at.is_not(None))
        complete_legs = sa.and_(f.legs > 0, f.legs == f.legs_ended)
        handled = sa.and_(complete_legs, f.completed_at.is_not(None))
        return (
            Part("offered", SUM, lambda *_: sa.literal(1), integer=True),
            Part("answered", SUM, lambda *_: _flag(answered), integer=True),
            Part("abandoned", SUM, lambda *_: _flag(sa.and_(unanswered_abandon, wait > short)), integer=True),
            Part("short_abandoned", SUM, lambda *_: _flag(sa.and_(unanswered_abandon, wait <= short)), integer=True),
            Part("answered_within", SUM, lambda *_: _flag(sa.and_(answered, wait <= target)), integer=True),
            Part("voicemails", SUM, lambda *_: f.voicemail, integer=True),
            Part("callbacks", SUM, lambda *_: f.callback, integer=True),
            Part("wait_answered", SUM, lambda *_: _when(answered, wait)),
            Part("longest_answer", MAX, lambda *_: _when(answered, wait)),
            Part("longest_wait", MAX, lambda *_: wait),
            Part("talked", SUM, lambda *_: _flag(complete_legs), integer=True),
            Part("talk", SUM, lambda *_: _when(complete_legs, f.talk)),
            Part("handled", SUM, lambda *_: _flag(handled), integer=True),
            Part("handle", SUM, lambda *_: _when(handled, f.talk + (f.completed_at - f.wrapup_at))),
            Part("transfers", SUM, lambda *_: f.transfers, integer=True),
            Part("transferred", SUM, lambda *_: _flag(f.transfers > 0), integer=True),
        )


def _service_level(parts: Any) -> float | None:
    settled = parts["answered"] + parts["abandoned"] + parts["voicemails"] + parts["callbacks"]
    return round(parts["answered_within"] / settled, 4) if settled else None


def _abandon_rate(parts: Any) -> float | None:
    counted = parts["offered"] - parts["short_abandoned"]
    return round(parts["abandoned"] / counted, 4) if counted else None


ContactsSource.measures = (
    Measure("offered", "Offered", "count", total("offered"), "contacts that arrived in the interval"),
    Measure("answered", "Answered", "count", total("answered"), "offered contacts an agent took, at least once"),
    Measure("abandoned", "Abandoned", "count", total("abandoned"),
            "never answered; the customer left after more than short-abandon seconds of waiting"),
    Measure("short_abandoned", "Short abandons", "count", total("short_abandoned"),
            "never answered; the customer left within short-abandon seconds"),
    Measure("answered_within", "Answered in target", "count", total("answered_within"),
            "answered after a wait of at most the queue's answer_within seconds"),
    Measure("service_level", "Service level", "ratio", _service_level,
            "answered_within / (answered + abandoned + voicemails + callbacks)"),
    Measure("abandon_rate", "Abandon rate", "ratio", _abandon_rate, "abandoned / (offered - short_abandoned)"),
    Measure("average_speed_of_answer", "ASA (s)", "seconds", _average("wait_answered", "answered"),
            "sum of the waits of the answered contacts / answered"),
    Measure("longest_wait", "Longest wait (s)", "seconds", total("longest_wait"),
            "the longest wait of any contact, answered or not"),
    Measure("average_talk_time", "Avg talk (s)", "seconds", _average("talk", "talked"),
            "sum of the conversation legs / contacts whose legs all ended"),
    Measure("average_handle_time", "AHT (s)", "seconds", _average("handle", "handled"),
            "sum of (talk + the last wrap-up) / contacts completed after an answer"),
    Measure("transfers", "Transfers", "count", total("transfers"), "transferred events"),
    Measure("transferred", "Transferred", "count", total("transferred"), "contacts transferred at least once"),
    Measure("voicemails", "Voicemails", "count", total("voicemails"), "callers who left a message"),
    Measure("callbacks", "Callbacks", "count", total("callbacks"), "callers who accepted to be called back"),
)


# --- voicemail ------------------------------------------------------------------------------


class VoicemailSource(ContactsSource):
    """Messages left to be called back (``voicemail`` interactions), by when they were left.

    The message's interaction is queued the moment it is left, so its wait is the
    time to call back; answered means an agent called the customer back.
    """

    name = "voicemail"
    title = "Voicemail"
    channels = ("voicemail",)
    parameters = {"horizon": HORIZON}
    dimensions = (
        Dimension("queue", "Queue", "the queue of the call the message was left in"),
        Dimension("agent", "Agent", "the agent who called back"),
    )


VoicemailSource.measures = (
    Measure("left", "Left", "count", total("offered"), "voicemail messages left in the interval"),
    Measure("called_back", "Called back", "count", total("answered"), "messages an agent called back"),
    Measure("not_called_back", "Not called back", "count", lambda p: p["offered"] - p["answered"],
            "left - called_back"),
    Measure("average_time_to_callback", "Avg time to call back (s)", "seconds",
            _average("wait_answered", "answered"), "sum of (call back answered - message left) / called_back"),
    Measure("longest_time_to_callback", "Longest time to call back (s)", "seconds", total("longest_answer"),
            "the longest (call back answered - message left)"),
)


# --- agents ---------------------------------------------------------------------------------


class AgentsSource(_EventSource):
    """Spans of the agents' time, cut at the interval boundaries (see the module docstring)."""

    name = "agents"
    title = "Agents"
    spans = True
    parameters = {"horizon": HORIZON}
    dimensions = (Dimension("agent", "Agent", "the agent"),)

    def facts(self, query: FactQuery) -> sa.Subquery:
        e = self.events
        since = query.start - self.horizon(query)
        presence = (
            sa.select(
                e.c.agent.label("agent"),
                json_text(e.c.data, "state").label("state"),
                e.c.at.label("start"),
                sa.func.lead(e.c.at).over(partition_by=e.c.agent, order_by=e.c.seq).label("next_at"),
            )
            .where(e.c.kind == "agent", e.c.at >= since, e.c.at < query.end)
            .subquery("presence")
        )
        work = (
            sa.select(
                e.c.agent.label("agent"),
                e.c.kind.label("kind"),
                e.c.at.label("start"),
                sa.func.lead(e.c.at).over(partition_by=e.c.interaction, order_by=e.c.seq).label("next_at"),
                sa.func.lag(e.c.kind).over(partition_by=e.c.interaction, order_by=e.c.seq).label("previous"),
            )
            .where(e.c.kind.in_(("answered", "wrapup", "transferred", "completed")),
                   e.c.at >= since, e.c.at < query.end, e.c.interaction.is_not(None))
            .subquery("work")
        )
        until = sa.literal(min(query.end, query.until))
        spans = sa.select(
            presence.c.agent, presence.c.state,
            presence.c.start, sa.func.coalesce(presence.c.next_at, until).label("end"),
        ).where(presence.c.state.in_(("ready", "away")))
        talk = sa.select(
            work.c.agent,
            sa.case((work.c.kind == "answered", "talk"), (work.c.kind == "wrapup", "wrapup"), else_="handled").label("state"),
            work.c.start,
            sa.case((work.c.kind == "completed", work.c.start),
                    else_=sa.func.coalesce(work.c.next_at, until)).label("end"),
        ).where(work.c.agent.is_not(None), sa.or_(
            work.c.kind.in_(("answered", "wrapup")),
            sa.and_(work.c.kind == "completed", work.c.previous == "wrapup")))
        return sa.union_all(spans, talk).subquery("agents")

    def parts(self, query: FactQuery, facts: sa.Subquery) -> Sequence[Part]:
        def seconds(state: str):
            return lambda f, overlap: _when(f.c.state == state, overlap)

        return (
            Part("ready", SUM, seconds("ready")),
            Part("away", SUM, seconds("away")),
            Part("talk", SUM, seconds("talk")),
            Part("wrapup", SUM, seconds("wrapup")),
            Part("handled", SUM, lambda f, _: _flag(f.c.state == "handled"), integer=True),
        )


def _logged_in(parts: Any) -> float:
    return round(parts["ready"] + parts["away"], 3)


def _occupancy(parts: Any) -> float | None:
    return round((parts["talk"] + parts["wrapup"]) / parts["ready"], 4) if parts["ready"] else None


def _idle(parts: Any) -> float:
    return round(max(0.0, parts["ready"] - parts["talk"] - parts["wrapup"]), 3)


AgentsSource.measures = (
    Measure("logged_in_time", "Logged in (s)", "seconds", _logged_in, "ready_time + away_time"),
    Measure("ready_time", "Ready (s)", "seconds", total("ready"),
            "seconds with presence ready (busy or not) inside the interval"),
    Measure("away_time", "Away (s)", "seconds", total("away"), "seconds with presence away inside the interval"),
    Measure("talk_time", "Talk (s)", "seconds", total("talk"), "seconds in conversation (answered to its end)"),
    Measure("wrapup_time", "Wrap-up (s)", "seconds", total("wrapup"), "seconds in wrap-up (wrapup to completed)"),
    Measure("idle_time", "Idle (s)", "seconds", _idle, "max(0, ready_time - talk_time - wrapup_time)"),
    Measure("occupancy", "Occupancy", "ratio", _occupancy, "(talk_time + wrapup_time) / ready_time"),
    Measure("handled", "Handled", "count", total("handled"), "contacts the agent completed after talking"),
)


# --- campaigns ------------------------------------------------------------------------------

_DIALED = ("answered", "no-answer", "busy", "voicemail", "failed")
_NOT_DIALED = ("do-not-call", "invalid", "skipped")


class CampaignsSource(_EventSource):
    """Dials of the outbound campaigns (``attempt`` events), by when they were made."""

    name = "campaigns"
    title = "Campaigns"
    dimensions = (
        Dimension("campaign", "Campaign", "the campaign"),
        Dimension("result", "Result", "answered, no-answer, busy, voicemail, failed, do-not-call, invalid, skipped"),
    )

    def facts(self, query: FactQuery) -> sa.Subquery:
        e = self.events
        return (
            sa.select(e.c.at.label("start"), e.c.campaign.label("campaign"),
                      json_text(e.c.data, "result").label("result"))
            .where(e.c.kind == "attempt", e.c.at >= query.start, e.c.at < query.end)
            .subquery("campaigns")
        )

    def parts(self, query: FactQuery, facts: sa.Subquery) -> Sequence[Part]:
        result = facts.c.result

        def counting(name: str, *results: str) -> Part:
            return Part(name, SUM, lambda *_: _flag(result.in_(results)), integer=True)

        return (
            counting("attempts", *_DIALED),
            counting("reached", "answered"),
            counting("no_answer", "no-answer"),
            counting("busy", "busy"),
            counting("machine", "voicemail"),
            counting("failed", "failed"),
            counting("not_dialed", *_NOT_DIALED),
        )


CampaignsSource.measures = (
    Measure("attempts", "Attempts", "count", total("attempts"), "numbers dialed (answered, no-answer, busy, voicemail, failed)"),
    Measure("reached", "Reached", "count", total("reached"), "dials a person answered"),
    Measure("reach_rate", "Reach rate", "ratio", ratio("reached", "attempts"), "reached / attempts"),
    Measure("no_answer", "No answer", "count", total("no_answer"), "dials nobody answered"),
    Measure("busy", "Busy", "count", total("busy"), "dials that found the line busy"),
    Measure("machine", "Answering machine", "count", total("machine"), "dials an answering machine took"),
    Measure("failed", "Failed", "count", total("failed"), "dials the network refused"),
    Measure("not_dialed", "Not dialed", "count", total("not_dialed"),
            "numbers passed by: do-not-call, invalid, outside the calling window (skipped)"),
)

BUILTIN_SOURCES: tuple[type[ReportSource], ...] = (ContactsSource, VoicemailSource, AgentsSource, CampaignsSource)
