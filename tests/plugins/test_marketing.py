"""The marketing plugin in a real application: saved segments, an e-mail campaign to a real relay, a call campaign."""

from __future__ import annotations

import datetime as dt

import pytest

from caruso.errors import ValidationError
from caruso.testing import make_app
from tests.channels.conftest import Relay, wait_for

DESCRIPTOR = """
[application]
name = "Marketing"

[plugins]
enabled = ["customers", "marketing"]

[storage]
url = "sqlite:///{db}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.communication.settings]
skills = ["sales"]
real_time = false

[[services.communication.settings.queues]]
name = "sales"
requires = "skills HAS 'sales'"

[[services.communication.settings.agents]]
name = "anna"
skills = {{ sales = 5 }}

[[services.communication.settings.campaigns]]
name = "green-tariff"
queue = "sales"
call_list = "marketing"
retry = {{}}

[services.email.settings]
addresses = ["news@example.com"]
from_address = "news@example.com"

[services.email.settings.smtp]
port = 0

[services.email.settings.relay]
host = "127.0.0.1"
port = {relay_port}
"""

CUSTOMERS = [
    ("Ada", "residential", "ada@example.nl", "+31201000001"),
    ("Bram", "residential", None, "+31201000002"),
    ("Chloe", "business", "chloe@example.nl", "+31201000003"),
    ("Daan", "residential", "daan@example.nl", None),
]


@pytest.fixture
def marketing(tmp_path):
    """(app, marketing service, relay), started with four customers."""
    relay = Relay().start()
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db", relay_port=relay.port))
    app.start()
    try:
        app.services.get("storage").upgrade()
        bom = app.services.get("bom")
        with bom.unit_of_work() as session:
            session.add_all(bom.model.Customer(name=name, segment=segment, email=email, phone=phone)
                            for name, segment, email, phone in CUSTOMERS)
        yield app, app.services.get("marketing"), relay
    finally:
        app.stop()
        relay.stop()


def test_a_segment_is_a_saved_query_and_a_bad_condition_is_refused(marketing):
    """Members and count come from the saved conditions; an unknown attribute or operator saves nothing."""
    app, service, _relay = marketing
    residential = service.define_segment("residential", [["segment", "=", "residential"]])
    reachable = service.define_segment("reachable", [["segment", "in", ["residential", "business"]],
                                                      ["email", "is-not-empty"]])
    assert (["Ada", "Bram", "Daan"], 3) == ([m["name"] for m in service.members(residential)], service.count(residential))
    assert ["Ada", "Chloe", "Daan"] == [m["name"] for m in service.members("reachable")]
    with pytest.raises(ValidationError) as caught:
        service.define_segment("typo", [["segmnt", "=", "vip"]])
    assert "Customer has no attribute 'segmnt' (did you mean 'segment'?)" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        service.define_segment("bad-op", [["segment", "like", "res%"]])
    assert "unknown operator 'like'" in str(caught.value)
    with pytest.raises(ValidationError):
        service.members("typo")
    assert reachable != residential


def test_an_e_mail_campaign_sends_one_rendered_mail_per_member_with_an_address(marketing):
    """The relay receives the rendered mails; a member without an address is a 'no-address' response."""
    _app, service, relay = marketing
    segment = service.define_segment("residential", [["segment", "=", "residential"]])
    service.create_campaign("spring", segment, channel="email", subject="Spring offer for {{ customer.name }}",
                            body="Dear {{ customer.name }}, switch to green energy.")
    assert {"no-address": 1, "sent": 2} == service.launch("spring")
    mails = wait_for(lambda: len(relay.messages) == 2 and relay.messages)
    assert [("Spring offer for Ada", "ada@example.nl"), ("Spring offer for Daan", "daan@example.nl")] == sorted(
        (mail["Subject"], mail["To"]) for mail in mails)
    bodies = {mail["To"]: mail.get_content().strip() for mail in mails}
    assert "Dear Ada, switch to green energy." == bodies["ada@example.nl"]
    with pytest.raises(ValidationError) as caught:
        service.create_campaign("broken", segment, channel="email", subject="Hi {{ customer.name", body="x")
    assert "MarketingCampaign.body" in str(caught.value)


def test_a_call_campaign_dials_the_segment_and_each_result_code_is_a_response(marketing):
    """The server's campaign takes its call list from the segment; the agent's codes come back as responses."""
    app, service, _relay = marketing
    server = app.services.get("communication")
    telephony = app.services.resolve("telephony")
    telephony.dial_results = lambda request: "answered"
    segment = service.define_segment("residential", [["segment", "=", "residential"]])
    service.create_campaign("green-tariff", segment, channel="call")
    server.login("anna")
    service.launch("green-tariff")
    dialed = []
    for code in ("interested", "not-interested"):
        (call,) = server.agent("anna").interactions
        dialed.append(server.interaction(call).address)
        server.complete("anna", call, code=code)
    assert ["+31201000001", "+31201000002"] == dialed  # Daan has no number
    assert {"interested": 1, "not-interested": 1} == service.results("green-tariff")
    assert "finished" == server.campaigns.progress("green-tariff").state
    now = app.services.get("clock").now()
    report = app.services.get("reports").run("campaign-responses", now - dt.timedelta(hours=1),
                                             now + dt.timedelta(hours=1))
    assert [(("green-tariff", "interested"), 1, 1, 1), (("green-tariff", "not-interested"), 1, 1, 0)] == [
        (row.dimensions, row.values["responses"], row.values["reached"], row.values["positive"]) for row in report.rows]
    assert 0.5 == report.totals["positive_rate"]
