"""The energy and water utility's vertical template (examples/utility) as a running application.

The template is copied to a temporary folder first - nothing is written into the repository -
and its metering stand-in gets a free port. One started copy with 200 generated customers
serves the whole module (starting it and creating the tables is most of the time); the test
that takes the metering system down brings it back at its end.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from caruso import Application
from caruso.testing import run_cli
from tests.web.conftest import Client

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "utility"
LEFT_OUT = shutil.ignore_patterns("*.db", "*.db-journal", "__pycache__", ".caruso")
CUSTOMERS = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_template(target: Path) -> Path:
    """The template in ``target``, its metering stand-in and wrapper moved to a free port."""
    shutil.copytree(TEMPLATE, target, ignore=LEFT_OUT)
    descriptor = target / "caruso.toml"
    port = free_port()
    text = descriptor.read_text(encoding="utf-8")
    assert text.count("8911") == 2, "the stand-in's port and the wrapper's url"
    descriptor.write_text(text.replace("8911", str(port)), encoding="utf-8")
    return target


def load_demo(folder: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("utility_demo_data_under_test", folder / "demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def utility(tmp_path_factory):
    """(app, folder, counts): a started copy of the template with 200 demo customers."""
    folder = copy_template(tmp_path_factory.mktemp("utility") / "utility")
    app = Application.from_folder(folder)
    app.start()
    try:
        app.services.get("storage").upgrade()
        seen = []
        counts = load_demo(folder).generate(app, customers=CUSTOMERS, seed=7,
                                            progress=lambda done, total: seen.append((done, total)))
        yield app, folder, counts, seen
    finally:
        app.stop()


def test_the_template_passes_caruso_check(tmp_path):
    folder = copy_template(tmp_path / "utility")
    result = run_cli("check", str(folder))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    assert Application.from_folder(folder).check() == []


def test_the_generator_fills_200_customers_and_counts_what_it_wrote(utility):
    app, _, counts, seen = utility
    assert seen[0] == (0, CUSTOMERS) and seen[-1] == (CUSTOMERS, CUSTOMERS)
    assert counts["Customer"] == CUSTOMERS
    assert counts["Address"] == CUSTOMERS
    assert CUSTOMERS <= counts["Connection"] <= 3 * CUSTOMERS      # electricity always, gas and water mostly
    assert counts["Meter"] == counts["Connection"] == counts["Contract"]
    assert 3 * counts["Meter"] <= counts["MeterReading"] <= 6 * counts["Meter"]   # three months, one or two registers
    assert counts["Bill"] >= 3 * CUSTOMERS
    bom = app.services.get("bom")
    with bom.session() as session:
        for name, written in counts.items():
            if name == "users":
                continue
            cls = bom.model[name]
            assert session.scalar(sa.select(sa.func.count()).select_from(cls)) >= written, name
        # exactly what was written for the objects no service or stand-in adds rows to
        for name in ("Customer", "Connection", "Meter", "MeterReading", "Contract", "Activity", "Outage"):
            assert session.scalar(sa.select(sa.func.count()).select_from(bom.model[name])) == counts[name], name
        seeded = 4                                                     # the billing stand-in's own bills
        assert session.scalar(sa.select(sa.func.count()).select_from(bom.model["Bill"])) == counts["Bill"] + seeded
        Customer, Connection = bom.model["Customer"], bom.model["Connection"]
        first = session.get(Customer, 100001)
        assert first.number == "100001" and first.phone.startswith("+31")
        assert {c.product for c in first.connections} >= {"electricity"}
        assert all(len(c.ean) == 18 and c.ean.startswith("871") for c in session.scalars(sa.select(Connection)))
        # the CRM's last readings are the metering system's
        metering = app.services.get("metering")
        for connection in first.connections:
            for meter in connection.meters:
                assert meter.last_reading == metering.meter(connection.ean).last.normal, connection.product
        # the billing stand-in's seeded bills belong to the first generated customer
        assert "S2026000004" in {bill.number for bill in first.bills}


def test_the_legacy_billing_tables_keep_their_legacy_names(utility):
    app, *_ = utility
    engine = app.services.get("storage").engine
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert {"KLANT_FACTUUR", "BET_REGELING", "TARIEF"} <= tables
    assert not {"bill", "payment_arrangement", "tariff"} & tables
    columns = {c["name"] for c in inspector.get_columns("KLANT_FACTUUR")}
    assert columns == {"FACT_NR", "KLANTNR", "FACT_DT", "VERVAL_DT", "FCT_BEDRAG", "OPEN_BEDRAG",
                       "FACT_SOORT", "FACT_STATUS", "PER_VAN", "PER_TM"}
    # the CRM's rows are in the legacy columns, as the billing system reads them
    with engine.connect() as connection:
        amount = connection.exec_driver_sql(
            "SELECT FCT_BEDRAG FROM KLANT_FACTUUR WHERE FACT_NR = 'S2026000004'").scalar_one()
        generated = connection.exec_driver_sql(
            "SELECT COUNT(*) FROM KLANT_FACTUUR WHERE KLANTNR = 100002").scalar_one()
    assert float(amount) == pytest.approx(418.37) and generated >= 3
    # upgrade never touches them: nothing left to do, nothing about the legacy tables
    changes = app.services.get("storage").status()
    assert not [c for c in changes.changes if "KLANT" in str(c) or "TARIEF" in str(c)]


def _gas_customer(app) -> int:
    bom = app.services.get("bom")
    Connection = bom.model["Connection"]
    with bom.session() as session:
        return session.scalars(sa.select(Connection.customer_id).where(Connection.product == "gas")
                               .order_by(Connection.customer_id)).first()


def _last_total(app, customer: int, product: str) -> tuple[str, int, int]:
    bom = app.services.get("bom")
    Connection = bom.model["Connection"]
    with bom.session() as session:
        ean = session.scalars(sa.select(Connection.ean).where(
            Connection.customer_id == customer, Connection.product == product)).first()
    last = app.services.get("metering").meter(ean).last
    return ean, last.normal, last.low


def test_a_meter_reading_by_keypad_alone_runs_to_the_end_in_ivr_mode(utility):
    app, *_ = utility
    scripts = app.services.get("scripts")
    customer = _gas_customer(app)
    ean, normal, _ = _last_total(app, customer, "gas")
    view = scripts.start_session("meter-reading", mode="ivr", customer=customer, channel="phone")
    assert view.kind == "info"                        # the welcome, played and acknowledged
    view = scripts.answer(view.session_id, None)
    assert view.step == "product" and "customer_number" in view.prefilled
    assert [c.dtmf for c in view.choices] == ["1", "2", "3"]
    view = scripts.answer(view.session_id, "2")       # gas
    view = scripts.answer(view.session_id, str(normal + 10))
    assert view.step == "confirm-reading"
    view = scripts.answer(view.session_id, "1")       # yes
    assert view.status == "ended" and view.outcome == "resolved", view.error
    assert "processed" in view.prompt or "verwerkt" in view.prompt
    bom = app.services.get("bom")
    MeterReading = bom.model["MeterReading"]
    today = app.services.get("clock").now().date()
    with bom.session() as session:
        stored = session.scalars(sa.select(MeterReading).where(
            MeterReading.customer_id == customer, MeterReading.read_on == today)).all()
    assert [(r.value, r.status) for r in stored] == [(normal + 10, "accepted")]
    assert app.services.get("metering").readings(ean, 1)[0].normal == normal + 10


def test_a_meter_reading_runs_to_the_end_in_self_service_and_asks_again_below_the_last(utility):
    app, *_ = utility
    scripts = app.services.get("scripts")
    customer = 100001
    _, normal, low = _last_total(app, customer, "electricity")
    view = scripts.start_session("meter-reading", mode="self-service", customer=customer, channel="web",
                                 language="en")
    view = scripts.answer(view.session_id, None)
    view = scripts.answer(view.session_id, "electricity")
    view = scripts.answer(view.session_id, normal - 5)          # misread: lower than the last reading
    assert view.step == "low-reading"
    view = scripts.answer(view.session_id, low + 40 if low else "")
    view = scripts.answer(view.session_id, "yes")
    assert view.step == "reading-refused" and "lower than the last one" in view.prompt
    view = scripts.answer(view.session_id, "yes")
    view = scripts.answer(view.session_id, normal + 12)
    view = scripts.answer(view.session_id, low + 40 if low else "")
    view = scripts.answer(view.session_id, "yes")
    assert view.status == "ended" and view.outcome == "resolved"
    assert view.prompt.startswith("Thank you, the reading")


def test_the_metering_wrapper_answers_and_says_so_when_the_stand_in_is_down(utility):
    app, *_ = utility
    metering = app.services.get("metering")
    ean, *_ = _last_total(app, 100002, "electricity")
    assert metering.meter(ean).product == "electricity"
    standin = app.services.resolve("metering-standin")
    assert standin.server.calls["MDM.GetMeter"] >= 1                # through the real XML-RPC server
    assert metering.health().status == "ok"

    standin.on_stop()                                               # the metering system goes down
    try:
        health = metering.health()
        assert health.status == "down" and "metering system unreachable" in health.detail
        # a reading taken now is kept as pending, never lost
        scripts = app.services.get("scripts")
        customer = _gas_customer(app)
        view = scripts.start_session("meter-reading", mode="ivr", customer=customer, channel="phone")
        for answer in (None, "2", "99999", "1"):
            view = scripts.answer(view.session_id, answer)
        assert view.status == "ended" and ("pass it on" in view.prompt or "doorgeven" in view.prompt
                                           or "geven hem door" in view.prompt)
        # the rest of the CRM works: an agent opens a customer's 360-degree view
        web = app.services.get("web")
        web.users.add("tester", "tester-password-1", roles=["agent"], agent="anouk")
        client = Client(web.asgi)
        try:
            client.login("tester", "tester-password-1")
            page = client.page("/v/customer-360/100001")
            assert page.status_code == 200
            assert "S2026000004" in page.text                      # a bill from the legacy billing tables
            assert "871687" in page.text                           # a connection's EAN code
        finally:
            client.http.close()
        assert "metering system unreachable" in metering.health().detail
    finally:
        standin.on_start()
    assert metering.meter(ean).ean == ean                           # back when the system is back


def test_a_payment_arrangement_is_written_into_the_billing_systems_own_table(utility):
    app, *_ = utility
    scripts = app.services.get("scripts")
    view = scripts.start_session("payment-arrangement", mode="agent", customer=100001, channel="voice",
                                 context={"agent": "anouk"}, language="en")
    assert view.step == "identified" and "530.37 euro" in scripts.answer(view.session_id, None).prompt
    view = scripts.answer(view.session_id, 8)                       # months
    view = scripts.answer(view.session_id, "yes")
    assert view.status == "ended" and "8 instalments of 66.30 euro" in view.prompt, view.prompt
    engine = app.services.get("storage").engine
    with engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT AANT_TERMIJN, TERMIJN_BEDRAG, TOTAAL_BEDRAG, REG_STATUS, AANGEMAAKT_DOOR FROM BET_REGELING"
            " WHERE KLANTNR = 100001").one()
        statuses = {r[0] for r in connection.exec_driver_sql(
            "SELECT FACT_STATUS FROM KLANT_FACTUUR WHERE KLANTNR = 100001 AND OPEN_BEDRAG > 0")}
    assert (row[0], float(row[1]), float(row[2]), row[3], row[4]) == (8, 66.30, 530.37, "A", "anouk")
    assert statuses == {"R"}
    # more than six months: the rule gives the team lead a task to review it
    bom = app.services.get("bom")
    Task = bom.model["Task"]
    with bom.session() as session:
        titles = session.scalars(sa.select(Task.title).where(Task.customer_id == 100001)).all()
    assert any(title.startswith("Review payment arrangement") for title in titles)


def test_the_green_tariff_campaign_calls_its_segment(utility):
    app, *_ = utility
    campaigns = app.services.get("communication").campaigns
    campaigns.start("green-tariff")
    try:
        progress = campaigns.progress("green-tariff")
        bom = app.services.get("bom")
        Customer = bom.model["Customer"]
        with bom.session() as session:
            members = session.scalar(sa.select(sa.func.count()).select_from(Customer).where(
                Customer.segment == "residential", Customer.green_energy.is_(False), Customer.phone.is_not(None)))
        assert 0 < members < CUSTOMERS
        assert progress.total == members, progress
    finally:
        campaigns.stop("green-tariff")


DEFAULT = object()   # take the value the question offers (a known answer to confirm)

WALKS = {
    # script: (mode, answers in order, outcome)
    "move": ("agent", ["within", None, "2027-02-01", "3511 AB", "12A", "yes", 41000, "yes"], "resolved"),
    "report-outage": ("self-service", ["electricity", "3511 CD", None], "resolved"),     # a known outage
    "billing-complaint": ("agent", [None, DEFAULT, "amount", "The advance went up twice this year."], "escalated"),
    "ivr-menu": ("ivr", ["3", "1", "3511", "2"], "resolved"),                          # outage by keypad
    "green-tariff": ("agent", [None, "switched"], "resolved"),
}


@pytest.mark.parametrize("script", sorted(WALKS))
def test_every_dialogue_runs_to_its_end(utility, script):
    app, *_ = utility
    scripts = app.services.get("scripts")
    mode, answers, outcome = WALKS[script]
    view = scripts.start_session(script, mode=mode, customer=100002, channel="web" if mode == "self-service" else "voice",
                                 context={"agent": "anouk"} if mode == "agent" else None, language="en")
    for answer in answers:
        assert view.status == "active", (script, view.step, view.prompt)
        if answer is DEFAULT:
            assert view.confirm and view.value, (script, view.step)
            answer = view.value
        view = scripts.answer(view.session_id, answer)
        assert view.error is None, (script, view.step, view.error)
    assert (view.status, view.outcome) == ("ended", outcome), (script, view.step, view.prompt)
    if script == "billing-complaint":       # the latest bill, from the legacy billing tables, was offered
        assert view.answers["bill_number"] == "F010000200"


def test_without_the_metering_stand_in_the_wrapper_says_so_and_the_rest_starts(tmp_path):
    """Bad input: the metering system is not there at all when the CRM starts."""
    folder = copy_template(tmp_path / "utility")
    descriptor = folder / "caruso.toml"
    text = descriptor.read_text(encoding="utf-8")
    text = text.replace("[services.metering-standin]\n", "[services.metering-standin]\nenabled = false\n")
    descriptor.write_text(re.sub(r'^requires = \["metering-standin"\].*\n', "", text, flags=re.MULTILINE), encoding="utf-8")
    with Application.from_folder(folder) as app:
        app.services.get("storage").upgrade()
        health = app.services.get("metering").health()
        assert health.status == "down" and health.detail.startswith("metering system unreachable at http://127.0.0.1:")
        load_demo(folder).generate(app, customers=3)
        view = app.services.get("customers").view(100001)
        assert view.customer["name"] and "S2026000004" in {b["number"] for b in view.collections["bills"]}
        scripts = app.services.get("scripts")
        view = scripts.start_session("meter-reading", mode="self-service", customer=100002, channel="web")
        for answer in (None, "electricity", 12345, 500, "yes"):
            view = scripts.answer(view.session_id, answer)
        assert view.status == "ended" and view.answers["reading"] == 12345
        MeterReading = app.services.get("bom").model["MeterReading"]
        with app.services.get("bom").session() as session:
            assert session.scalars(sa.select(MeterReading.status).where(MeterReading.value == 12345)).one() == "pending"


@pytest.mark.parametrize(("queue", "menu"), [("meter-readings", ["#"]), ("main-line", ["1"])])   # "#": the welcome played
def test_a_call_is_served_by_the_ivr_alone(utility, queue, menu):
    """A real inbound call through the communication server: the keypad only, no agent."""
    from caruso.errors import InteractionStateError

    app, *_ = utility
    customer = _gas_customer(app)
    bom = app.services.get("bom")
    with bom.session() as session:
        phone = session.get(bom.model["Customer"], customer).phone
    ean, normal, _ = _last_total(app, customer, "gas")
    comm = app.services.get("communication")
    call = comm.offer("voice", queue=queue, address=phone)
    assert call.customer == customer                                   # identified by the caller's number
    for digits in [*menu, "2", str(normal + 3), "1"]:                   # gas, the reading, yes
        step = comm.dtmf(call.id, digits)
    assert step.step == "reading-noted" and step.status == "ended"
    with pytest.raises(InteractionStateError, match="completed"):      # served: no agent needed
        comm.interaction(call.id)
    assert app.services.get("metering").readings(ean, 1)[0].normal == normal + 3


def test_a_customer_in_self_service_sees_only_their_own_bills(utility):
    app, *_ = utility
    web = app.services.get("web")
    web.users.add("klant-test", "klant-test-password", roles=["customer"], customer=100001)
    client = Client(web.asgi)
    try:
        client.login("klant-test", "klant-test-password")
        own = client.page("/v/bill-list")
        assert own.status_code == 200 and "S2026000004" in own.text and "F0100002" not in own.text
        assert client.page("/v/bill-detail/F010000200").status_code == 404    # customer 100002's bill
        assert client.page("/v/bill-detail/S2026000004").status_code == 200
        assert client.page("/v/meter-list").status_code == 403                # not for customers
    finally:
        client.http.close()


def test_the_template_starts_and_fills_on_every_backend(tmp_path, database_url):
    """The legacy billing tables keep their upper-case names on PostgreSQL and MariaDB too
    (created quoted), so the legacy mapping finds them and the demo data goes in."""
    folder = copy_template(tmp_path / "utility")
    descriptor = folder / "caruso.toml"
    descriptor.write_text(descriptor.read_text(encoding="utf-8").replace(
        'url = "sqlite:///utility.db"', f'url = "{database_url}"', 1), encoding="utf-8")
    app = Application.from_folder(folder)
    with app:
        app.services.get("storage").upgrade()
        counts = load_demo(folder).generate(app, customers=20)
        engine = app.services.get("storage").engine
        assert {"TARIEF", "KLANT_FACTUUR", "BET_REGELING"} <= set(sa.inspect(engine).get_table_names())
        bom = app.services.get("bom")
        with bom.session() as session:
            assert counts["Customer"] == session.scalar(sa.select(sa.func.count()).select_from(bom.model.Customer))
            assert session.scalar(sa.select(sa.func.count()).select_from(bom.model.Bill)) >= counts["Bill"]
