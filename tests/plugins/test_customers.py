"""The customers plugin in a real application: its objects, the 360-degree view, search, identification."""

from __future__ import annotations

import pytest

from caruso.errors import ValidationError
from caruso.testing import make_app

DESCRIPTOR = """
[application]
name = "Customers"

[plugins]
enabled = ["customers"]

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"
{extra}
"""

METERS = """<model>
<object name="Meter" table="meter">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="serial" type="string" required="yes"/>
  <reference name="customer" object="Customer" required="yes"/>
</object>
<extend object="Customer">
  <collection name="meters" object="Meter" order-by="serial"/>
</extend>
</model>
"""


@pytest.fixture
def crm(tmp_path):
    """A factory: ``crm(extra_toml="", files=None, url=None)`` -> the started app, schema created."""
    started = []

    def make(extra: str = "", *, files: dict | None = None, url: str | None = None):
        url = url or f"sqlite:///{tmp_path / 'crm.db'}"
        app = make_app(tmp_path / f"app{len(started)}", DESCRIPTOR.format(url=url, extra=extra), files)
        app.start()
        started.append(app)
        app.services.get("storage").upgrade()
        return app

    yield make
    for app in reversed(started):
        app.stop()


def add_customers(bom) -> int:
    """Ada (two contacts, an address) and Bram; Ada's key."""
    model = bom.model
    with bom.unit_of_work() as session:
        ada = model.Customer(number="C-1001", kind="organisation", name="Ada Energy BV", phone="+31201234567",
                             email="info@ada.example")
        ada.contacts.extend([model.Contact(name="Wim", role="facilities"), model.Contact(name="Els", role="finance")])
        ada.addresses.append(model.Address(kind="billing", street="Dam 1", postcode="1012 JS", city="Amsterdam"))
        session.add_all([ada, model.Customer(number="C-1002", name="Bram de Vries", mobile="+31612345678")])
        session.flush()
        return ada.id


def test_the_360_view_shows_the_customer_its_collections_and_what_extensions_add(crm, database_url):
    """Contacts, addresses and a vertical's meters, each in its collection's order, on every backend."""
    app = crm(files={"models/meters.xml": METERS}, url=database_url)
    bom = app.services.get("bom")
    key = add_customers(bom)
    with bom.unit_of_work() as session:
        session.add_all([bom.model.Meter(serial="M-2", customer_id=key), bom.model.Meter(serial="M-1", customer_id=key)])
    view = app.services.get("customers").view(key)
    assert "Ada Energy BV" == view.customer["name"]
    assert ["Els", "Wim"] == [contact["name"] for contact in view.collections["contacts"]]
    assert [("billing", "Amsterdam")] == [(a["kind"], a["city"]) for a in view.collections["addresses"]]
    assert ["M-1", "M-2"] == [meter["serial"] for meter in view.collections["meters"]]
    assert None is app.services.get("customers").view(999)


def test_find_by_number_phone_email_or_part_of_the_name(crm):
    """Exact matches of number, phone or e-mail come first; LIKE wildcards in the text are plain characters."""
    app = crm()
    add_customers(app.services.get("bom"))
    customers = app.services.get("customers")
    assert ["Bram de Vries"] == [c["name"] for c in customers.find("c-1002")]
    assert ["Ada Energy BV"] == [c["name"] for c in customers.find("+31201234567")]
    assert ["Ada Energy BV", "Bram de Vries"] == [c["name"] for c in customers.find("a")]
    assert [] == customers.find("100%")
    assert [] == customers.find("   ")


def test_an_invalid_phone_number_or_e_mail_address_is_refused_with_the_reason(crm):
    """Not E.164, not an address: the save is refused naming the attribute, and nothing is stored."""
    app = crm()
    bom = app.services.get("bom")
    with pytest.raises(ValidationError) as caught:
        with bom.unit_of_work() as session:
            session.add(bom.model.Customer(name="Carla", phone="020 123 4567", email="carla-at-example"))
    message = str(caught.value)
    assert "a phone number is written in E.164, like +31201234567" in message
    assert "an e-mail address looks like name@example.com" in message
    assert [] == app.services.get("customers").find("Carla")


def test_the_communication_server_identifies_a_caller_by_the_customer_s_numbers(crm):
    """With identify pointed at Customer, a call from a mobile number is offered as that customer's."""
    app = crm("""
[services.communication.settings]
skills = ["billing"]
real_time = false

[services.communication.settings.identify]
object = "Customer"
phone = ["phone", "mobile"]
email = ["email"]
country = "31"

[[services.communication.settings.queues]]
name = "billing"
requires = "skills HAS 'billing'"
""")
    bom = app.services.get("bom")
    add_customers(bom)
    server = app.services.get("communication")
    call = server.offer("voice", queue="billing", address="06 12345678")
    mail = server.offer("email", queue="billing", address="INFO@ada.example")
    with bom.session() as session:
        names = {c.id: c.name for c in session.scalars(bom.model.Customer.select())}
    assert ("Bram de Vries", "Ada Energy BV") == (names[call.customer], names[mail.customer])


SCRIPT = """<script id="reading" title="Meter reading" languages="en" start="reading">
  <question id="reading" kind="number"><prompt>The reading?</prompt><go to="done"/></question>
  <end id="done" outcome="recorded"><prompt>Thank you.</prompt></end>
</script>
"""


def test_the_360_view_holds_the_contact_history_of_every_channel(crm):
    """A self-service session and an agent's note land in the history service, and the view shows them in order."""
    app = crm(files={"scripts/reading.xml": SCRIPT})
    bom = app.services.get("bom")
    key = add_customers(bom)
    scripts = app.services.get("scripts")
    view = scripts.start_session("reading", mode="self-service", context={"customer_id": key})
    scripts.answer(view.session_id, 4711)
    app.services.get("history").record(channel="meeting", direction="outbound", customer=key, agent="els",
                                       subject="Visit", summary="Discussed the new contract")
    history = app.services.get("customers").view(key).history
    assert [("web", "Meter reading", "Meter reading: recorded\nreading: 4711"), ("meeting", "Visit", None)] == [
        (entry.channel, entry.subject, entry.summary if entry.channel == "web" else None) for entry in history]
