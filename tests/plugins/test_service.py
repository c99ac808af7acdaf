"""The service plugin in a real application: SLA deadlines on the injected clock, escalation, alarms, the FAQ."""

from __future__ import annotations

import datetime as dt

import pytest

from caruso.errors import DependencyError, ValidationError
from caruso.testing import make_app

DESCRIPTOR = """
[application]
name = "Service"

[plugins]
enabled = ["customers", "rules", "service"]

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.rules.settings]
due_every = 0

[services.service-desk.settings]
front_office = 180

[[services.service-desk.settings.levels]]
name = "back office"
queue = "backoffice"
target = 86400

[[services.service-desk.settings.levels]]
name = "supervisor"
queue = "{second_queue}"
target = 3600

[services.communication.settings]
skills = ["service"]
real_time = false

[[services.communication.settings.queues]]
name = "backoffice"
requires = "skills HAS 'service'"

[[services.communication.settings.queues]]
name = "supervisors"
requires = "skills HAS 'service'"
"""


@pytest.fixture
def desk(tmp_path):
    """A factory: ``desk(second_queue="supervisors")`` -> (app, service desk, rules, clock), started."""
    started = []

    def make(second_queue: str = "supervisors", url: str | None = None):
        url = url or f"sqlite:///{tmp_path / f'crm{len(started)}.db'}"
        app = make_app(tmp_path / f"app{len(started)}", DESCRIPTOR.format(url=url, second_queue=second_queue))
        app.start()
        started.append(app)
        app.services.get("storage").upgrade()
        services = app.services
        return app, services.get("service-desk"), services.get("rules"), services.get("clock")

    yield make
    for app in reversed(started):
        app.stop()


def request_state(app, key) -> tuple:
    bom = app.services.get("bom")
    with bom.session() as session:
        request = bom.model.ServiceRequest.get(session, key)
        return request.status, request.level, request.queue


def escalations(app, key) -> list[tuple]:
    bom = app.services.get("bom")
    with bom.session() as session:
        request = bom.model.ServiceRequest.get(session, key)
        return [(e.level, e.queue, e.status) for e in session.scalars(request.select_related("escalations"))]


def test_a_request_not_solved_in_three_minutes_climbs_the_levels_on_a_simulated_day(desk):
    """Front office 180 s, back office 24 h, supervisor 1 h, then an alarm: each step at its deadline, once."""
    app, service_desk, rules, clock = desk()
    key = service_desk.open("The meter shows nonsense", priority="high")
    clock.advance(179)
    assert 0 == rules.run_due()
    clock.advance(2)
    assert 1 == rules.run_due()
    assert ("escalated", 1, "backoffice") == request_state(app, key)
    server = app.services.get("communication")
    [work] = server.waiting("backoffice")
    assert ("callback", "[SR-1] The meter shows nonsense", key) == (work.channel, work.subject, work.data["service_request"])
    clock.advance(86_400)
    assert 1 == rules.run_due()
    assert ("escalated", 2, "supervisors") == request_state(app, key)
    clock.advance(3_601)
    assert 1 == rules.run_due()
    assert 0 == rules.run_due()
    assert [(1, "backoffice", "done"), (2, "supervisors", "done"), (3, None, "failed")] == escalations(app, key)
    [alarm] = service_desk.alarms()
    assert "no escalation level above 2" in alarm["reason"]
    assert [key] == [r["id"] for r in service_desk.overdue()]  # still open and overdue: nothing dropped


def test_a_request_solved_in_time_does_not_escalate(desk):
    """Resolved within the front office's target: the deadline is gone and the timer finds nothing."""
    app, service_desk, rules, clock = desk()
    key = service_desk.open("Change my bank account")
    clock.advance(60)
    service_desk.resolve(key, "changed at once")
    clock.advance(3600)
    assert 0 == rules.run_due()
    assert ("resolved", 0, None) == request_state(app, key)
    assert [] == escalations(app, key)


def test_a_request_saved_outside_the_desk_gets_the_front_office_deadline_and_escalates(desk):
    """A request made by a form or the API (a plain save) is due like one the desk opened."""
    app, service_desk, rules, clock = desk()
    bom = app.services.get("bom")
    with bom.unit_of_work() as session:
        request = bom.model.ServiceRequest(subject="Saved by a form")
        session.add(request)
        session.flush()
        key = request.id
    with bom.session() as session:
        saved = bom.model.ServiceRequest.get(session, key)
        assert 180 == (saved.due - saved.opened).total_seconds()
    clock.advance(181)
    assert 1 == rules.run_due()
    assert ("escalated", 1, "backoffice") == request_state(app, key)


def test_an_escalation_target_that_does_not_exist_raises_an_alarm_and_keeps_the_request(desk):
    """The second level names a queue the server lacks: a failed escalation names it; the request waits, overdue."""
    app, service_desk, rules, clock = desk(second_queue="supervisers")
    key = service_desk.open("Complaint about the bill", kind="complaint")
    clock.advance(181)
    rules.run_due()
    clock.advance(86_401)
    rules.run_due()
    assert ("escalated", 1, "backoffice") == request_state(app, key)
    [alarm] = service_desk.alarms()
    assert (2, "failed") == (alarm["level"], alarm["status"])
    assert "no queue 'supervisers' (did you mean 'supervisors'?)" in alarm["reason"]
    assert [key] == [r["id"] for r in service_desk.overdue()]


def test_an_unknown_request_is_refused(desk):
    """Resolving a request that does not exist names it."""
    _app, service_desk, _rules, _clock = desk()
    with pytest.raises(ValidationError) as caught:
        service_desk.resolve(42, "done")
    assert "no service request 42" in str(caught.value)


def test_a_question_the_faq_cannot_answer_becomes_a_request_and_its_answer_is_published(desk):
    """No match: a 'question' request; the agent's answer is published; the next customer finds it."""
    app, _service_desk, _rules, _clock = desk()
    knowledge = app.services.get("knowledge")
    asked = knowledge.ask("How do I read my smart meter?")
    assert () == asked.matches and asked.request is not None
    assert ("open", 0, None) == request_state(app, asked.request)
    faq = knowledge.publish(asked.request, "Press the button twice; the display shows the reading.")
    found = knowledge.ask("reading the meter display")
    assert [faq] == [match["id"] for match in found.matches] and found.request is None
    assert ("resolved", 0, None) == request_state(app, asked.request)
    assert [] == knowledge.search("100%") == knowledge.search("?!")


def test_the_service_plugin_without_the_rules_plugin_is_refused(tmp_path):
    """Its SLA timers are a rule: enabled alone, the application names the missing service."""
    descriptor = DESCRIPTOR.format(url=f"sqlite:///{tmp_path / 'crm.db'}", second_queue="supervisors")
    descriptor = descriptor.replace('"customers", "rules", "service"', '"customers", "service"')
    descriptor = descriptor.replace("[services.rules.settings]\ndue_every = 0\n", "")
    app = make_app(tmp_path / "app", descriptor)
    with pytest.raises(DependencyError) as caught:
        app.start()
    assert "rules" in str(caught.value)


def test_the_service_sla_report_counts_requests_by_category_on_every_backend(desk, database_url):
    """Hand-computed: billing 2 opened (1 solved at once, 1 escalated), technical 1 open; one day."""
    app, service_desk, rules, clock = desk(url=database_url)
    day = clock.now()
    quick = service_desk.open("Wrong address on the bill", category="billing")
    service_desk.open("Bill too high", category="billing", kind="complaint")
    service_desk.open("No power", category="technical")
    service_desk.resolve(quick, "corrected")
    clock.advance(181)
    rules.run_due()  # both open ones escalate
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    result = app.services.get("reports").run("service-sla", start, start + dt.timedelta(days=1), "day")
    assert [(("billing",), 2, 1, 1, 1, 0.5), (("technical",), 1, 0, 1, 0, 0.0)] == [
        (row.dimensions, *(row.values[m] for m in ("opened", "resolved", "escalated", "handled_at_once",
                                                   "front_office_rate"))) for row in result.rows]


def test_the_report_a_problem_script_opens_a_request_in_self_service(desk):
    """The plugin's dialogue script: a customer's answers become a request with the front office's deadline."""
    app, _service_desk, rules, clock = desk()
    scripts = app.services.get("scripts")
    view = scripts.start_session("report-a-problem", mode="self-service", context={"channel": "web"})
    scripts.answer(view.session_id, "technical")
    scripts.answer(view.session_id, "The heating makes a noise")
    ended = scripts.answer(view.session_id, False)
    assert "Thank you. Your request number is SR-1; we will come back to you." == ended.prompt
    assert ("open", 0, None) == request_state(app, 1)
    clock.advance(181)
    assert 1 == rules.run_due()
