"""The agent desktop in a real browser (Debian's Chromium through Playwright): an agent logs
in, goes ready, takes a simulated call identified by its number, sees the caller's
360-degree view and wraps up with a code; the communication server confirms each step."""

from __future__ import annotations

import pytest

from caruso.testing import make_app

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
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"))
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

        call = server.offer("voice", address="+31201234567")
        page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='offered']", timeout=10_000)
        page.click(f"article[data-interaction='{call.id}'] button:text('Accept')")
        page.wait_for_selector(f"article[data-interaction='{call.id}'][data-state='connected']")
        assert "connected" == server.interaction(call.id).state
        customer = page.locator(".customer-360")
        customer.get_by_text("Jan <b>de</b> Vries").first.wait_for(timeout=10_000)  # escaped, not bold
        assert 0 == page.locator(".customer-360 b").count()

        page.fill("input[name=code]", "resolved")
        page.click("button:text('Wrap up')")
        page.wait_for_selector("#no-work")
        assert "ready" == server.agent("anna").state
        server.tick()  # write the events the server still holds in its batch
        assert "completed" in [e.kind for e in server.event_log.read(after=0) if e.interaction == call.id]
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
