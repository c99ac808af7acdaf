"""The queue_log export: Asterisk's lines for Caruso's events, safe fields, one streaming pass."""

from __future__ import annotations

import io
from collections.abc import Iterator

from caruso.services.communication.events import Event
from caruso.services.communication.queue_log import _Exporter, queue_log_lines, write_queue_log

T0 = 1_700_000_000


class _Log:
    """Builds events with increasing sequence numbers, at T0 + an offset in seconds."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, offset: float, kind: str, interaction: str | None = None, *, queue: str | None = None,
                 agent: str | None = None, channel: str | None = "voice", **data) -> Event:
        event = Event(len(self.events) + 1, T0 + offset, kind, interaction, channel, queue, agent, None, None,
                      data or None)
        self.events.append(event)
        return event


def _day() -> list[Event]:
    """An agent's shift, an answered call, an abandoned one, a transfer, a voicemail."""
    e = _Log()
    e(1.3, "agent", agent="dave", channel=None, state="ready", previous="logged-out", reason=None)
    # c1: IVR first, rings bob (no answer), alice answers, the customer hangs up.
    e(2.2, "offered", "c1", direction="inbound", customer="k-17", caller="+4930123456", priority=0)
    e(5.0, "ivr", "c1", session="s1", outcome="support", answers={"topic": "router"})
    e(10.4, "queued", "c1", queue="support", priority=0, reason="arrival", position=1)
    e(20.0, "routed", "c1", queue="support", agent="bob", strategy="longest-idle")
    e(35.2, "unanswered", "c1", queue="support", agent="bob", reason="timeout", ring=15.2)
    e(36.2, "routed", "c1", queue="support", agent="alice", strategy="longest-idle")
    e(40.6, "answered", "c1", queue="support", agent="alice", wait=30.2, ring=4.4)
    # c2: waits second in line, hangs up after 45 s.
    e(50.1, "offered", "c2", queue="support", direction="inbound", caller=None)
    e(50.5, "queued", "c2", queue="support", priority=0, reason="arrival", position=2)
    e(95.5, "abandoned", "c2", queue="support", wait=45.0, position=1, original_position=2)
    # c3: sales answers and hands it to support, where alice takes it and ends it.
    e(99.0, "offered", "c3", queue="sales", caller="+33155550000")
    e(100.0, "queued", "c3", queue="sales", priority=0, reason="arrival", position=1)
    e(108.0, "answered", "c3", queue="sales", agent="carol", wait=8.0, ring=3.0)
    e(160.6, "wrapup", "c1", queue="support", agent="alice", talk=120.0, ended_by="customer")
    e(190.0, "completed", "c1", queue="support", agent="alice", code="solved", outcome="ok", handle=149.4)
    e(200.0, "transferred", "c3", queue="sales", agent="carol", to_queue="support", wait=8.0, talk=92.0)
    e(200.1, "queued", "c3", queue="support", priority=0, reason="transfer", position=1)
    e(205.0, "wrapup", "c3", queue="sales", agent="carol", talk=92.0, ended_by="agent")
    e(230.0, "answered", "c3", queue="support", agent="alice", wait=29.9, ring=2.0)
    # dave pauses for lunch and comes back.
    e(300.0, "agent", agent="dave", channel=None, state="away", previous="ready", reason="lunch")
    e(310.0, "wrapup", "c3", queue="support", agent="alice", talk=60.0, ended_by="agent")
    e(320.0, "completed", "c3", queue="support", agent="alice", code="moved", outcome="ok", handle=90.0)
    # c4: third in line, leaves a message and asks to be called back.
    e(400.0, "queued", "c4", queue="support", priority=0, reason="arrival", position=3)
    e(460.4, "voicemail", "c4", queue="support", recording="rec-4.wav", callback="c5", wait=60.4)
    e(600.0, "agent", agent="dave", channel=None, state="ready", previous="away", reason=None)
    e(900.0, "agent", agent="dave", channel=None, state="logged-out", previous="ready", reason="end of shift")
    return e.events


def test_a_day_exports_line_by_line_as_asterisk_writes_it():
    """ENTERQUEUE, RINGNOANSWER, CONNECT, COMPLETE*, ABANDON, BLINDTRANSFER, EXITWITHKEY, agent lines."""
    expected = [
        "1700000001|NONE|NONE|dave|AGENTLOGIN|dave",
        "1700000010|c1|support|NONE|ENTERQUEUE||+4930123456|1",
        "1700000035|c1|support|bob|RINGNOANSWER|15200",
        "1700000040|c1|support|alice|CONNECT|30|c1|4",
        "1700000050|c2|support|NONE|ENTERQUEUE|||2",
        "1700000095|c2|support|NONE|ABANDON|1|2|45",
        "1700000100|c3|sales|NONE|ENTERQUEUE||+33155550000|1",
        "1700000108|c3|sales|carol|CONNECT|8|c3|3",
        "1700000160|c1|support|alice|COMPLETECALLER|30|120|1",
        "1700000200|c3|sales|carol|BLINDTRANSFER|support|queue|8|92|1",
        "1700000200|c3|support|NONE|ENTERQUEUE||+33155550000|1",
        "1700000230|c3|support|alice|CONNECT|30|c3|2",
        "1700000300|NONE|NONE|dave|PAUSEALL|lunch",
        "1700000310|c3|support|alice|COMPLETEAGENT|30|60|1",
        "1700000400|c4|support|NONE|ENTERQUEUE|||3",
        "1700000460|c4|support|NONE|EXITWITHKEY||3|3|60",
        "1700000600|NONE|NONE|dave|UNPAUSEALL|",
        "1700000900|NONE|NONE|dave|AGENTLOGOFF|dave|899",
    ]
    assert expected == list(queue_log_lines(_day()))


def test_write_queue_log_writes_one_line_each_and_counts_them():
    """Newline-terminated lines, the count returned."""
    out = io.StringIO()
    written = write_queue_log(_day(), out)
    text = out.getvalue()
    assert 18 == written
    assert (18, True) == (text.count("\n"), text.endswith("|AGENTLOGOFF|dave|899\n"))


def test_a_pipe_or_line_break_inside_a_field_cannot_break_the_format():
    """'|' becomes '/', a line break a space: still one line of the same number of fields."""
    e = _Log()
    e(0, "agent", agent="eve", state="ready", previous="logged-out")
    e(10, "agent", agent="eve", state="away", previous="ready", reason="coffee | smoke\nbreak\r")
    e(20, "offered", "c9", caller="Bob|Smith\n<bob@example.com>")
    e(21, "queued", "c9", queue="we|ird", position=1)
    expected = [
        "1700000000|NONE|NONE|eve|AGENTLOGIN|eve",
        "1700000010|NONE|NONE|eve|PAUSEALL|coffee / smoke break ",
        "1700000021|c9|we/ird|NONE|ENTERQUEUE||Bob/Smith <bob@example.com>|1",
    ]
    assert expected == list(queue_log_lines(e.events))


def test_a_pause_in_one_queue_is_pause_in_that_queue():
    """An agent event with a queue gives Asterisk's per-queue PAUSE / UNPAUSE with the reason."""
    e = _Log()
    e(0, "agent", agent="eve", state="away", previous="logged-out", reason="training")
    e(60, "agent", agent="eve", queue="billing", state="ready", previous="away", reason="back")
    e(70, "agent", agent="eve", queue="billing", state="away", previous="ready", reason="coaching")
    expected = [
        "1700000000|NONE|NONE|eve|AGENTLOGIN|eve",
        "1700000000|NONE|NONE|eve|PAUSEALL|training",
        "1700000060|NONE|billing|eve|UNPAUSE|back",
        "1700000070|NONE|billing|eve|PAUSE|coaching",
    ]
    assert expected == list(queue_log_lines(e.events))


def test_overflow_closes_the_first_queue_and_a_recovered_wait_writes_nothing():
    """Queued elsewhere while waiting: EXITWITHTIMEOUT there first; recovered into the same queue: no line."""
    e = _Log()
    e(0, "queued", "c1", queue="first", reason="arrival", position=2)
    e(5, "queued", "c1", queue="first", reason="recovered", position=1)
    e(60, "queued", "c1", queue="second", reason="overflow", position=1)
    e(90, "callback", "c1", queue="second", callback="c2", wait=30.0)
    expected = [
        "1700000000|c1|first|NONE|ENTERQUEUE|||2",
        "1700000060|c1|first|NONE|EXITWITHTIMEOUT|2|2|60",
        "1700000060|c1|second|NONE|ENTERQUEUE|||1",
        "1700000090|c1|second|NONE|EXITWITHKEY||1|1|30",
    ]
    assert expected == list(queue_log_lines(e.events))


def test_events_without_a_queue_log_equivalent_are_skipped():
    """IVR-only calls, outbound campaigns, agent states that are no pause, unknown kinds: no lines."""
    e = _Log()
    e(0, "offered", "c1", caller="+4930999")
    e(3, "ivr", "c1", session="s", outcome="voicemail")
    e(9, "voicemail", "c1", recording="r.wav", callback=None, wait=0)  # never queued
    e(10, "campaign", channel=None, state="started")
    e(11, "attempt", "o1", number="+4930111", result="busy", attempt=1)
    e(12, "agent", agent="eve", state="ready", previous="busy")  # first seen logged in: no login line
    e(13, "agent", agent="eve", state="busy", previous="ready")
    e(14, "something-new", "c7")
    assert [] == list(queue_log_lines(e.events))


def test_the_export_streams_and_forgets_finished_interactions():
    """A generator is read once, as lines are asked for; state is kept only for open interactions."""
    consumed = []

    def events() -> Iterator[Event]:
        for event in _day():
            consumed.append(event.seq)
            yield event

    lines = queue_log_lines(events())
    assert [] == consumed  # nothing read before the first line is asked for
    assert "1700000001|NONE|NONE|dave|AGENTLOGIN|dave" == next(lines)
    assert [1] == consumed
    assert "1700000010|c1|support|NONE|ENTERQUEUE||+4930123456|1" == next(lines)
    assert [1, 2, 3, 4] == consumed
    assert 16 == len(list(lines))
    assert list(range(1, 28)) == consumed  # each event read exactly once
    assert [] == list(lines)

    exporter = _Exporter()
    for event in _day():
        exporter.lines(event)
    assert ({}, {}) == (exporter.calls, exporter.agents)
