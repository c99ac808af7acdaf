"""The retail-bank vertical template (examples/banking) as a running application.

Every test copies the template to a temporary folder first - nothing is written into the
repository - and gives the core-banking stand-in a free port through CORE_BANKING_URL.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from caruso import Application
from caruso.demo.templates import demo_module
from caruso.plugins import import_from_folders
from caruso.testing import run_cli
from tests.web.conftest import Client

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "banking"
LEFT_OUT = shutil.ignore_patterns("*.db", "*.db-journal", "__pycache__", ".caruso", "feeds")


def free_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def bank(tmp_path, monkeypatch):
    """A factory: ``bank(manual_clock=False, standin=True)`` -> a started copy of the template
    (tables created), stopped at the end of the test."""
    started = []

    def make(*, manual_clock: bool = False, standin: bool = True) -> Application:
        folder = tmp_path / f"banking{len(started)}"
        shutil.copytree(TEMPLATE, folder, ignore=LEFT_OUT)
        descriptor = folder / "caruso.toml"
        text = descriptor.read_text(encoding="utf-8")
        if manual_clock:
            text = text.replace("due_every = 60", "due_every = 0")
            text = text.replace('default_queue = "reception"', 'default_queue = "reception"\nreal_time = false')
            text += '\n[services.clock]\nimplementation = "caruso.clock:ManualClock"\n'
        if not standin:
            text = text.replace("[services.core-banking-standin]\n", "[services.core-banking-standin]\nenabled = false\n")
        descriptor.write_text(text, encoding="utf-8")
        monkeypatch.setenv("CORE_BANKING_URL", free_url())
        app = Application.from_folder(folder)
        app.start()
        started.append(app)
        app.services.get("storage").upgrade()
        return app

    yield make
    for app in reversed(started):
        app.stop()


def generate(app: Application, customers: int) -> dict[str, int]:
    return demo_module(app.config.root).generate(app, customers=customers, seed=7)


def positions_module(app: Application):
    """The template's banking_positions module (its legacy/ folder is a plugin folder)."""
    return import_from_folders("banking_positions", [Path(app.config.root) / "legacy"])


def count(app: Application, name: str, *criteria) -> int:
    bom = app.services.get("bom")
    cls = bom.model[name]
    with bom.session() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(cls).where(*criteria))


def a_card_holder(app: Application) -> tuple[dict, dict]:
    """A person with a date of birth and an active card: (customer, card) as attribute values."""
    bom = app.services.get("bom")
    Card, Customer = bom.model.Card, bom.model.Customer
    with bom.session() as session:
        card = session.scalars(Card.select(Card.status == "active").join(Customer, Card.customer_id == Customer.id)
                               .where(Customer.date_of_birth.is_not(None)).order_by(Card.id)).first()
        return Customer.get(session, card.customer_id).to_dict(), card.to_dict()


def test_the_template_passes_caruso_check(tmp_path):
    """`caruso check` finds nothing in the descriptor, models, scripts, views, rules and reports."""
    folder = tmp_path / "banking"
    shutil.copytree(TEMPLATE, folder, ignore=LEFT_OUT)
    result = run_cli("check", str(folder))
    assert 0 == result.exit_code, result.output
    assert "ok" in result.output


def test_the_generator_fills_200_customers_with_consistent_counts(bank):
    """Every object the generator reports is in the database in that number, with a progress report
    that ends at the total, and the positions feed holds one record per account."""
    app = bank()
    seen = []
    written = demo_module(app.config.root).generate(app, customers=200, seed=3,
                                                    progress=lambda done, total: seen.append((done, total)))
    assert 200 == written["Customer"]
    for name in ("Customer", "Address", "Contact", "Account", "Card", "Loan", "IdentityCheck"):
        assert written[name] == count(app, name), name
    assert written["Account"] >= 200 and written["Card"] >= 200
    assert (200, 200) == seen[-1] and (0, 200) == seen[0]
    feed = next((Path(app.config.root) / "feeds").glob("POS*.DAT"))
    parsed = app.services.get("core-banking").read_positions(feed)
    assert () == parsed.problems
    assert written["Account"] == written["feed records"] == len(parsed.positions)


def test_a_lost_card_is_blocked_in_core_banking_after_verification(bank):
    """Date of birth and the last four digits match: the card is blocked at the stand-in and in
    the CRM, and the passed check is recorded."""
    app = bank()
    generate(app, 30)
    customer, card = a_card_holder(app)
    scripts = app.services.get("scripts")
    view = scripts.start_session("block-lost-card", customer=customer["id"], channel="voice",
                                 context={"agent": "anouk"})
    for answer in ("lost", customer["date_of_birth"].isoformat(), card["last4"]):
        view = scripts.answer(view.session_id, answer)
    assert "verified" == view.step
    view = scripts.answer(view.session_id, None)
    view = scripts.answer(view.session_id, "yes")
    assert ("ended", "resolved") == (view.status, view.outcome), view.error
    book = app.services.get("core-banking-standin").book
    assert "B" == book.cards[card["reference"]]["STATUS"]
    assert "LOST" == book.cards[card["reference"]]["REASON"]
    bom = app.services.get("bom")
    with bom.session() as session:
        blocked = bom.model.Card.get(session, card["id"])
        assert ("blocked", book.cards[card["reference"]]["BLOCKNO"]) == (blocked.status, blocked.block_reference)
    IdentityCheck = bom.model.IdentityCheck
    assert 1 == count(app, "IdentityCheck", IdentityCheck.customer_id == customer["id"],
                      IdentityCheck.result == "passed", IdentityCheck.purpose == "block-lost-card")


def test_a_failed_verification_blocks_nothing_and_is_recorded(bank):
    """A wrong date of birth ends the dialogue unverified: no call reaches the core, the card stays
    active, the failure is recorded; three failures in a day raise a fraud alert."""
    app = bank()
    generate(app, 30)
    customer, card = a_card_holder(app)
    scripts = app.services.get("scripts")
    wrong = (customer["date_of_birth"] - dt.timedelta(days=1)).isoformat()
    for attempt in range(3):
        view = scripts.start_session("block-lost-card", customer=customer["id"], channel="voice")
        for answer in ("stolen", wrong, card["last4"]):
            view = scripts.answer(view.session_id, answer)
        assert ("ended", "not-verified") == (view.status, view.outcome)
    # answers handed in from elsewhere (known=) are not a verification either
    view = scripts.start_session("block-lost-card", customer=customer["id"], channel="voice",
                                 known={"date_of_birth": customer["date_of_birth"], "card_digits": card["last4"]})
    view = scripts.answer(view.session_id, "lost")
    assert ("ended", "not-verified") == (view.status, view.outcome)
    server = app.services.get("core-banking-standin").server
    assert 0 == server.calls["card.block"]
    assert card["reference"] not in server.book.cards
    bom = app.services.get("bom")
    Card, IdentityCheck, FraudAlert = bom.model.Card, bom.model.IdentityCheck, bom.model.FraudAlert
    assert 0 == count(app, "Card", Card.id == card["id"], Card.status == "blocked")
    assert 4 == count(app, "IdentityCheck", IdentityCheck.customer_id == customer["id"],
                      IdentityCheck.result == "failed")
    assert 1 == count(app, "FraudAlert", FraudAlert.customer_id == customer["id"], FraudAlert.source == "identity")


def test_a_fraud_suspicion_escalates_to_the_fraud_back_office_after_its_sla(bank):
    """The rule opens an urgent fraud request with the fraud SLA (15 minutes); when it runs out on
    the manual clock the request goes to the fraud queue with the back office's 4 hours."""
    app = bank(manual_clock=True)
    generate(app, 10)
    bom, clock, rules = app.services.get("bom"), app.services.get("clock"), app.services.get("rules")
    model = bom.model
    with bom.unit_of_work(user="fraud-detector") as session:
        alert = model.FraudAlert(customer_id=3, source="core-banking", score=85,
                                 reason="card used in two countries within an hour", detected=clock.now())
        session.add(alert)
        session.flush()
        alert_id = alert.id
    with bom.session() as session:
        alert = model.FraudAlert.get(session, alert_id)
        request = model.ServiceRequest.get(session, alert.request_id)
        assert ("investigating", "fraud", "urgent", 0) == (alert.status, request.category, request.priority,
                                                           request.level)
        assert dt.timedelta(seconds=900) == request.due - request.opened
        key = request.id
    clock.advance(899)
    rules.run_due()
    with bom.session() as session:
        assert ("open", 0) == (model.ServiceRequest.get(session, key).status, model.ServiceRequest.get(session, key).level)
    clock.advance(2)
    rules.run_due()
    with bom.session() as session:
        request = model.ServiceRequest.get(session, key)
        assert ("escalated", 1, "fraud") == (request.status, request.level, request.queue)
        assert dt.timedelta(seconds=14_400) == request.due - clock.now()
        escalations = [(e.level, e.queue, e.status) for e in session.scalars(request.select_related("escalations"))]
    assert [(1, "fraud", "done")] == escalations
    waiting = app.services.get("communication").waiting("fraud")
    assert 1 == len(waiting)
    assert f"[SR-{key}]" in waiting[0].subject
    # a complaint keeps the plugin's levels: the back office is the complaints queue
    complaint = app.services.get("service-desk").open("Fees too high", customer=3, kind="complaint", category="fees")
    clock.advance(181)
    rules.run_due()
    with bom.session() as session:
        assert "complaints" == model.ServiceRequest.get(session, complaint).queue


def test_a_malformed_fixed_width_record_is_refused_with_its_line_number(bank, tmp_path):
    """A record with letters in its amount and a short record are refused, each with its line; the
    good records of the file still update their accounts."""
    app = bank()
    generate(app, 5)
    bom = app.services.get("bom")
    with bom.session() as session:
        numbers = session.scalars(sa.select(bom.model.Account.number).order_by(bom.model.Account.id).limit(3)).all()
    positions = positions_module(app)
    path = tmp_path / "POS20260104.DAT"
    positions.write_positions(path, dt.date(2026, 1, 4), [
        {"account": number, "balance": Decimal("100.00") * (i + 1), "available": Decimal("50.00")}
        for i, number in enumerate(numbers)])
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2][:45] + b"12X4" + lines[2][49:]   # line 3: a letter in the balance
    lines[3] = lines[3][:70]                              # line 4: cut short
    path.write_bytes(b"\n".join(lines))
    core = app.services.get("core-banking")
    found = core.read_positions(path)
    problems = {problem.line: problem.message for problem in found.problems}
    assert {3, 4} <= set(problems)
    assert "field 'balance'" in problems[3] and "is not 15 digits" in problems[3]
    assert "80 characters long, this one has 70" in problems[4]
    assert str(path) + ":3: column 40" in str(found.problems[0])
    imported = core.import_positions(path)
    assert (1, (3, 4)) == (imported.updated, tuple(p.line for p in imported.refused if p.line in (3, 4)))
    with bom.session() as session:
        first = session.scalars(bom.model.Account.select(number=numbers[0])).one()
        assert (Decimal("100.00"), dt.date(2026, 1, 4)) == (first.balance, first.positions_date)


def test_with_core_banking_down_health_says_so_and_the_360_view_still_renders(bank):
    """The stand-in is not running: the wrapper's health is down with "core banking unreachable",
    a card cannot be blocked (the dialogue escalates instead), and an agent still opens the
    customer's 360-degree view with accounts and cards."""
    app = bank(standin=False)
    generate(app, 10)
    health = app.services.get("core-banking").health()
    assert "down" == health.status
    assert health.detail.startswith("core banking unreachable")
    customer, card = a_card_holder(app)
    scripts = app.services.get("scripts")
    view = scripts.start_session("block-lost-card", customer=customer["id"], channel="voice")
    for answer in ("lost", customer["date_of_birth"].isoformat(), card["last4"], None, "yes"):
        view = scripts.answer(view.session_id, answer)
    assert "core-down" == view.step and "core banking" in view.prompt
    assert "escalate" == view.requests[-1]["kind"] and "cards" == view.requests[-1]["queue"]
    web = app.services.get("web")
    web.users.add("anouk", "anouk-password", roles=["agent"], agent="anouk")
    client = Client(web.asgi)
    try:
        client.login("anouk", "anouk-password")
        page = client.page(f"/v/customer-360/{customer['id']}")
        assert 200 == page.status_code
        assert customer["name"] in page.text or customer["name"].replace("'", "&#39;") in page.text
        assert card["reference"] in page.text
    finally:
        client.http.close()


def test_loan_enquiry_complaint_and_address_change_run_against_the_core(bank):
    """The loan quote comes from the core and an interested customer becomes a hot lead; a complaint
    opens a service request of kind complaint; a verified address change reaches the core and the CRM."""
    app = bank()
    generate(app, 30)
    customer, card = a_card_holder(app)
    scripts, bom = app.services.get("scripts"), app.services.get("bom")
    model = bom.model

    view = scripts.start_session("loan-enquiry", customer=customer["id"], channel="voice")
    for answer in ("car", 15000, 48):
        view = scripts.answer(view.session_id, answer)
    assert "quote" == view.step and "6.450%" in view.prompt
    view = scripts.answer(view.session_id, None)
    view = scripts.answer(view.session_id, "yes")
    assert "lead" == view.outcome
    assert 1 == count(app, "Lead", model.Lead.customer_id == customer["id"], model.Lead.rating == "hot")

    view = scripts.start_session("complaint", customer=customer["id"], channel="voice")
    for answer in ("fees", "Charged twice for the same transfer", "yes"):
        view = scripts.answer(view.session_id, answer)
    assert "request-opened" == view.outcome
    ServiceRequest = model.ServiceRequest
    assert 1 == count(app, "ServiceRequest", ServiceRequest.customer_id == customer["id"],
                      ServiceRequest.kind == "complaint", ServiceRequest.priority == "high")

    view = scripts.start_session("change-address", customer=customer["id"], channel="voice")
    for answer in (customer["date_of_birth"].isoformat(), card["last4"], None, "Nieuwe Gracht 12", "3512 lx",
                   "Utrecht", "yes"):
        view = scripts.answer(view.session_id, answer)
    assert ("ended", "resolved") == (view.status, view.outcome), view.error
    book = app.services.get("core-banking-standin").book
    assert {"STREET": "Nieuwe Gracht 12", "POSTCODE": "3512 LX", "CITY": "Utrecht"}.items() \
        <= book.addresses[customer["core_id"]].items()
    with bom.session() as session:
        home = session.scalars(model.Address.select(customer_id=customer["id"], kind="home")).one()
        assert ("Nieuwe Gracht 12", "3512 LX") == (home.street, home.postcode)


def test_a_truncated_positions_file_is_refused_whole(bank, tmp_path):
    """A file whose trailer is missing (a transfer broken off) applies nothing."""
    app = bank()
    generate(app, 3)
    positions = positions_module(app)
    path = tmp_path / "POS20260104.DAT"
    bom = app.services.get("bom")
    with bom.session() as session:
        numbers = session.scalars(sa.select(bom.model.Account.number)).all()
    positions.write_positions(path, dt.date(2026, 1, 4), [
        {"account": number, "balance": Decimal("1.00"), "available": Decimal("1.00")} for number in numbers])
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:-2]) + b"\n")
    imported = app.services.get("core-banking").import_positions(path)
    assert 0 == imported.updated
    assert any("no trailer" in problem.message for problem in imported.refused)



def test_a_customer_sees_only_their_own_accounts(bank):
    """The customer role's record rules: their own accounts are listed, another customer's account
    answers 404 as if it did not exist."""
    app = bank()
    generate(app, 5)
    bom = app.services.get("bom")
    Account = bom.model.Account
    with bom.session() as session:
        own = session.scalars(Account.select(customer_id=1)).all()
        other = session.scalars(Account.select(Account.customer_id != 1)).first()
        own_numbers, other_number, other_id = [a.number for a in own], other.number, other.id
    web = app.services.get("web")
    web.users.add("klant", "klant-password", roles=["customer"], customer=1)
    client = Client(web.asgi)
    try:
        client.login("klant", "klant-password")
        listed = client.page("/v/account-list")
        assert 200 == listed.status_code
        assert all(number in listed.text for number in own_numbers)
        assert other_number not in listed.text
        assert 404 == client.page(f"/v/account-detail/{other_id}").status_code
    finally:
        client.http.close()


def test_the_phone_menu_puts_a_caller_through_to_the_card_desk(bank):
    """A voice call to reception is answered by the IVR script; key 1 transfers it to the cards queue."""
    app = bank(manual_clock=True)  # Monday 09:00 in Amsterdam: reception is open
    comm = app.services.get("communication")
    call = comm.offer("voice", queue="reception", address="+31201234567")
    assert "ivr" == call.state
    ended = comm.dtmf(call.id, "1")
    assert ("ended", "transferred") == (ended.status, ended.outcome)
    after = comm.interaction(call.id)
    assert ("waiting", "cards") == (after.state, after.queue)
    assert {"menu": "cards"} == after.data["ivr"]["answers"]
