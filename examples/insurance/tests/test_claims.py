"""Rollout stage 1 and 2: the claims line and claims in self-service (requirements R2-R5, R9)."""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta

from caruso import Application
from caruso.testing import run_cli

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
WHAT_HAPPENED = "Rear-ended at a traffic light in Utrecht; the boot and bumper are damaged."


def customer_id(objects, number):
    return objects("Customer", number=number)[0]["id"]


def test_an_agent_reports_a_claim_and_the_client_hears_its_number(walk, objects):
    """R2: one call, and the claim is with the insurer before the client hangs up."""
    view = walk("claim-notification", ["c10042", "1981-04-12", "au-100231", "collision", YESTERDAY,
                                       WHAT_HAPPENED, 2450, "yes"], mode="agent", channel="voice")
    assert ("ended", "resolved") == (view.status, view.outcome)
    number = re.search(r"under number (S\d{4}-\d{6})", view.prompt).group(1)
    (claim,) = objects("Claim", number=number)
    expected = {"status": "registered", "policy_number": "AU-100231", "cause": "collision", "channel": "voice",
                "customer_id": customer_id(objects, "C10042")}
    assert expected == {key: claim[key] for key in expected}
    assert claim["insurer_reference"].startswith("NN-")


def test_a_wrong_date_of_birth_goes_to_a_colleague(walk):
    """R2: a caller who is not the policyholder does not report a claim on the policy."""
    view = walk("claim-notification", ["c10042", "1990-01-01", "au-100231"], mode="agent")
    assert ("transferred", ["claims-backoffice"]) == (view.outcome, [r["queue"] for r in view.requests])


def test_a_policy_of_another_client_is_refused(walk):
    view = walk("claim-notification", ["c10077", "1990-01-01", "AU-100231"], mode="agent")
    assert ("transferred", "claim on policy AU-100231 of another client") == (view.outcome, view.requests[0]["reason"])


def test_an_unknown_policy_number_is_asked_again(app):
    """The PAS does not know the number: the client hears so and gives it again."""
    scripts = app.services.get("scripts")
    view = scripts.start_session("claim-notification", mode="agent")
    for answer in (None, "c10042", "1981-04-12", None, "ZZ-999999"):
        view = scripts.answer(view.session_id, answer)
    assert ("unknown-policy", "I cannot find policy ZZ-999999.") == (view.step, view.prompt.split(" Please")[0])
    view = scripts.answer(scripts.answer(view.session_id, None).session_id, "WO-200518")
    assert "policy-found" == view.step


def test_a_large_claim_gets_a_senior_review(walk, objects):
    """R4: above 10,000 euros a senior claims handler reviews the claim."""
    walk("claim-notification", ["c10042", "1981-04-12", "WO-200518", "water", YESTERDAY,
                                "The washing machine leaked into the flat below.", 18500, "yes"], mode="agent")
    titles = [task["title"] for task in objects("Task", assignee="senior-claims-handler")]
    assert ["Review large claim on policy WO-200518: 18500.00 EUR"] == titles


def test_no_claim_is_lost_when_the_pas_is_down(app, objects):
    """R5: the PAS goes down during the call; the claim is kept and the back office gets a task."""
    scripts = app.services.get("scripts")
    view = scripts.start_session("claim-notification", mode="agent", channel="voice")
    for answer in (None, "c10042", "1981-04-12", None, "AU-100231", None, "theft", YESTERDAY,
                   "The car was broken into and the navigation system stolen.", 900):
        view = scripts.answer(view.session_id, answer)
    assert "confirm" == view.step
    pas = app.services.resolve("pas")
    closed = type(pas).Settings(url="http://127.0.0.1:9", timeout=0.5, retries=0)
    app.services.replace("pas", type(pas)(), settings=closed)      # the PAS is unreachable now
    try:
        view = scripts.answer(view.session_id, "yes")
    finally:
        app.services.replace("pas", type(pas)(), settings=pas.settings)   # and back again
    assert ("ended", "resolved") == (view.status, view.outcome)
    assert "passes it on to Nationale-Nederlanden within one working day" in view.prompt
    (claim,) = objects("Claim", description="The car was broken into and the navigation system stolen.")
    (task,) = objects("Task", assignee="claims-backoffice", about=f"Claim {claim['id']}")
    assert ("to-register", f"Register claim {claim['id']} in the PAS by hand") == (claim["status"], task["title"])
    assert claim["pas_message"].startswith("legacy system 'pas', claim.register: ")


def test_a_claim_the_pas_refuses_is_kept_for_the_back_office(walk, objects):
    """R5: the PAS refuses a claim on a lapsed policy; the claim is kept, with the reason."""
    view = walk("claim-notification", ["c10077", "1990-01-01", "RE-400912", "liability", YESTERDAY,
                                       "A customer slipped on the wet floor of the shop.", 4000, "yes"], mode="agent")
    assert ("resolved", True) == (view.outcome, "our claims desk passes it on" in view.prompt)
    (claim,) = objects("Claim", policy_number="RE-400912")
    assert ("to-register", True) == (claim["status"], "did not cover that day" in claim["pas_message"])


def test_a_client_reports_a_claim_on_the_web_and_sees_only_their_own(app, browser, objects):
    """R3 and R9: the same script in self-service, and a client sees only their own records."""
    web = app.services.get("web")
    web.users.add("marieke", "marieke-password", roles=["customer"], customer=customer_id(objects, "C10042"))
    marieke = browser("marieke", "marieke-password")
    marieke.page("/self-service/scripts")
    started = marieke.post("/self-service/scripts/claim-notification")
    assert 303 == started.status_code
    session = started.headers["location"]
    answers = {"policy-number": "AU-100231", "cause": "storm", "occurred": YESTERDAY,
               "description": "A branch fell on the roof of the car during the storm.", "amount": "1200"}
    page = marieke.page(session).text
    while 'data-status="active"' in page:
        step = re.search(r'data-step="([^"]+)"', page).group(1)
        answer = "yes" if step == "confirm" else answers.get(step, "")
        assert 303 == marieke.post(session, {"step": step, "value": answer}).status_code, step
        page = marieke.page(session).text
    assert "Your claim is reported to Nationale-Nederlanden under number" in page
    assert "date of birth" not in page.lower()             # the login identified her
    assert ["storm"] == [c["cause"] for c in objects("Claim", channel="web")]

    claims = marieke.page("/v/claim-list?cause=storm").text
    assert "storm" in claims
    assert 404 == marieke.page("/v/policy-detail/BU-300007").status_code   # the bakery's policy
    assert 200 == marieke.page("/v/policy-detail/AU-100231").status_code


def test_an_insurer_that_does_not_answer_in_five_days_is_chased(fresh_folder):
    """R6: on a manual clock, five days pass without an answer from the insurer."""
    descriptor = fresh_folder / "caruso.toml"
    text = descriptor.read_text(encoding="utf-8").replace('rules = ["rules"]', 'rules = ["rules"]\ndue_every = 0')
    descriptor.write_text(text + '\n[services.clock]\nimplementation = "caruso.clock:ManualClock"\n', encoding="utf-8")
    with Application.from_folder(fresh_folder) as app:
        app.services.get("storage").upgrade()
        portfolio, clock, rules = (app.services.get(name) for name in ("portfolio", "clock", "rules"))
        portfolio.sync_all()
        customer = portfolio.policy("AU-100231")["customer_id"]
        claim = portfolio.report_claim(customer, "AU-100231", clock.now().date() - timedelta(days=1), "theft",
                                       "The bicycle rack was stolen from the car.", 300)
        clock.advance(4 * 86400)
        rules.run_due()
        bom = app.services.get("bom")
        with bom.session() as session:
            assert [] == session.scalars(bom.Task.select(assignee="claims-handler")).all()
        clock.advance(86400 + 60)
        rules.run_due()
        with bom.session() as session:
            titles = [task.title for task in session.scalars(bom.Task.select(assignee="claims-handler"))]
    assert [f"Chase the insurer about claim {claim['number']}"] == titles


def test_a_call_to_the_claims_line_is_in_the_report(app, folder, objects):
    """R1: a call offered, answered and wrapped up on the claims queue shows in claims-line;
    the caller's number identified the client on the way in."""
    comm = app.services.get("communication")
    comm.login("sanne")
    call = comm.offer("voice", queue="claims", address="020 123 4567", external="call-r1")
    assert customer_id(objects, "C10042") == call.customer
    comm.accept("sanne", call.id)
    comm.hangup(call.id, by="customer")
    comm.complete("sanne", call.id, code="claim-reported")
    comm.logout("sanne")
    deadline = time.monotonic() + 10      # the server writes its events every flush_interval (0.2 s)
    while True:
        result = run_cli("report", str(folder), "claims-line", "--from", "today", "--to", "now", "--format", "json")
        totals = json.loads(result.output)["totals"]
        if totals["answered"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (1, 1, 0, 1.0) == (totals["offered"], totals["answered"], totals["abandoned"], totals["service_level"])
