"""Outbound campaigns in a real application: modes, retries, do-not-call, calling hours, the abandon cap."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from caruso.errors import ConfigError, InteractionStateError, ServiceStartError
from caruso.services.communication.campaigns import CampaignSettings, check_campaigns, normalise_number

SALES = """
[[services.communication.settings.queues]]
name = "sales"
requires = "skills HAS 'moves'"

[[services.communication.settings.queues]]
name = "billing"
requires = "skills HAS 'billing'"

[[services.communication.settings.agents]]
name = "anna"
skills = { moves = 5 }

[[services.communication.settings.agents]]
name = "bert"
skills = { moves = 3 }

[[services.communication.settings.agents]]
name = "carla"
skills = { billing = 5 }
"""

MODEL = """<model>
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="phone" type="string"/>
  <attribute name="segment" type="string" default="residential"/>
</object>
</model>
"""


def number(n: int) -> str:
    return f"+3120100{n:04d}"


def campaign(extra: str = "", *, count: int = 4, mode: str = "progressive") -> str:
    numbers = ", ".join(f'"{number(n)}"' for n in range(1, count + 1))
    return f"""
[[services.communication.settings.campaigns]]
name = "green"
queue = "sales"
mode = "{mode}"
numbers = [{numbers}]
{extra}
"""


@pytest.fixture
def outbound(call_centre):
    """A factory: ``outbound(campaign_toml, files=None)`` -> (server, telephony, clock), started."""

    def make(extra: str, *, files: dict | None = None):
        app = call_centre(extra, queues=SALES, files=files)
        if files:
            app.services.get("storage").upgrade()
        return app, app.services.get("communication"), app.services.resolve("telephony"), app.services.get("clock")

    return make


def attempts(server) -> list[tuple]:
    """The written ``attempt`` events as (seconds since start, number, result, attempt, agent)."""
    server.event_log.flush()
    start = server.epoch(0.0)
    return [(round(e.at - start), e.data["number"], e.data["result"], e.data["attempt"], e.agent)
            for e in server.event_log.read(kinds=["attempt"])]


def results_by_number(results: dict[str, str], default: str = "no-answer"):
    return lambda request: results.get(request.number, default)


def run_for(server, seconds: float) -> None:
    """Virtual time: every timer of the next ``seconds`` runs at its moment; the log is written."""
    server.scheduler.run_until(server.now() + seconds)
    server.tick()


def test_a_progressive_campaign_dials_one_number_per_free_agent(outbound):
    """Two free agents of the queue: two numbers are dialed, each answered call connected to its reserved agent."""
    _app, server, telephony, _clock = outbound(campaign())
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.login("bert")
    server.login("carla")  # billing: not an agent of this campaign
    server.campaigns.start("green")
    dialed = [(a[1], a[4]) for a in attempts(server)]
    assert [(number(1), "anna"), (number(2), "bert")] == dialed
    connected = sorted(detail for request, _id, detail in telephony.log if request == "connect")
    assert ["agent:anna", "agent:bert"] == connected
    assert {"anna": "busy", "bert": "busy", "carla": "ready"} == {a.name: a.state for a in server.agent_views()}


def test_when_an_agent_finishes_the_next_number_is_dialed_with_the_script_and_code(outbound):
    """Completing with a result code frees the agent, who gets the next number; codes are counted."""
    extra = campaign('script = "green-tariff"\nresult_codes = ["interested", "not-interested"]')
    _app, server, telephony, _clock = outbound(extra, files={"scripts/green.xml": GREEN_SCRIPT})
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.campaigns.start("green")
    first = server.agent("anna").interactions[0]
    view = server.interaction(first)
    assert ("green", "green-tariff", number(1)) == (view.campaign, view.data["script"], view.address)
    server.complete("anna", first, code="interested")
    second = server.agent("anna").interactions[0]
    assert number(2) == server.interaction(second).address
    assert {"interested": 1} == server.campaigns.progress("green").by_code


GREEN_SCRIPT = """<script id="green-tariff" title="Green tariff" languages="en" start="pitch">
  <question id="pitch" kind="yesno"><prompt>Interested in our green tariff?</prompt><go to="done"/></question>
  <end id="done" outcome="asked"/>
</script>
"""


def test_retries_follow_the_interval_of_each_result_up_to_max_attempts(outbound):
    """Busy is tried again after 600 s, no answer after 3600 s, voicemail never; at most 2 dials per number."""
    _app, server, telephony, _clock = outbound(campaign(
        "max_attempts = 2\nretry = { busy = 600, no-answer = 3600 }", count=3))
    telephony.dial_results = results_by_number({number(1): "busy", number(2): "no-answer", number(3): "voicemail"})
    server.login("anna")
    server.campaigns.start("green")
    run_for(server, 20_000)
    assert [(0, number(1), "busy", 1, "anna"), (0, number(2), "no-answer", 1, "anna"),
            (0, number(3), "voicemail", 1, "anna"), (600, number(1), "busy", 2, "anna"),
            (3600, number(2), "no-answer", 2, "anna")] == attempts(server)
    progress = server.campaigns.progress("green")
    assert ("finished", {"max-attempts": 2, "voicemail": 1}) == (progress.state, progress.finished)


def test_a_result_code_in_retry_calls_the_customer_again(outbound):
    """'call-later' given by the agent brings the number back after its interval, as a further attempt."""
    extra = campaign('retry = { call-later = 7200 }\nresult_codes = ["call-later"]', count=1)
    _app, server, telephony, _clock = outbound(extra)
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.campaigns.start("green")
    server.complete("anna", server.agent("anna").interactions[0], code="call-later")
    run_for(server, 7200)
    server.complete("anna", server.agent("anna").interactions[0], code="interested")
    assert [(0, 1), (7200, 2)] == [(a[0], a[3]) for a in attempts(server)]
    assert {"interested": 1} == server.campaigns.progress("green").finished


def test_progress_reflects_what_happened(outbound):
    """Counts of dials, answers, results, codes and what remains, while it runs and at the end."""
    _app, server, telephony, _clock = outbound(campaign("retry = { busy = 60 }", count=3))
    telephony.dial_results = results_by_number({number(1): "answered", number(2): "busy"}, default="busy")
    server.login("anna")
    server.campaigns.start("green")
    running = server.campaigns.progress("green")
    assert ("running", 3, 1, 1, 1, 3, 1) == (running.state, running.total, running.dialed, running.attempts,
                                             running.answered, running.remaining, running.in_progress)
    call = server.agent("anna").interactions[0]
    server.complete("anna", call, code="interested")
    telephony.dial_results = lambda request: "answered" if request.number == number(2) else "busy"
    run_for(server, 60)
    assert number(2) == server.interaction(server.agent("anna").interactions[0]).address
    server.complete("anna", server.agent("anna").interactions[0], code="not-interested")
    run_for(server, 200)
    done = server.campaigns.progress("green")
    assert ("finished", 3, 3, 6, 2, 0, 0.0) == (done.state, done.total, done.dialed, done.attempts, done.answered,
                                               done.remaining, done.abandon_rate)
    assert {"answered": 2, "busy": 4} == done.by_result
    assert {"interested": 1, "not-interested": 1} == done.by_code
    assert {"interested": 1, "not-interested": 1, "max-attempts": 1} == done.finished


def test_do_not_call_numbers_are_never_dialed_also_one_added_while_it_runs(outbound):
    """A number on the list (written nationally) is skipped; one added mid-run is not dialed afterwards."""
    _app, server, telephony, _clock = outbound(campaign('country = "31"\ndo_not_call = ["020 100 0002"]', count=5))
    telephony.dial_results = results_by_number({number(1): "answered"})
    server.login("anna")
    server.campaigns.start("green")
    assert "+31201000004" == server.campaigns.add_do_not_call("+31 20 100 0004")
    server.complete("anna", server.agent("anna").interactions[0], code="interested")
    dialed = [(a[1], a[2]) for a in attempts(server)]
    assert [(number(1), "answered"), (number(2), "do-not-call"), (number(3), "no-answer"),
            (number(4), "do-not-call"), (number(5), "no-answer")] == dialed
    assert [number(1), number(3), number(5)] == [d for r, _i, d in telephony.log if r == "dial"]


def test_a_do_not_call_result_code_and_a_number_due_for_retry(outbound):
    """'do-not-call' as a code lists the number everywhere; a number listed while waiting for a retry is not called."""
    _app, server, telephony, _clock = outbound(campaign("retry = { busy = 600 }", count=2))
    telephony.dial_results = results_by_number({number(1): "answered", number(2): "busy"})
    server.login("anna")
    server.campaigns.start("green")
    server.complete("anna", server.agent("anna").interactions[0], code="do-not-call")
    server.campaigns.add_do_not_call(number(2))
    run_for(server, 1200)
    assert [number(1), number(2)] == [d for r, _i, d in telephony.log if r == "dial"]
    assert {"do-not-call": 2} == server.campaigns.progress("green").finished


def test_nothing_is_dialed_outside_calling_hours_and_dialing_resumes_when_they_open(outbound):
    """Hours 10:00-20:00 from Monday 08:00: first dials at 10:00; a retry due at 20:00 waits for Tuesday 10:00."""
    hours = 'calling_hours = { timezone = "UTC", days = { mon-fri = "10:00-20:00" } }'
    _app, server, telephony, clock = outbound(campaign(hours + "\nretry = { no-answer = 36000 }", count=2))
    telephony.dial_results = lambda request: "no-answer"
    server.login("anna")
    progress = server.campaigns.start("green")
    assert ("waiting", dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)) == (progress.state, progress.opens)
    run_for(server, 7199)
    assert [] == attempts(server)
    run_for(server, 30 * 3600)
    hour = 3600
    assert [(2 * hour, number(1)), (2 * hour, number(2)), (26 * hour, number(1)), (26 * hour, number(2))] == [
        (a[0], a[1]) for a in attempts(server)]
    server.event_log.flush()
    waits = [e.data.get("until") for e in server.event_log.read(kinds=["campaign"]) if e.data.get("state") == "waiting"]
    assert ["2026-01-05T10:00:00+00:00", "2026-01-06T10:00:00+00:00"] == waits
    assert clock.now() > dt.datetime(2026, 1, 6, 10, 0, tzinfo=dt.UTC)


def test_a_segment_of_business_objects_is_the_call_list(outbound):
    """Residential customers with a number, by id, national numbers in E.164; attempts name the customer."""
    segment = 'segment = { object = "Customer", where = { segment = "residential" }, phone = "phone" }\ncountry = "31"'
    app, server, telephony, _clock = outbound(SEGMENT_CAMPAIGN.format(extra=segment, mode="progressive"),
                                              files={"models/crm.xml": MODEL})
    add_customers(app)
    telephony.dial_results = lambda request: "busy"
    server.login("anna")
    server.campaigns.start("green")
    server.event_log.flush()
    assert [("+31201000001", 1), ("+31201000003", 3), ("+31201000004", 4)] == [
        (e.data["number"], e.data["customer"]) for e in server.event_log.read(kinds=["attempt"])]
    assert 3 == server.campaigns.progress("green").total


SEGMENT_CAMPAIGN = """
[[services.communication.settings.campaigns]]
name = "green"
queue = "sales"
mode = "{mode}"
retry = {{}}
{extra}
"""


def add_customers(app) -> None:
    bom = app.services.get("bom")
    with bom.unit_of_work() as session:
        session.add(bom.Customer(id=1, name="Ada", phone="020 100 0001"))
        session.add(bom.Customer(id=2, name="Bob", phone="+31201000002", segment="business"))
        session.add(bom.Customer(id=3, name="Cleo", phone="+31201000003"))
        session.add(bom.Customer(id=5, name="Eve", phone=None))
        session.add(bom.Customer(id=4, name="Dan", phone="+31 20 100 0004"))


def test_preview_the_agent_sees_the_record_and_dials_or_skips(outbound):
    """Each agent previews their own record, dials or skips it; a do-not-call number is never shown."""
    segment = 'segment = { object = "Customer", phone = "phone" }\ncountry = "31"\ndo_not_call = ["+31201000002"]'
    app, server, telephony, _clock = outbound(SEGMENT_CAMPAIGN.format(extra=segment, mode="preview"),
                                              files={"models/crm.xml": MODEL})
    add_customers(app)
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.login("bert")
    server.campaigns.start("green")
    assert [] == [r for r, _i, _d in telephony.log if r == "dial"]  # preview dials only when the agent says so
    first = server.campaigns.preview("anna")
    assert ("+31201000001", 1, "Ada", 1) == (first.number, first.customer, first.data["name"], first.attempt)
    assert first == server.campaigns.preview("anna")
    other = server.campaigns.preview("bert")
    assert "+31201000003" == other.number  # Bob's number is on the do-not-call list
    server.campaigns.skip("bert", other, reason="asked for a letter")
    view = server.campaigns.dial_preview("anna", first)
    assert ("connected", "anna") == (server.interaction(view.id).state, server.interaction(view.id).agent)
    with pytest.raises(InteractionStateError, match="not previewed by agent 'anna'"):
        server.campaigns.dial_preview("anna", first)
    assert "+31201000004" == server.campaigns.preview("bert").number
    assert [("+31201000001", "answered"), ("+31201000002", "do-not-call"), ("+31201000003", "skipped")] == sorted(
        (a[1], a[2]) for a in attempts(server))


def test_preview_is_refused_to_an_agent_of_another_queue(outbound):
    """An agent the campaign's queue does not admit gets no record, with the reason."""
    _app, server, _telephony, _clock = outbound(campaign(mode="preview"))
    server.login("carla")
    server.campaigns.start("green")
    assert server.campaigns.preview("carla") is None
    with pytest.raises(InteractionStateError, match="requirement of queue 'sales'"):
        server.campaigns.preview("carla", "green")


def test_predictive_dialing_keeps_the_abandon_rate_under_the_cap(outbound):
    """Six simulated hours of predictive dialing: abandoned / answered, counted in the event log, stays <= 3%."""
    # Calls ring 4-20 s, a third are answered, talks last 30-300 s; ten agents, 3000 numbers.
    _app, server, telephony, _clock = outbound(campaign("max_pacing = 4.0\nretry = {}", count=3000, mode="predictive")
                                               + AGENTS)
    rng = random.Random(7)
    lines = {"ringing": 0, "beyond free agents": 0}

    def dial(request):  # a telephone network where calls ring for a while
        lines["ringing"] += 1
        free = sum(1 for agent in server.agent_views() if agent.state == "ready")
        lines["beyond free agents"] = max(lines["beyond free agents"], lines["ringing"] - free)
        result = rng.choices(["answered", "no-answer", "busy", "voicemail"], [33, 40, 12, 15])[0]
        server.scheduler.at(server.now() + rng.uniform(4, 20), report, request.interaction, result)

    def report(interaction_id, result):
        lines["ringing"] -= 1
        server.dial_result(interaction_id, result)

    def talk(event):
        if event.kind == "answered" and event.campaign == "green":
            server.scheduler.at(server.now() + rng.uniform(30, 300), server.complete, event.agent, event.interaction,
                                rng.choice(["interested", "not-interested"]))

    telephony.dial = dial
    server.subscribe(talk)
    for n in range(10):
        server.login(f"agent{n}")
    server.campaigns.start("green")
    run_for(server, 6 * 3600)
    server.event_log.flush()
    answered = sum(1 for e in server.event_log.read(kinds=["attempt"]) if e.data["result"] == "answered")
    abandoned = sum(1 for e in server.event_log.read(kinds=["abandoned"]) if e.campaign == "green")
    progress = server.campaigns.progress("green")
    assert (answered, abandoned) == (progress.answered, progress.abandoned)
    assert (True, True, True) == (answered > 500, lines["beyond free agents"] > 0, abandoned > 0)  # it dialed ahead
    assert abandoned <= 0.03 * answered


AGENTS = "".join(f"""
[[services.communication.settings.agents]]
name = "agent{n}"
skills = {{ moves = 1 }}
""" for n in range(10))


def test_an_answered_predictive_call_nobody_takes_is_abandoned_after_two_seconds(outbound):
    """With every agent busy, an answered predictive call is dropped after abandon_after and retried with an agent."""
    _app, server, telephony, _clock = outbound(campaign("auto_answer = false\nretry = { abandoned = 600 }",
                                                        count=1, mode="predictive"))
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.campaigns.start("green")
    assert "offered" == server.agent("anna").state  # auto_answer = false: anna has to accept, and does not
    run_for(server, 2)
    server.event_log.flush()
    assert 1 == sum(1 for e in server.event_log.read(kinds=["abandoned"]) if e.campaign == "green")
    assert "release" in [r for r, _i, _d in telephony.log]
    run_for(server, 600)
    assert [(0, number(1), "answered", 1, None), (602, number(1), "answered", 2, "anna")] == attempts(server)
    assert "busy" == server.agent("anna").state  # the second call was dialed with anna reserved for it


def test_pause_resume_stop_and_the_campaign_events(outbound):
    """Paused, nothing is dialed; resumed, dialing goes on; every change is a 'campaign' event."""
    _app, server, telephony, _clock = outbound(campaign(count=3))
    telephony.dial_results = lambda request: "answered"
    server.login("anna")
    server.campaigns.start("green")
    server.campaigns.pause("green")
    server.complete("anna", server.agent("anna").interactions[0])
    assert 1 == len(attempts(server))
    server.campaigns.resume("green")
    assert 2 == len(attempts(server))
    server.campaigns.stop("green")
    server.complete("anna", server.agent("anna").interactions[0])
    assert 2 == len(attempts(server))
    server.event_log.flush()
    assert ["started", "paused", "resumed", "stopped"] == [
        e.data["state"] for e in server.event_log.read(kinds=["campaign"])]


def test_after_a_restart_attempts_and_do_not_call_numbers_are_remembered(call_centre):
    """A server restarted on the same log keeps retry times, max_attempts and do-not-call numbers added at run time."""
    extra = campaign("max_attempts = 3\nretry = { busy = 600 }", count=3)
    first = call_centre(extra, queues=SALES)
    server = first.services.get("communication")
    first.services.resolve("telephony").dial_results = lambda request: "busy"
    server.login("anna")
    server.campaigns.start("green")
    server.campaigns.add_do_not_call(number(3))
    run_for(server, 601)
    second = call_centre(extra, queues=SALES, folder="app2")
    restarted = second.services.get("communication")
    second.services.resolve("telephony").dial_results = lambda request: "busy"
    progress = restarted.campaigns.progress("green")
    assert ("running", 5, 2) == (progress.state, progress.attempts, progress.remaining)
    restarted.login("anna")
    run_for(restarted, 3600)
    assert [(0, number(1), "busy", 1), (0, number(2), "busy", 1), (0, number(3), "busy", 1),
            (600, number(1), "busy", 2), (600, number(2), "busy", 2), (600, number(3), "do-not-call", 1),
            (1200, number(1), "busy", 3), (1200, number(2), "busy", 3)] == [a[:4] for a in attempts(restarted)]


def test_a_campaign_with_an_unknown_queue_or_script_is_refused(call_centre):
    """The start fails naming the key, with a did-you-mean."""
    with pytest.raises((ConfigError, ServiceStartError)) as caught:
        call_centre("""
            [[services.communication.settings.campaigns]]
            name = "green"
            queue = "sale"
            script = "green-tarif"
            numbers = ["+31201000001"]
        """, queues=SALES, files={"scripts/green.xml": GREEN_SCRIPT})
    message = str(caught.value)
    assert "campaigns.0.queue: no queue 'sale' (did you mean 'sales'?)" in message
    assert "campaigns.0.script: no dialogue script 'green-tarif' (did you mean 'green-tariff'?)" in message


def test_check_campaigns_reports_rates_retries_and_numbers():
    """Bad rates, a misspelt result, a number that is none and a missing call list, each at its key."""
    settings = (
        CampaignSettings("a", "sales", max_abandon_rate=3.0, pacing=0.5, retry={"no_answer": 60},
                         numbers=("12",)),
        CampaignSettings("b", "sales"),
    )
    found = list(check_campaigns(settings, ["sales"], None))
    assert [
        (("campaigns", 0, "retry", "no_answer"),
         "'no_answer' is neither a result nor a result code (did you mean 'no-answer'?)"),
        (("campaigns", 0, "max_abandon_rate"),
         "max_abandon_rate is a fraction from 0 to below 1 (0.03 is 3%), not 3.0"),
        (("campaigns", 0, "pacing"), "pacing is 1 line per free agent or more, not 0.5"),
        (("campaigns", 0, "numbers"),
         "'12' is not a phone number (write it in E.164, like +31201234567, or set country for national numbers)"),
        (("campaigns", 1), "campaign 'b' has no call list: give a segment, numbers or a call_list service"),
    ] == found


def test_numbers_are_normalised_to_e164():
    """National numbers with a country code, spaces and tel: URIs all become E.164; nonsense is None."""
    assert ["+31201234567", "+31201234567", "+31201234567", None] == [
        normalise_number("020 123 4567", "31"), normalise_number("tel:+31 20 123 4567"),
        normalise_number("+31201234567"), normalise_number("not a number", "31")]


def test_caruso_check_reports_a_campaign_problem_at_its_line(tmp_path):
    """`caruso check` finds a misspelt queue and a missing do-not-call file without starting anything."""
    from caruso.testing import make_app, run_cli

    descriptor = f"""
[application]
name = "Campaign check"

[storage]
url = "sqlite:///{tmp_path / 'crm.db'}"

[services.communication.settings]
skills = ["moves", "billing"]
{SALES}
[[services.communication.settings.campaigns]]
name = "green"
queue = "sale"
numbers = ["+31201000001"]
do_not_call_file = "dnc.txt"
"""
    make_app(tmp_path / "app", descriptor)
    result = run_cli("check", str(tmp_path / "app"))
    assert 1 == result.exit_code
    lines = result.output.splitlines()
    queue_line = descriptor.splitlines().index('queue = "sale"') + 1
    assert any(f"caruso.toml:{queue_line}:" in line and "no queue 'sale' (did you mean 'sales'?)" in line
               for line in lines), result.output
    assert "the do-not-call file" in result.output and "dnc.txt' does not exist" in result.output
    assert not (tmp_path / "crm.db").exists()
