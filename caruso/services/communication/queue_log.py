"""Caruso's event log as an Asterisk ``queue_log``, for the reporting tools call centres own.

Wallboards and ACD reports written for Asterisk read ``/var/log/asterisk/queue_log``:
one line per queue event, ``epoch|callid|queuename|agent|event|data1|data2|...``.
``queue_log_lines`` turns a stream of Caruso ``Event`` s into such lines, so
those tools report on Caruso's queues without knowing it is not Asterisk.

Sources. The event names and their data fields follow Asterisk's own
documentation, "Queue Logs" (docs.asterisk.org/Operation/Logging/Queue-Logs/,
``docs/Operation/Logging/Queue-Logs.md`` in asterisk/documentation), checked
against the ``ast_queue_log`` calls that write them in ``apps/app_queue.c``
(asterisk/asterisk, master) and the line format of ``ast_queue_log`` in
``main/logger.c``: ``"%ld|%s|%s|%s|%s|"`` then the data, so an event without
data still ends in ``|`` (``...|PAUSEALL|``).

The mapping (durations in whole seconds, rounded; RINGNOANSWER in milliseconds):

=============== ===================== =============================================
Caruso kind     Asterisk event        data fields
=============== ===================== =============================================
queued          ENTERQUEUE            url (empty) | callerid | origposition
answered        CONNECT               holdtime | bridged uniqueid | ringtime
unanswered      RINGNOANSWER          ringtime (ms)
wrapup          COMPLETEAGENT or      holdtime | calltime | origposition
                COMPLETECALLER        (COMPLETECALLER when ``ended_by`` is
                                      ``customer``, COMPLETEAGENT otherwise)
transferred     BLINDTRANSFER         extension | context | holdtime | calltime |
                                      origposition
abandoned       ABANDON               position | origposition | waittime
voicemail,      EXITWITHKEY           key (empty) | position | origposition |
callback                              waittime
queued again    EXITWITHTIMEOUT       position | origposition | waittime, in the
(overflow)                            queue it left, before its ENTERQUEUE
agent           AGENTLOGIN            channel (the agent's name)
                AGENTLOGOFF           channel | logintime
                PAUSEALL, UNPAUSEALL  reason (queue NONE), or PAUSE, UNPAUSE with
                                      the reason in the event's queue, if it has one
=============== ===================== =============================================

Choices a reader of the export should know:

* **Not exported**, because a queue_log has no line for them: ``offered`` (the
  arrival; Asterisk logs a call from ENTERQUEUE on; its caller number is kept
  for ENTERQUEUE), ``ivr`` (dialplan, not queue), ``routed`` (Asterisk logs no
  line when a member starts ringing, only how the ring ended), ``completed``
  (after-call work ends no queue call; COMPLETE* came at ``wrapup``), and the
  outbound ``campaign`` and ``attempt`` (queue_log covers inbound queue calls;
  custom lines would only confuse the tools this export is for). Unknown kinds
  are skipped too, so a newer server's log still exports.
* **Only calls in a queue.** An interaction event whose queue is not known
  (from the event or from an earlier ``queued``) writes nothing: a call that
  leaves from the IVR, or reaches an agent straight after a transfer to that
  agent, never entered an Asterisk queue either. A ``wrapup`` writes a
  COMPLETE* line only after the exporter saw its ``answered``: an export
  starting in mid-call, or a wrapup after a transfer (BLINDTRANSFER already
  closed the call), would give half a call.
* **callid** is the interaction id, for every channel (an e-mail or a chat is
  exported like a call); NONE for agent events. **agent** is the plain Caruso
  agent name: current Asterisk writes the queue member's *name* there
  (``member->membername``), not its channel (``PJSIP/alice``), and the name is
  what reports group by. AGENTLOGIN's channel field gets the name as well,
  since a Caruso agent has no channel of its own; so does CONNECT's bridged
  uniqueid, the interaction id (the member leg has no id of its own, and
  recordings are found by the interaction).
* **Transfers** are BLINDTRANSFER, what Asterisk 12 and later write for a
  transfer that does not wait for the target (TRANSFER is the pre-12 name);
  extension is the target queue or agent, context the word ``queue`` or
  ``agent``. A transfer to a queue is followed by that queue's ENTERQUEUE.
* **Voicemail and callback** are EXITWITHKEY, the caller choosing to leave
  the queue from its menu, with the key empty (Caruso records no digit);
  position is the original position when the event does not carry one.
* **Overflow**: when an interaction waiting in one queue is queued in another
  (reason overflow or limit), the first queue gets EXITWITHTIMEOUT, as when an
  Asterisk queue's timeout sends a caller on, with the original position as
  its position too (the log does not say where the caller had got to); a
  ``recovered`` re-queue into the same queue (after a restart) continues the
  same wait and writes nothing.
* **Agents**: Caruso agents log in to the server, not to one queue, so login
  and logout are AGENTLOGIN / AGENTLOGOFF in queue NONE (what app_agent_pool
  agents write), not ADDMEMBER / REMOVEMEMBER (one per queue, for dynamic
  members). The state ``away`` is a pause (``PAUSED_STATES``), ``logged-out``
  a logout, any other state logged in and not paused; only a change between
  those writes a line. A pause in all queues is PAUSEALL in Asterisk, whose
  per-queue PAUSE lines carry the reason; the log does not say which queues
  an agent belongs to, so the reason goes on PAUSEALL. AGENTLOGOFF's
  logintime is 0 when the login came before the first exported event.
* **Field safety**: ``|`` inside a field becomes ``/`` and a line break a
  space, so a pause reason or a caller name cannot split or add a line.

The export streams: it reads each event once, keeps a little state per open
interaction (queue, original position, wait, answer time, caller number) and
per logged-in agent, and forgets an interaction at its terminal event
(``completed``, ``abandoned``, ``voicemail``, ``callback``), so memory follows
the open interactions, not the length of the log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO

import attrs

from caruso.services.communication.events import TERMINAL_KINDS, Event

__all__ = ["LOGGED_OUT", "PAUSED_STATES", "queue_log_lines", "write_queue_log"]

LOGGED_OUT = "logged-out"
PAUSED_STATES = frozenset({"away"})
"""Agent states exported as a pause; every state but these and ``logged-out`` is 'ready'."""

NONE = "NONE"
_SAFE = str.maketrans({"|": "/", "\n": " ", "\r": " "})


def _text(value: Any) -> str:
    """A data field that cannot break the line: ``|`` becomes ``/``, a line break a space."""
    return "" if value is None else str(value).translate(_SAFE)


def _name(value: str | None) -> str:
    """The callid, queue or agent column: NONE when there is none."""
    return _text(value) if value else NONE


def _seconds(value: float | None) -> str:
    """A duration in whole seconds, as Asterisk writes them: rounded half up, never negative."""
    return str(max(0, math.floor((value or 0.0) + 0.5)))


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@attrs.define
class _Call:
    """What the exporter remembers of an open interaction."""

    caller: str = ""
    queue: str | None = None
    position: int = 0              # original position in ``queue``
    waiting_since: float | None = None  # when queued; None once it left the queue
    agent: str | None = None
    wait: float = 0.0              # holdtime, from the answer
    answered_at: float | None = None    # None unless connected to an agent


@attrs.define
class _Agent:
    logged_in_at: float | None
    paused: bool


class _Exporter:
    """Turns events into queue_log lines, one event at a time, keeping only open state."""

    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}
        self.agents: dict[str, _Agent] = {}
        self.handlers: dict[str, Callable[[Event, Mapping[str, Any]], list[str]]] = {
            "offered": self.offered,
            "queued": self.queued,
            "unanswered": self.unanswered,
            "answered": self.answered,
            "transferred": self.transferred,
            "abandoned": self.abandoned,
            "voicemail": self.exit_with_key,
            "callback": self.exit_with_key,
            "wrapup": self.wrapup,
            "agent": self.agent,
        }

    def lines(self, event: Event) -> list[str]:
        handler = self.handlers.get(event.kind)
        data = event.data or {}
        if handler is None or (event.kind != "agent" and not event.interaction):
            lines: list[str] = []
        else:
            lines = handler(event, data)
        if event.kind in TERMINAL_KINDS and event.interaction:
            self.calls.pop(event.interaction, None)
        return lines

    # --- helpers ------------------------------------------------------------------

    def call(self, event: Event) -> _Call:
        call = self.calls.get(event.interaction)
        if call is None:
            call = self.calls[event.interaction] = _Call()
        return call

    @staticmethod
    def line(event: Event, queue: str | None, agent: str | None, name: str, *fields: Any) -> str:
        callid = event.interaction if event.kind != "agent" else None
        columns = [str(int(event.at)), _name(callid), _name(queue), _name(agent), name]
        columns.extend(_text(field) for field in fields or ("",))
        return "|".join(columns)

    def waited(self, event: Event, call: _Call, data: Mapping[str, Any]) -> float:
        wait = _number(data, "wait")
        if wait is None and call.waiting_since is not None:
            wait = event.at - call.waiting_since
        return wait or 0.0

    # --- interactions -------------------------------------------------------------

    def offered(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        self.call(event).caller = _text(data.get("caller"))
        return []

    def queued(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        call = self.call(event)
        lines = []
        if call.waiting_since is not None and call.queue is not None:
            if call.queue == event.queue and data.get("reason") == "recovered":
                return []  # back in the same queue after a restart: the same wait goes on
            if call.queue != event.queue:
                lines.append(self.line(event, call.queue, None, "EXITWITHTIMEOUT", call.position, call.position,
                                       _seconds(event.at - call.waiting_since)))
        position = data.get("position")
        call.queue = event.queue
        call.position = position if isinstance(position, int) else 0
        call.waiting_since = event.at
        call.answered_at = None
        if event.queue:
            lines.append(self.line(event, event.queue, None, "ENTERQUEUE", "", call.caller, call.position))
        return lines

    def unanswered(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        call = self.call(event)
        queue = event.queue or call.queue
        if not queue:
            return []
        milliseconds = max(0, math.floor((_number(data, "ring") or 0.0) * 1000 + 0.5))
        return [self.line(event, queue, event.agent or call.agent, "RINGNOANSWER", milliseconds)]

    def answered(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        call = self.call(event)
        queue = event.queue or call.queue
        call.wait = self.waited(event, call, data)
        call.agent = event.agent or call.agent
        call.queue = queue
        call.waiting_since = None
        call.answered_at = event.at
        if not queue:
            return []
        ring = _number(data, "ring")
        return [self.line(event, queue, call.agent, "CONNECT", _seconds(call.wait), event.interaction,
                          _seconds(ring))]

    def transferred(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        call = self.call(event)
        queue = event.queue or call.queue
        agent = event.agent or call.agent
        if call.answered_at is not None:
            hold = call.wait
            talk = _number(data, "talk")
            if talk is None:
                talk = event.at - call.answered_at
        else:  # moved while it waited
            hold, talk = self.waited(event, call, data), 0.0
        if data.get("to_queue"):
            extension, context = data["to_queue"], "queue"
        elif data.get("to_agent"):
            extension, context = data["to_agent"], "agent"
        else:
            extension, context = "", ""
        position = call.position
        call.queue = None  # it left this queue; a transfer to a queue is queued there next
        call.waiting_since = call.answered_at = call.agent = None
        if not queue:
            return []
        return [self.line(event, queue, agent, "BLINDTRANSFER", extension, context, _seconds(hold),
                          _seconds(talk), position)]

    def leaving(self, event: Event, data: Mapping[str, Any]) -> tuple[str | None, Any, Any, str]:
        """Queue, position, original position and wait of a caller leaving a queue unanswered."""
        call = self.call(event)
        original = data.get("original_position") or call.position
        position = data.get("position") or original
        return event.queue or call.queue, position, original, _seconds(self.waited(event, call, data))

    def abandoned(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        queue, position, original, wait = self.leaving(event, data)
        return [self.line(event, queue, None, "ABANDON", position, original, wait)] if queue else []

    def exit_with_key(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        queue, position, original, wait = self.leaving(event, data)
        return [self.line(event, queue, None, "EXITWITHKEY", "", position, original, wait)] if queue else []

    def wrapup(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        call = self.call(event)
        if call.answered_at is None or (event.agent and call.agent and event.agent != call.agent):
            return []  # not connected, or the wrapup of an agent who transferred it away
        queue = event.queue or call.queue
        talk = _number(data, "talk")
        if talk is None:
            talk = event.at - call.answered_at
        name = "COMPLETECALLER" if data.get("ended_by") == "customer" else "COMPLETEAGENT"
        call.answered_at = None
        if not queue:
            return []
        return [self.line(event, queue, event.agent or call.agent, name, _seconds(call.wait), _seconds(talk),
                          call.position)]

    # --- agents -------------------------------------------------------------------

    def agent(self, event: Event, data: Mapping[str, Any]) -> list[str]:
        name, state = event.agent, data.get("state")
        if not name or not isinstance(state, str):
            return []
        known = self.agents.get(name)
        if known is None:  # first seen: trust the event's own account of where it came from
            previous = data.get("previous")
            if previous not in (None, LOGGED_OUT):
                known = _Agent(None, previous in PAUSED_STATES)
        reason = data.get("reason") or ""
        lines = []
        if state == LOGGED_OUT:
            if known is not None:
                login = 0.0 if known.logged_in_at is None else event.at - known.logged_in_at
                lines.append(self.line(event, None, name, "AGENTLOGOFF", name, _seconds(login)))
            self.agents.pop(name, None)
            return lines
        if known is None:
            known = _Agent(event.at, False)
            lines.append(self.line(event, None, name, "AGENTLOGIN", name))
        self.agents[name] = known
        paused = state in PAUSED_STATES
        if paused != known.paused:
            known.paused = paused
            verb = "PAUSE" if paused else "UNPAUSE"
            if event.queue:
                lines.append(self.line(event, event.queue, name, verb, reason))
            else:
                lines.append(self.line(event, None, name, verb + "ALL", reason))
        return lines


def queue_log_lines(events: Iterable[Event]) -> Iterator[str]:
    """The queue_log lines for ``events``, in order, without line ends; read lazily, once.

    ``events`` may be any iterable, an ``EventLog`` or a generator over millions
    of rows: each is consumed once, as the lines are asked for.
    """
    exporter = _Exporter()
    for event in events:
        yield from exporter.lines(event)


def write_queue_log(events: Iterable[Event], out: TextIO) -> int:
    """Write the queue_log lines for ``events`` to ``out``, one per line; returns how many."""
    written = 0
    for line in queue_log_lines(events):
        out.write(line + "\n")
        written += 1
    return written
