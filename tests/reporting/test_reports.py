"""The built-in reports against figures computed by hand, on SQLite, PostgreSQL and MariaDB.

Each test writes a small fixed event log (tests/reporting/conftest.py) and
compares every figure with the count written out in its docstring or beside
the expectation; the same test runs on all three backends, so the SQL gives
identical numbers on each.
"""

from __future__ import annotations

import datetime as dt

import pytest

from caruso.errors import ReportRequestError
from caruso.services.reporting.service import ReportsService, ReportsSettings
from tests.reporting.conftest import T0, figures, hours

CONTACT_MEASURES = ("offered", "answered", "abandoned", "short_abandoned", "answered_within", "service_level",
                    "average_speed_of_answer", "longest_wait", "average_talk_time", "average_handle_time",
                    "transfers", "voicemails")


def _contact_day(log) -> None:
    """Two hours of contacts (seconds after 08:00 UTC), every case the KPIs distinguish."""
    log.contact("c0", "billing", -60, answer=10, agent="bert", end=50, complete=50)   # arrived before the period
    log.contact("c1", "billing", 600, answer=610, agent="anna", end=710, complete=730)   # wait 10, talk 100, wrap-up 20
    log.contact("c2", "billing", 1200, answer=1230, agent="bert", end=1290, complete=1290)  # wait 30: late
    log.contact("c3", "billing", 1800, abandon=1803)   # a short abandon (3 s)
    log.contact("c4", "billing", 2400, abandon=2460)   # abandoned after 60 s
    # c6: answered by anna after 5 s, transferred to technical after 60 s of talk, answered by bert
    log.event("offered", 1000, "c6", queue="billing", direction="inbound")
    log.event("queued", 1000, "c6", queue="billing", reason="arrival")
    log.event("routed", 1005, "c6", queue="billing", agent="anna")
    log.event("answered", 1005, "c6", queue="billing", agent="anna", wait=5.0)
    log.event("transferred", 1065, "c6", queue="billing", agent="anna", to_queue="technical", talk=60.0)
    log.event("queued", 1065, "c6", queue="technical", reason="transfer")
    log.event("routed", 1075, "c6", queue="technical", agent="bert")
    log.event("answered", 1075, "c6", queue="technical", agent="bert", wait=10.0)
    log.event("wrapup", 1175, "c6", queue="technical", agent="bert", talk=100.0)
    log.event("completed", 1185, "c6", queue="technical", agent="bert", handle=110.0)
    # c5 arrives at 08:59:50 and is answered at 09:00:10: it belongs to the 08:00 hour
    log.contact("c5", "billing", 3590, answer=3610, agent="anna", end=3910, complete=3930)
    log.contact("c7", "technical", 3600, answer=3640, agent="bert", end=3700, complete=3700)  # 09:00:00 sharp
    log.event("offered", 4000, "c8", queue="billing", direction="inbound")
    log.event("queued", 4000, "c8", queue="billing", reason="arrival")
    log.event("voicemail", 4100, "c8", queue="billing", callback="v1", wait=100.0)
    log.flush()


def test_contact_statistics_by_hour_and_queue(reporting):
    """08:00 billing: 6 offered (c1-c6; c0 arrived before the period), answered c1 c2 c5 c6, abandoned c4
    (c3 is a short abandon), within 20 s c1 (10) c5 (20) c6 (5) -> SL 3/5; ASA (10+30+20+5)/4; longest
    wait 60 (c4); talk (100+60+300+160)/4; handle (120+60+320+170)/4; one transfer (c6, counted once).
    09:00 billing: c8 left a voicemail after 100 s (settled, not answered: SL 0). 09:00 technical: c7,
    answered after 40 s against a 30 s target."""
    log, reports = reporting
    _contact_day(log)
    result = reports.run("contact-statistics", T0, T0 + hours(2))
    assert [
        ("2026-03-02T08:00+00:00", "billing", 6, 4, 1, 1, 3, 0.6, 16.25, 60.0, 155.0, 167.5, 1, 0),
        ("2026-03-02T09:00+00:00", "billing", 1, 0, 0, 0, 0, 0.0, None, 100.0, None, None, 0, 1),
        ("2026-03-02T09:00+00:00", "technical", 1, 1, 0, 0, 0, 0.0, 40.0, 40.0, 60.0, 60.0, 0, 0),
    ] == figures(result, *CONTACT_MEASURES)
    assert {"offered": 8, "answered": 5, "abandoned": 1, "short_abandoned": 1, "answered_within": 3,
            "service_level": round(3 / 7, 4), "average_speed_of_answer": 21.0, "longest_wait": 100.0,
            "average_talk_time": 136.0, "average_handle_time": 146.0, "transfers": 1,
            "voicemails": 1} == dict(result.totals)


def test_totals_per_queue_and_whole_period(reporting):
    """The period as one interval: billing 7 offered (c1-c6, c8), technical 1 (c7), by the queue of arrival."""
    log, reports = reporting
    _contact_day(log)
    result = reports.run("contact-statistics", T0, T0 + hours(2), "total")
    assert [("2026-03-02T08:00+00:00", "billing", 7, 4, 0.5), ("2026-03-02T08:00+00:00", "technical", 1, 1, 0.0)] == \
        figures(result, "offered", "answered", "service_level")
    assert [(("billing",), 7), (("technical",), 1)] == [(row.dimensions, row.values["offered"])
                                                         for row in result.group_totals]


def test_a_contact_spanning_the_end_of_the_period_counts_with_its_later_events(reporting):
    """c5 arrives at 08:59:50, is answered at 09:00:10 and talks till 09:05: a report of the 08:00 hour
    alone still has its answer (wait 20, within target) and its talk (300 s)."""
    log, reports = reporting
    _contact_day(log)
    result = reports.run("contact-statistics", T0 + dt.timedelta(minutes=50), T0 + hours(1), "total")
    assert [("2026-03-02T08:50+00:00", "billing", 1, 1, 1, 20.0, 300.0)] == figures(
        result, "offered", "answered", "answered_within", "average_speed_of_answer", "average_talk_time")


def test_by_15_minutes(local_reporting):
    """c1 (08:10) and c6 (08:16:40) fall in 08:00 and 08:15; c2 (08:20), c3 (08:30), c4 (08:40), c5 (08:59:50)."""
    log, reports = local_reporting
    _contact_day(log)
    result = reports.run("contact-statistics", T0, T0 + hours(1), "15min")
    assert [("2026-03-02T08:00+00:00", "billing", 1), ("2026-03-02T08:15+00:00", "billing", 2),
            ("2026-03-02T08:30+00:00", "billing", 2), ("2026-03-02T08:45+00:00", "billing", 1)] == \
        figures(result, "offered")


def test_calendar_days_follow_the_time_zone(reporting):
    """In Amsterdam (UTC+1 in March) a contact at 23:30 UTC on 2 March arrives on 3 March."""
    log, reports = reporting
    log.contact("late", "billing", 15.5 * 3600, abandon=15.5 * 3600 + 30)
    log.contact("early", "billing", 3600, abandon=3600 + 30)
    log.flush()
    zoned = ReportsService().bind(reports.app, reports.storage, reports.clock,
                                  ReportsSettings(timezone="Europe/Amsterdam"))
    result = zoned.run("contact-statistics", dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 4), "day")
    assert [("2026-03-02", "billing", 1, 1), ("2026-03-03", "billing", 1, 1)] == figures(result, "offered", "abandoned")


def test_agent_availability_across_midnight(reporting):
    """anna logs in at 22:00, talks 23:00-23:20 (wrap-up to 23:25), is away 23:30-00:30, takes a call
    00:40-00:50 and logs out at 01:00. 2 March: ready 22:00-23:30 = 5400 s, away 1800, talk 1200,
    wrap-up 300, idle 5400-1500, occupancy 1500/5400, one handled. 3 March: away 1800, ready 1800,
    talk 600, occupancy 600/1800."""
    log, reports = reporting
    base = 14 * 3600  # 22:00 after 08:00
    log.agent("anna", base, "ready")
    log.contact("a1", "billing", base + 3590, answer=base + 3600, agent="anna", end=base + 4800, complete=base + 5100)
    log.agent("anna", base + 5400, "away", "lunch")
    log.agent("anna", base + 9000, "ready")
    log.contact("a2", "billing", base + 9590, answer=base + 9600, agent="anna", end=base + 10200, complete=base + 10200)
    log.agent("anna", base + 10800, "logged-out")
    log.flush()
    result = reports.run("agent-availability", dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 4))
    measures = ("logged_in_time", "ready_time", "away_time", "talk_time", "wrapup_time", "idle_time",
                "occupancy", "handled")
    assert [("2026-03-02", "anna", 7200.0, 5400.0, 1800.0, 1200.0, 300.0, 3900.0, round(1500 / 5400, 4), 1),
            ("2026-03-03", "anna", 3600.0, 1800.0, 1800.0, 600.0, 0.0, 1200.0, round(600 / 1800, 4), 1)] == \
        figures(result, *measures)


def test_agent_still_logged_in_counts_until_now(local_reporting):
    """An agent ready since 08:00 with no event after it: by hour, each hour up to now is ready time."""
    log, reports = local_reporting
    log.agent("bert", 0, "ready")
    log.flush()
    frozen = ReportsService().bind(reports.app, reports.storage, _At(T0 + dt.timedelta(hours=1, minutes=30)),
                                   ReportsSettings())
    result = frozen.run("agent-availability", T0, T0 + hours(3), "hour")
    assert [("2026-03-02T08:00+00:00", "bert", 3600.0), ("2026-03-02T09:00+00:00", "bert", 1800.0)] == \
        figures(result, "ready_time")


class _At:
    """A clock stopped at one moment (only ``now`` is read by the reports)."""

    def __init__(self, moment: dt.datetime):
        self.moment = moment

    def now(self) -> dt.datetime:
        return self.moment


def test_voicemail_left_and_called_back(reporting):
    """Two messages left in billing; v1 is called back 600 s after it was left, v2 never."""
    log, reports = reporting
    log.contact("v1", "billing", 4100, answer=4700, agent="anna", end=4760, complete=4760, channel="voicemail",
                direction="outbound")
    log.contact("v2", "billing", 5000, channel="voicemail", direction="outbound")
    log.contact("c9", "billing", 5100, answer=5110, agent="bert", end=5200, complete=5200)  # a call: not a message
    log.flush()
    result = reports.run("voicemail", T0, T0 + hours(24))
    assert [("2026-03-02", "billing", 2, 1, 1, 600.0, 600.0)] == figures(
        result, "left", "called_back", "not_called_back", "average_time_to_callback", "longest_time_to_callback")


def test_campaign_results(reporting):
    """winback: 5 dials (2 answered, no-answer, busy, machine) and a do-not-call passed by; renewals: 1 failed."""
    log, reports = reporting
    for seconds, campaign, result in [(10, "winback", "answered"), (20, "winback", "no-answer"),
                                      (30, "winback", "busy"), (40, "winback", "voicemail"),
                                      (50, "winback", "answered"), (60, "winback", "do-not-call"),
                                      (70, "renewals", "failed")]:
        log.event("attempt", seconds, campaign=campaign, number="+31201234567", result=result, attempt=1)
    log.flush()
    result = reports.run("campaign-results", T0, T0 + hours(1), "total")
    assert [("2026-03-02T08:00+00:00", "renewals", 1, 0, 0.0, 0, 0, 0, 1, 0),
            ("2026-03-02T08:00+00:00", "winback", 5, 2, 0.4, 1, 1, 1, 0, 1)] == figures(
        result, "attempts", "reached", "reach_rate", "no_answer", "busy", "machine", "failed", "not_dialed")


def test_campaign_outcomes_by_wrap_up_code(reporting):
    """Outbound campaign calls by the code they were completed with (a JSON field of the log)."""
    log, reports = reporting
    for ix, code, talk in [("o1", "sale", 100), ("o2", "sale", 200), ("o3", "not-interested", 30)]:
        log.event("offered", 10, ix, queue="billing", campaign="winback", direction="outbound")
        log.event("answered", 12, ix, queue="billing", campaign="winback", agent="anna")
        log.event("wrapup", 12 + talk, ix, queue="billing", campaign="winback", agent="anna")
        log.event("completed", 12 + talk, ix, queue="billing", campaign="winback", agent="anna", code=code)
    log.contact("in", "billing", 20, answer=25, agent="bert", end=40, complete=40, code="sale")  # inbound: left out
    log.flush()
    result = reports.run("campaign-outcomes", T0, T0 + hours(1))
    assert [("winback", "not-interested"), ("winback", "sale")] == [row.dimensions for row in result.rows]
    assert [1, 2] == [row.values["answered"] for row in result.rows]
    assert [30.0, 150.0] == [row.values["average_handle_time"] for row in result.rows]


def test_an_empty_period_is_an_empty_report(reporting):
    """A day without events: no rows per queue, totals of zero, rates unknown (None, not 0 and not a crash)."""
    _log, reports = reporting
    result = reports.run("contact-statistics", T0 - hours(48), T0 - hours(24))
    assert ((), 0, None, True) == (result.rows, result.totals["offered"], result.totals["service_level"], result.empty)


def test_a_database_without_an_event_log_is_an_empty_report(tmp_path):
    """Before the communication server ever ran there is no caruso_event table: the report is empty."""
    from caruso.storage import Storage

    storage = Storage(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        result = ReportsService().bind(None, storage, None, ReportsSettings()).run("agent-availability", T0, T0 + hours(1))
        assert ((), 0.0) == (result.rows, result.totals["ready_time"])
    finally:
        storage.close()


def test_a_reversed_period_is_refused(local_reporting):
    """--to before --from: a clear error that says to swap them."""
    _log, reports = local_reporting
    with pytest.raises(ReportRequestError) as caught:
        reports.run("contact-statistics", T0, T0 - hours(1))
    assert ("the period is reversed: it ends (2026-03-02T07:00:00+00:00) before it starts "
            "(2026-03-02T08:00:00+00:00); swap --from and --to") == str(caught.value)


def test_a_year_by_15_minutes_is_refused_with_the_limit(local_reporting):
    """35,040 intervals is more than max_intervals: refused before any query, saying what to change."""
    _log, reports = local_reporting
    with pytest.raises(ReportRequestError) as caught:
        reports.run("contact-statistics", dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1), "15min")
    assert ("2026-01-01T00:00:00+00:00 to 2027-01-01T00:00:00+00:00 by 15min is 35,040 intervals, more than the "
            "limit of 10,000 (max_intervals in [services.reports.settings]); choose a longer interval or a "
            "shorter period") == str(caught.value)


def test_an_unknown_report_has_a_did_you_mean(local_reporting):
    """A misspelt report name names the closest one."""
    _log, reports = local_reporting
    with pytest.raises(ReportRequestError) as caught:
        reports.run("contact-statistic", T0, T0 + hours(1))
    assert ("no report 'contact-statistic' (did you mean 'contact-statistics'?); known: agent-availability, "
            "campaign-outcomes, campaign-results, contact-statistics, voicemail") == str(caught.value)


BY_AGENT = """<report name="by-agent" title="By agent" source="contacts" interval="total">
  <dimension name="agent"/>
  <measure name="offered"/>
  <measure name="answered"/>
  <measure name="average_handle_time"/>
  <filter dimension="channel" not-in="email"/>
</report>
"""


def test_by_agent_with_the_unanswered_apart_in_the_same_order_everywhere(reporting, tmp_path):
    """By the agent who completed each contact: the unanswered (c3, c4, c8) under '(none)', first on every
    backend whatever it does with NULLs; anna c1 c5 (handle 120, 320), bert c2 c6 c7 (60, 170, 60)."""
    from caruso.services.reporting.definitions import read_definitions
    from caruso.services.reporting.service import report_sources

    log, reports = reporting
    _contact_day(log)
    log.contact("m1", "billing", 900, channel="email", abandon=905)  # filtered out
    log.flush()
    (tmp_path / "by-agent.xml").write_text(BY_AGENT, encoding="utf-8")
    definition = read_definitions([tmp_path / "by-agent.xml"], report_sources(None))["by-agent"]
    result = reports.run(definition, T0, T0 + hours(2))
    assert [("(none)", 3, 0, None), ("anna", 2, 2, 220.0), ("bert", 3, 3, round(290 / 3, 3))] == [
        (row.dimensions[0], row.values["offered"], row.values["answered"], row.values["average_handle_time"])
        for row in result.rows]


def test_each_queue_keeps_its_own_target_without_a_queue_dimension(reporting, tmp_path):
    """Grouped by channel only, a technical contact answered after 25 s is still within technical's
    30 s target, a billing one after 25 s is not within billing's 20 s: 1 of 2 in target."""
    from caruso.services.reporting.definitions import read_definitions
    from caruso.services.reporting.service import report_sources

    log, reports = reporting
    log.contact("b1", "billing", 0, answer=25, agent="anna", end=60, complete=60)
    log.contact("t1", "technical", 0, answer=25, agent="bert", end=60, complete=60)
    log.flush()
    (tmp_path / "by-channel.xml").write_text(
        '<report name="by-channel" title="By channel" source="contacts" interval="total">'
        '<dimension name="channel"/><measure name="answered_within"/><measure name="service_level"/></report>',
        encoding="utf-8")
    definition = read_definitions([tmp_path / "by-channel.xml"], report_sources(None))["by-channel"]
    assert [(("voice",), 1, 0.5)] == [(row.dimensions, row.values["answered_within"], row.values["service_level"])
                                      for row in reports.run(definition, T0, T0 + hours(1)).rows]
