"""The IVR in front of a queue, and callers identified by their number in the business objects."""

from __future__ import annotations

import pytest

from caruso.services.communication.identify import phone_forms
from tests.communication.conftest import kinds

MENU = """<?xml version="1.0" encoding="UTF-8"?>
<script id="main-menu" title="Main menu" version="1" languages="en" start="menu">
  <question id="menu" kind="choice">
    <prompt lang="en">For bills press 1, for a fault press 2, for opening hours press 3.</prompt>
    <choice value="bills" dtmf="1"><label lang="en">Bills</label></choice>
    <choice value="fault" dtmf="2"><label lang="en">A fault</label></choice>
    <choice value="hours" dtmf="3"><label lang="en">Opening hours</label></choice>
    <go to="to-billing" if="menu == 'bills'"/>
    <go to="to-technical" if="menu == 'fault'"/>
    <go to="hours"/>
  </question>
  <info id="hours">
    <prompt lang="en">We are open from eight to six.</prompt>
    <go to="done"/>
  </info>
  <end id="done" outcome="self-service"/>
  <end id="to-billing" outcome="transferred">
    <action name="transfer"><arg name="queue" value="'billing'"/></action>
  </end>
  <end id="to-technical" outcome="transferred">
    <action name="transfer"><arg name="queue" value="'technical'"/></action>
  </end>
</script>
"""

IVR_QUEUE = """
[[services.communication.settings.queues]]
name = "front"
ivr = "main-menu"
"""

MODEL = """<model>
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="phone" type="string"/>
  <attribute name="email" type="string"/>
  <attribute name="segment" type="string" default="retail"/>
</object>
</model>
"""

IDENTIFY = """
[services.communication.settings.identify]
object = "Customer"
phone = ["phone"]
email = ["email"]
country = "31"
priority = "10 if customer.segment == 'vip' else 0"
"""


@pytest.fixture
def ivr_centre(call_centre):
    from tests.communication.conftest import QUEUES

    app = call_centre(queues=QUEUES + IVR_QUEUE, files={"scripts/menu.xml": MENU})
    app.services.get("storage").upgrade()
    return app, app.services.get("communication"), app.services.get("telephony")


def test_the_ivr_routes_the_caller_to_the_queue_they_chose(ivr_centre):
    """Pressing 2 sends the call to the technical queue; the answers travel with it to the agent."""
    _app, server, telephony = ivr_centre
    call = telephony.call("+31201234567", queue="front", digits=["2"])
    view = server.interaction(call.id)
    assert ("waiting", "technical") == (view.state, view.queue)
    assert {"menu": "fault"} == view.data["ivr"]["answers"]
    server.login("carla")
    assert "offered" == server.interaction(call.id).state
    assert ("ivr", "front") == kinds(server, interaction=call.id)[1][:2]


def test_a_caller_served_by_the_ivr_needs_no_agent(ivr_centre):
    """Pressing 3 (opening hours) ends the call as self-service: completed, never queued."""
    _app, server, telephony = ivr_centre
    call = telephony.call("+31201234567", queue="front", digits=["3", ""])
    events = [kind for kind, _q, _a in kinds(server, interaction=call.id)]
    assert ["offered", "ivr", "completed"] == events
    server.event_log.flush()
    completed = server.event_log.read(kinds=["completed"])[-1]
    assert ("self-service", "ivr") == (completed.data["outcome"], completed.data["code"])


def test_a_wrong_key_is_asked_again_and_hanging_up_in_the_ivr_abandons(ivr_centre):
    """An unknown digit leaves the caller at the same step; a hang-up there is an abandon."""
    _app, server, telephony = ivr_centre
    call = telephony.call("+31201234567", queue="front")
    view = server.dtmf(call.id, "9")
    assert ("menu", True) == (view.step, view.error is not None)
    telephony.hang_up(call.id)
    assert "abandoned" == kinds(server, interaction=call.id)[-1][0]


def test_callers_are_identified_by_phone_number_and_vips_move_up(call_centre):
    """A national number finds the customer stored in E.164; a VIP's call jumps the queue."""
    app = call_centre(IDENTIFY, files={"models/crm.xml": MODEL})
    storage, bom = app.services.get("storage"), app.services.get("bom")
    storage.upgrade()
    with bom.unit_of_work() as session:
        session.add(bom.Customer(id=1, name="Ada", phone="+31201234567", email="ada@example.com"))
        session.add(bom.Customer(id=2, name="Vera", phone="+31207654321", segment="vip"))
    server = app.services.get("communication")
    ordinary = server.offer("voice", queue="billing", address="020 123 4567")
    vip = server.offer("voice", queue="billing", address="+31 20 765 4321")
    unknown = server.offer("voice", queue="billing", address="+44 20 7946 0000")
    mail = server.offer("email", queue="billing", address="ADA@example.com")
    assert [1, 2, None, 1] == [server.interaction(v.id).customer for v in (ordinary, vip, unknown, mail)]
    assert [vip.id, ordinary.id, unknown.id, mail.id] == [ix.id for ix in server.waiting("billing")]


def test_phone_forms():
    """A number is compared as written, in E.164, and in national form."""
    assert ["020 123 4567", "+31201234567", "0201234567", "31201234567"] == phone_forms("020 123 4567", "31")
    assert ["not a number"] == phone_forms("not a number", "31")
