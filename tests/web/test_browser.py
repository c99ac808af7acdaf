"""The agent desktop in a real browser (Debian's Chromium through Playwright): an agent logs
in, goes ready, takes a simulated call identified by its number, sees the caller's
360-degree view and the answer given in the IVR, runs the dialogue script to its end and
wraps up with a code; the communication server confirms each step."""

from __future__ import annotations

import pytest

from caruso.testing import make_app
from tests.web.conftest import METER_SCRIPT

DESCRIPTOR = """
[application]
name = "Desktop test"

[storage]
url = "sqlite:///{db}"

[plugins]
enabled = ["customers"]

[services.communication.settings]
offer_timeout = 600

[services.communication.settings.identify]
object = "Customer"
phone = ["phone"]

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.agents]]
name = "anna"
"""



@pytest.fixture
def desk(tmp_path):
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"), {"scripts/meter.xml": METER_SCRIPT})
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("anna", "anna-password", roles=["agent"], agent="anna")
    bom = app.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        session.add(bom.Customer(name="Jan <b>de</b> Vries", phone="+31201234567", number="C-1"))
    url = web.listen(port=0)
    yield app, url
    app.stop()


def test_an_agent_takes_a_call_sees_the_caller_and_wraps_up(desk, chromium):
    app, url = desk
    server = app.services.get("communication")
    page = chromium.new_page()
    try:
        page.goto(f"{url}/desktop")
        assert "/login" in page.url
        page.fill("input[name=name]", "anna")
        page.fill("input[name=password]", "anna-password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/desktop")
        page.click("button[value=ready]")
        page.wait_for_selector("#agent-state:text('ready')")
        assert "ready" == server.agent("anna").state

        call = server.offer("voice", address="+31201234567", data={"ivr": {
            "session": "s-ivr", "script": "main-menu", "status": "ended", "answers": {"meter": "M-123"}}})
        page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='offered']", timeout=10_000)
        page.click(f"article[data-interaction='{call.id}'] button:text('Accept')")
        page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='connected']")
        assert "connected" == server.interaction(call.id).state
        customer = page.locator(".customer-360")
        customer.get_by_text("Jan <b>de</b> Vries").first.wait_for(timeout=10_000)  # escaped, not bold
        assert 0 == page.locator(".customer-360 b").count()
        assert "M-123" in page.locator(f"article[data-interaction='{call.id}'] .script-answers").inner_text()

        # the script: the meter number is known from the IVR, so it starts at the reading
        page.select_option("select[name=script]", "meter-reading")
        page.click("button:text('Start the script')")
        page.wait_for_selector("form.script-step[data-step='reading']")
        page.fill("form.script-step input[name=value]", "a lot")
        page.click("form.script-step button:text('Answer')")
        page.wait_for_selector(".script-error")
        page.fill("form.script-step input[name=value]", "4711")
        page.click("form.script-step button:text('Answer')")
        page.get_by_text("Thank the customer for the reading 4711.").wait_for()
        page.click("form.script-step button:text('Next')")
        page.wait_for_selector(".script-ended")
        assert "reading-taken" in page.locator(".script-ended").inner_text()

        page.fill("input[name=code]", "resolved")
        page.click("button:text('Wrap up')")
        page.wait_for_selector("#no-work")
        assert "ready" == server.agent("anna").state
        server.tick()  # write the events the server still holds in its batch
        completed = [e for e in server.event_log.read(after=0) if e.interaction == call.id and e.kind == "completed"]
        assert [("resolved", "reading-taken")] == [(e.data["code"], e.data["outcome"]) for e in completed]
        history = app.services.get("history").for_interaction(call.id)
        assert ["meter-reading"] == [e.data["script"] for e in history if (e.data or {}).get("kind") == "agent"]
    finally:
        page.close()


def _log_in(page, url: str, name: str, password: str, path: str) -> None:
    page.goto(f"{url}{path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{path}")


def test_the_supervisors_monitor_follows_an_agents_state_live(desk, chromium):
    app, url = desk
    app.services.get("web").users.add("sam", "sam-password", roles=["supervisor"])
    server = app.services.get("communication")
    page = chromium.new_page()
    try:
        _log_in(page, url, "sam", "sam-password", "/supervisor")
        state = page.locator("#agents tr[data-agent='anna'] td.state")
        assert "logged-out" == state.inner_text()
        server.login("anna")  # no reload: the page hears it from the server
        page.wait_for_selector("#agents tr[data-agent='anna'] td.state:text('ready')", timeout=10_000)
        server.set_away("anna", "lunch")
        page.wait_for_selector("#agents tr[data-agent='anna'] td.state:text('away')", timeout=10_000)
        assert 403 == page.goto(f"{url}/desktop").status  # a supervisor takes no calls
    finally:
        page.close()


def test_an_agent_chats_with_a_customer_and_sees_their_messages_live(desk, chromium):
    """A customer's chat is offered and accepted; what the customer writes appears in the
    conversation without a reload (the desktop's event stream), escaped; the agent's answer
    reaches the customer's chat."""
    from starlette.testclient import TestClient

    app, url = desk
    server = app.services.get("communication")
    page = chromium.new_page()
    try:
        _log_in(page, url, "anna", "anna-password", "/desktop")
        page.click("button[value=ready]")
        page.wait_for_selector("#agent-state:text('ready')")
        with TestClient(app.services.get("chat").asgi) as chat, chat.websocket_connect("/ws") as customer:
            customer.send_json({"type": "start", "name": "Jan", "email": "jan@example.nl", "topic": "My bill"})
            chat_id = _frame(customer, "queued")["chat"]
            article = f"article[data-interaction='{chat_id}']"
            page.wait_for_selector(f"{article}[data-state='offered']", timeout=10_000)
            page.click(f"{article} button:text('Accept')")
            page.wait_for_selector(f"{article}[data-state='connected'] .chat-transcript", state="attached",
                                   timeout=10_000)
            assert "connected" == server.interaction(chat_id).state
            transcript = page.locator(f"{article} .chat-transcript")
            transcript.evaluate("list => { list.dataset.marked = 'yes'; }")
            for attempt in range(50):  # the stream may still be connecting to the chat
                customer.send_json({"type": "message", "text": f"Where is my <b>bill</b>? {attempt}"})
                _frame(customer, "sent")
                try:
                    page.wait_for_selector(f"{article} .chat-transcript li.from-customer", timeout=200)
                    break
                except Exception:
                    continue
            assert "yes" == transcript.get_attribute("data-marked")  # appended to, not reloaded
            assert "Where is my <b>bill</b>?" in page.locator(f"{article} .chat-transcript").inner_text()
            assert 0 == page.locator(f"{article} .chat-transcript b").count()
            page.fill(f"{article} form.chat-send input[name=text]", "It is on its way.")
            page.click(f"{article} form.chat-send button:text('Send')")
            message = _frame(customer, "message")
            assert ("anna", "It is on its way.") == (message["from"], message["text"])
            page.wait_for_selector(f"{article} .chat-transcript li.from-agent")
    finally:
        page.close()


def _frame(websocket, kind: str) -> dict:
    while True:
        frame = websocket.receive_json()
        if frame["type"] == kind:
            return frame
