"""The live monitor in a running application: the snapshot, the push stream, restarts, KPI alerts.

Time is virtual: the communication server's scheduler moves the ManualClock
(``run_until``), and the alert rules are evaluated on its timers, as in production
on the real clock.
"""

from __future__ import annotations

import textwrap

import pytest

from caruso.errors import ConfigError, ServiceStartError
from caruso.testing import make_app
from tests.communication.conftest import BASE, QUEUES


@pytest.fixture
def centre(tmp_path):
    """A factory: ``centre(extra_toml)`` -> (app, server, monitor), started; stopped at the end."""
    started = []

    def make(extra: str = "", *, folder: str = "app"):
        descriptor = BASE.format(url=f"sqlite:///{tmp_path / 'crm.db'}") + QUEUES + textwrap.dedent(extra)
        app = make_app(tmp_path / folder, descriptor).start()
        started.append(app)
        return app, app.services.get("communication"), app.services.get("monitor")

    yield make
    for app in reversed(started):
        app.stop()


def _run(server, seconds: float) -> None:
    server.scheduler.run_until(server.now() + seconds)


def test_snapshot_agents_queues_and_todays_service_level(centre):
    """anna takes c1 after 5 s; c2 waits. 30 s later: anna busy for 30 s, billing has 1 waiting for 35 s,
    today 2 offered, 1 answered within 20 s -> SL 100%. c2 hangs up after 35 s: abandoned, SL 1/2."""
    _app, server, monitor = centre()
    server.login("anna")
    c1 = server.offer("voice", queue="billing")
    c2 = server.offer("voice", queue="billing")
    _run(server, 5)
    server.accept("anna", c1.id)
    _run(server, 30)
    snapshot = monitor.snapshot()
    assert {"busy": 1, "logged-out": 2} == snapshot.agents_by_state
    assert [("anna", "busy", 30.0, 1), ("bert", "logged-out", 0, 0), ("carla", "logged-out", 0, 0)] == [
        (a.name, a.state, a.in_state if a.state != "logged-out" else 0, a.contacts) for a in snapshot.agents]
    billing = snapshot.queues[0]
    assert ("billing", 1, 35.0, 2, 1, 0, 1.0) == (billing.name, billing.waiting, billing.longest_wait,
                                                    billing.offered_today, billing.answered_today,
                                                    billing.abandoned_today, billing.service_level_today)
    server.hangup(c2.id)
    billing = monitor.snapshot().queues[0]
    assert (0, 0.0, 1, 0.5) == (billing.waiting, billing.longest_wait, billing.abandoned_today,
                                billing.service_level_today)


def test_the_snapshot_agrees_with_the_server(centre):
    """Agent states and waiting counts folded from the events equal the server's own views."""
    _app, server, monitor = centre()
    for name in ("anna", "bert", "carla"):
        server.login(name)
    server.set_away("carla", "training")
    calls = [server.offer("voice", queue=q) for q in ("billing", "billing", "technical", "billing")]
    server.accept("anna", calls[0].id)
    _run(server, 3)
    snapshot = monitor.snapshot()
    assert {a.name: a.state for a in server.agent_views()} == {a.name: a.state for a in snapshot.agents}
    assert {q.name: q.waiting for q in server.queue_status()} == {q.name: q.waiting for q in snapshot.queues}
    assert "training" == next(a.reason for a in snapshot.agents if a.name == "carla")


def test_changes_are_pushed(centre):
    """A subscriber receives every folded event as a change; closing stops them."""
    _app, server, monitor = centre()
    seen = []
    close = monitor.subscribe(seen.append)
    server.login("anna")
    server.offer("voice", queue="billing")
    close()
    server.logout("anna", force=True)
    assert [("event", "agent"), ("event", "offered"), ("event", "queued"), ("event", "routed")] == [
        (change.kind, change.data.kind) for change in seen]


def test_after_a_restart_the_monitor_reads_the_log(centre):
    """A second application on the same database (its clock starts where the first one's did): the
    contacts still waiting are back in the snapshot, waiting since they first queued at 60 s, and the
    agents are logged out (as the server's recovery does)."""
    _app, server, _monitor = centre()
    server.login("anna")
    server.set_away("anna", "lunch")
    _run(server, 60)
    server.offer("voice", queue="technical")
    server.offer("voice", queue="technical")
    server.event_log.flush()
    _second, again, monitor = centre(folder="second")
    _run(again, 100)
    technical = next(q for q in monitor.snapshot().queues if q.name == "technical")
    assert (2, 40.0) == (technical.waiting, technical.longest_wait)
    assert "logged-out" == next(a.state for a in monitor.snapshot().agents if a.name == "anna")


AWAY_RULE = """
[services.monitor.settings]
evaluate_every = 5

[[services.monitor.settings.alerts]]
name = "long-break"
kpi = "away_time"
above = 1800
"""


def test_an_alert_fires_once_and_again_when_it_clears(centre):
    """anna away for more than 30 minutes: one alarm (on the monitor and in the stream), none more while
    it lasts; she is back: cleared once. Rules run every 5 s from the start: at 1800 s she has been away
    exactly 1800 s (not above), at 1805 s the alarm is raised."""
    _app, server, monitor = centre(AWAY_RULE)
    changes = []
    monitor.subscribe(lambda change: changes.append(change) if change.kind.startswith("alarm") else None)
    server.login("anna")
    server.login("bert")
    server.set_away("anna", "lunch")
    _run(server, 1795)
    assert () == monitor.snapshot().alarms
    _run(server, 10)
    (alarm,) = monitor.snapshot().alarms
    assert ("long-break", "anna", "long-break: away_time of anna is 1805 s, above 1800 s") == (
        alarm.rule, alarm.subject, alarm.message)
    _run(server, 600)
    server.set_ready("anna")
    _run(server, 6)
    assert ([("alarm-raised", "anna"), ("alarm-cleared", "anna")], ()) == (
        [(c.kind, c.data.subject) for c in changes], monitor.snapshot().alarms)


def test_service_level_over_a_window_and_waiting_per_queue(centre):
    """c1 waits 30 s for anna to log in (late), c2 is answered at once: 1 of 2 in target over the last 15 minutes, below 80%.
    Three contacts waiting in technical (nobody for it) break 'more than 2 waiting' for that queue only.
    After 15 minutes without contacts the window is empty and the service-level alarm clears."""
    rules = """
    [[services.monitor.settings.alerts]]
    name = "billing-sl"
    kpi = "service_level"
    queue = "billing"
    below = 0.8
    window = 900
    minimum = 2

    [[services.monitor.settings.alerts]]
    name = "queue-full"
    kpi = "waiting"
    queue = "*"
    above = 2
    """
    _app, server, monitor = centre(rules)
    c1 = server.offer("voice", queue="billing")
    _run(server, 30)
    server.login("anna")
    server.accept("anna", c1.id)
    server.hangup(c1.id, by="agent")
    c2 = server.offer("voice", queue="billing")
    server.accept("anna", c2.id)
    waiting = [server.offer("email", queue="technical") for _ in range(3)]
    _run(server, 5)
    assert [("billing-sl", "billing", 0.5), ("queue-full", "technical", 3.0)] == sorted(
        (a.rule, a.subject, a.value) for a in monitor.alarms)
    server.hangup(waiting[0].id)
    _run(server, 900)
    assert [] == monitor.alarms


def test_an_alert_for_a_channel_that_is_not_there_stops_the_monitor(centre):
    """channels = ["email"] without an e-mail service: the monitor refuses to start, naming the service,
    the rule and the descriptor line."""
    rules = """
    [services.email]
    enabled = false

    [[services.monitor.settings.alerts]]
    name = "queue-full"
    kpi = "waiting"
    above = 10
    channels = ["monitor", "email"]
    email = ["supervisor@example.com"]
    """
    with pytest.raises(ServiceStartError) as caught:
        centre(rules)
    cause = caught.value.__cause__
    assert isinstance(cause, ConfigError)
    (problem,) = cause.problems
    assert problem.message == (
        "services.monitor.settings.alerts[0].channels: alert 'queue-full' is to go out by email, but no "
        "service 'email' is registered; enable the email channel ([services.email]) or remove 'email' "
        "from channels")
    lines = open(problem.file, encoding="utf-8").read().splitlines()
    assert 'channels = ["monitor", "email"]' == lines[problem.line - 1]


def test_caruso_check_reports_the_alert_rules(tmp_path):
    """The same findings from `caruso check`, without starting anything: an unknown queue with a
    did-you-mean and an unknown channel."""
    from caruso.testing import run_cli

    rules = """
    [[services.monitor.settings.alerts]]
    name = "billing-sl"
    kpi = "service_level"
    queue = "biling"
    below = 0.8
    channels = ["monitor", "pager"]
    """
    make_app(tmp_path / "app", BASE.format(url=f"sqlite:///{tmp_path / 'crm.db'}") + QUEUES + textwrap.dedent(rules))
    result = run_cli("check", str(tmp_path / "app"))
    lines = [line.split(": ", 1)[1] for line in result.output.splitlines()]
    assert (1, ["services.monitor.settings.alerts[0].queue: no queue 'biling' (did you mean 'billing'?)",
                "services.monitor.settings.alerts[0].channels: unknown channel 'pager'; known: monitor, email, sms"]) \
        == (result.exit_code, lines)


def test_changes_as_an_async_stream(centre):
    """`async for change in monitor.changes()`: what a web page (server-sent events) reads."""
    import asyncio

    _app, server, monitor = centre()

    async def first_two():
        stream = monitor.changes()
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # the stream subscribes
        server.login("anna")
        server.set_away("anna", "coffee")
        first = await asyncio.wait_for(pending, 5)
        second = await asyncio.wait_for(stream.__anext__(), 5)
        await stream.aclose()
        return [(c.kind, c.data.data["state"]) for c in (first, second)]

    assert [("event", "ready"), ("event", "away")] == asyncio.run(first_two())


def test_a_delivery_that_fails_is_logged_and_the_alarm_stays_on_the_monitor(centre, caplog):
    """The e-mail channel refuses the message (no sender configured): the failure is logged, the monitor's
    health says so, and the alarm is still open in the snapshot."""
    rules = """
    [services.monitor.settings]
    evaluate_every = 1

    [[services.monitor.settings.alerts]]
    name = "queue-full"
    kpi = "waiting"
    above = 0
    channels = ["monitor", "email"]
    email = ["supervisor@example.com"]
    """
    _app, server, monitor = centre(rules)
    server.offer("voice", queue="billing")
    _run(server, 2)
    assert (["queue-full"], "degraded", "1 open alarms; 1 alert deliveries failed") == (
        [a.rule for a in monitor.snapshot().alarms], monitor.health().status, monitor.health().detail)
    assert ["alert 'queue-full': the email channel failed to deliver 'ALERT queue-full (all queues)'"] == [
        r.getMessage() for r in caplog.records if r.name == "caruso.reporting.alerts"]


def test_todays_figures_start_again_at_midnight(centre):
    """Two contacts before midnight, none after: the next morning's snapshot has today's figures at zero
    (and the contact still waiting is still waiting)."""
    _app, server, monitor = centre()
    server.offer("voice", queue="billing")
    server.offer("voice", queue="billing")
    assert 2 == monitor.snapshot().queues[0].offered_today
    _run(server, 86400)
    billing = monitor.snapshot().queues[0]
    assert (0, 2) == (billing.offered_today, billing.waiting)
