"""The sales plugin in a real application: lead scoring, stages, the RFP rule, quotes to a real ERP stand-in, the forecast."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from xmlrpc.server import SimpleXMLRPCServer

import pytest
import sqlalchemy as sa

from caruso.errors import IntegrityViolation, ValidationError
from caruso.testing import make_app

DESCRIPTOR = """
[application]
name = "Sales"

[plugins]
enabled = ["customers", "rules", "sales"]
folders = ["plugins"]

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.rules.settings]
due_every = 0

[services.sales.settings]
country = "31"
erp = "erp"

[services.erp]
implementation = "erp_wrapper:ErpService"

[services.erp.settings]
url = "http://127.0.0.1:{port}"
timeout = 2.0
retries = 0
"""

# The wrapper a developer writes around the company's ERP: only the translation.
ERP_WRAPPER = '''
import xmlrpc.client
import attrs
from caruso.services.legacy import LegacyService, LegacySettings


@attrs.frozen(kw_only=True)
class ErpSettings(LegacySettings):
    url: str = "http://127.0.0.1:8999"


class ErpService(LegacyService):
    system = "erp"
    Settings = ErpSettings

    def connect(self):
        return xmlrpc.client.ServerProxy(self.settings.url)

    def create_sales_order(self, order):
        return self.call("orders.create", lambda proxy: proxy.orders.create(order))
'''

RFP_RULE = """<rules>
  <rule name="big-rfp-review" on="reached" object="Opportunity" attribute="stage_name" value="rfp-received"
        if="object.value > 50000">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Review the RFP of ' ~ object.name, 'assignee': 'senior-manager',
                                 'customer_id': object.customer_id, 'about': 'Opportunity ' ~ object.id}"/>
    </action>
  </rule>
</rules>
"""


class Erp:
    """A stand-in for the company's ERP: an XML-RPC server on loopback that numbers orders."""

    def __init__(self):
        self.server = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
        self.port = self.server.server_address[1]
        self.orders: list[dict] = []
        self.server.register_function(self.create, "orders.create")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def create(self, order):
        self.orders.append(order)
        return f"ERP-{len(self.orders):05d}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sales(tmp_path):
    """A factory: ``sales(erp_port, url=None, extra_files=None)`` -> (app, sales service, bom), started."""
    started = []

    def make(port: int, *, url: str | None = None, files: dict | None = None):
        url = url or f"sqlite:///{tmp_path / 'crm.db'}"
        app = make_app(tmp_path / f"app{len(started)}", DESCRIPTOR.format(url=url, port=port),
                       {"plugins/erp_wrapper.py": ERP_WRAPPER, "rules/sales.xml": RFP_RULE, **(files or {})})
        app.start()
        started.append(app)
        app.services.get("storage").upgrade()
        return app, app.services.get("sales"), app.services.get("bom")

    yield make
    for app in reversed(started):
        app.stop()


def test_leads_are_scored_hot_warm_or_cold_and_a_bad_address_is_refused(sales):
    """The default scoring: a referred company with a budget is hot; a bare call is cold; bad input stores nothing."""
    _app, service, bom = sales(9)
    hot = service.capture_lead("Ria", company="Windpark BV", source="referral", budget=60000,
                               email="ria@windpark.example", phone="020 123 4567")
    cold = service.capture_lead("Piet", source="call")
    with bom.session() as session:
        leads = {lead.id: (lead.score, lead.rating, lead.phone) for lead in session.scalars(bom.model.Lead.select())}
    assert {hot: (90, "hot", "+31201234567"), cold: (10, "cold", None)} == leads
    with pytest.raises(ValidationError) as caught:
        service.capture_lead("Kees", email="kees-at-home", phone="12")
    assert "an e-mail address looks like name@example.com" in str(caught.value)
    assert "a phone number is written in E.164" in str(caught.value)
    with bom.session() as session:
        assert 2 == session.scalar(sa.select(sa.func.count()).select_from(bom.model.Lead))


def test_opportunities_move_through_the_configured_stages_and_the_rfp_rule_assigns_a_review(sales):
    """Convert a lead, move it to 'rfp-received' above 50,000: a task for the senior manager; bad stages refused."""
    _app, service, bom = sales(9)
    lead = service.capture_lead("Ria", company="Windpark BV", source="web", email="ria@windpark.example")
    big = service.convert(lead, opportunity="Windpark maintenance", value=80000, owner="els")
    service.move(big, "qualification")
    service.move(big, "rfp-received")
    with pytest.raises(ValidationError) as caught:
        service.move(big, "rfp-recieved")
    assert "no stage 'rfp-recieved' (did you mean 'rfp-received'?)" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        service.move(big, "lost")
    assert "needs the reason it was lost" in str(caught.value)
    with bom.session() as session:
        opportunity = bom.model.Opportunity.get(session, big)
        tasks = [(t.title, t.assignee, t.about, t.customer_id) for t in session.scalars(bom.model.Task.select())]
        assert [("Review the RFP of Windpark maintenance", "senior-manager", f"Opportunity {big}",
                 opportunity.customer_id)] == tasks
        assert ("rfp-received", "Windpark BV") == (opportunity.stage_name,
                                                   bom.model.Customer.get(session, opportunity.customer_id).name)
    with pytest.raises(IntegrityViolation):  # the database itself refuses a stage that is not configured
        with bom.unit_of_work() as session:
            bom.model.Opportunity.get(session, big).stage_name = "maybe"


def test_an_accepted_quote_becomes_an_order_in_the_erp_and_waits_while_the_erp_is_down(sales):
    """ERP down: the order is failed with the error; ERP up: retried, numbered by the ERP, never sent twice."""
    with Erp() as erp:
        port = erp.port
    _app, service, bom = sales(port)  # the ERP's port, now closed: it is down
    lead = service.capture_lead("Ria", company="Windpark BV", source="web")
    opportunity = service.convert(lead, opportunity="Turbines", value=12000)
    quote = service.quote(opportunity, [("turbine service", 2, "4500.00"), ("travel", 1, "300")])
    order = service.accept_quote(quote)
    assert ("failed", Decimal("9300.00")) == (order["status"], order["total"])
    assert "legacy system 'erp'" in order["error"]
    erp = Erp()
    erp.server.server_close()
    erp.server = SimpleXMLRPCServer(("127.0.0.1", port), logRequests=False, allow_none=True)
    erp.server.register_function(erp.create, "orders.create")
    erp.thread = threading.Thread(target=erp.server.serve_forever, daemon=True)
    with erp:
        [retried] = service.retry_orders()
        assert [] == service.retry_orders()
    assert ("sent", "ERP-00001", None) == (retried["status"], retried["erp_reference"], retried["error"])
    assert [{"order": order["id"], "customer": order["customer_id"], "total": "9300.00",
             "lines": [{"product": "turbine service", "quantity": "2.000", "unit_price": "4500.00"},
                       {"product": "travel", "quantity": "1.000", "unit_price": "300.00"}]}] == erp.orders


def test_the_forecast_weighs_value_by_stage_probability_per_stage_owner_and_month(sales, database_url):
    """Hand-computed: 80,000 at rfp-received (0.5) and 20,000 at initiation (0.1) in March; a won deal in April."""
    _app, service, _bom = sales(9, url=database_url)
    lead = service.capture_lead("Ria", company="Windpark BV", source="web")
    deals = [("a", 80000, dt.date(2027, 3, 10), "els", "rfp-received"),
             ("b", 20000, dt.date(2027, 3, 28), "piet", None),
             ("c", 5000, dt.date(2027, 4, 2), "els", "won")]
    for name, value, close, owner, stage in deals:
        key = service.convert(lead, opportunity=name, value=value, close_date=close, owner=owner)
        if stage:
            service.move(key, stage)
    assert [
        {"month": 202703, "owner": "els", "count": 1, "value": Decimal("80000.00"), "weighted": Decimal("40000.00")},
        {"month": 202703, "owner": "piet", "count": 1, "value": Decimal("20000.00"), "weighted": Decimal("2000.00")},
        {"month": 202704, "owner": "els", "count": 1, "value": Decimal("5000.00"), "weighted": Decimal("5000.00")},
    ] == service.forecast(("month", "owner"))
    assert [{"outcome": "open", "count": 2, "value": Decimal("100000.00"), "weighted": Decimal("42000.00")}] == \
        service.forecast(("outcome",), end=dt.date(2027, 3, 31))


def test_the_pipeline_report_counts_opportunities_and_value_by_stage_on_every_backend(sales, database_url):
    """Hand-computed: two at initiation worth 30,000, one won worth 5,000, one lost; win rate 1 / 2."""
    app, service, _bom = sales(9, url=database_url)
    lead = service.capture_lead("Ria", company="Windpark BV", source="web")
    for name, value, stage in (("a", 10000, None), ("b", "20000.50", None), ("c", 5000, "won"), ("d", 700, "lost")):
        key = service.convert(lead, opportunity=name, value=value)
        if stage:
            service.move(key, stage, reason="price" if stage == "lost" else None)
    now = app.services.get("clock").now()
    result = app.services.get("reports").run("sales-pipeline", now - dt.timedelta(days=1), now + dt.timedelta(days=1),
                                             "total")
    assert [(("initiation",), 2, 30000.5, 0), (("lost",), 1, 700.0, 0), (("won",), 1, 5000.0, 1)] == [
        (row.dimensions, row.values["opportunities"], row.values["value"], row.values["won"]) for row in result.rows]
    assert (4, 35700.5, 0.5) == (result.totals["opportunities"], result.totals["value"], result.totals["win_rate"])


def test_the_capture_a_lead_script_records_a_scored_lead(sales):
    """The plugin's dialogue script, run by an agent: the answers become a lead, scored as a call."""
    app, _service, bom = sales(9)
    scripts = app.services.get("scripts")
    view = scripts.start_session("capture-a-lead", mode="agent")
    for answer in ("Ria", "Windpark BV", "ria@windpark.example", "maintenance contracts"):
        view = scripts.answer(view.session_id, answer)
    assert "Thank you, Ria. A colleague will contact you." == view.prompt
    with bom.session() as session:
        [lead] = session.scalars(bom.model.Lead.select()).all()
        assert ("Ria", "Windpark BV", "call", 25, "cold") == (lead.name, lead.company, lead.source, lead.score,
                                                              lead.rating)
