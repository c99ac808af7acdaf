"""Fixtures of the front office's tests: a started application, a client that logs in, Chromium."""

from __future__ import annotations

import re
import shutil

import pytest
from starlette.testclient import TestClient

from caruso.testing import make_app
from tests.conftest import services_required

DESCRIPTOR = """
[application]
name = "Front office test"

[storage]
url = "sqlite:///{db}"

[plugins]
enabled = ["customers"]

[services.web.settings.roles.agent]
portal = "/desktop"
read = ["*"]
write = ["*"]
actions = ["desktop"]

[services.web.settings.roles.customer]
portal = "/self-service"
read = ["Customer"]
write = ["Customer"]
actions = ["selfservice"]
records = {{ Customer = {{ id = "customer" }} }}

[services.web.settings.roles.admin]
portal = "/admin"
read = ["*"]
write = ["*"]
actions = ["admin", "monitor", "reports", "api"]
"""

METER_SCRIPT = """<?xml version="1.0" encoding="UTF-8"?>
<script id="meter-reading" title="Meter reading" version="1" languages="en" start="meter">
  <question id="meter" kind="text">
    <prompt lang="en">What is the meter number?</prompt>
    <go to="reading"/>
  </question>
  <question id="reading" kind="number" min="0" max="99999">
    <prompt lang="en">What does the meter read?</prompt>
    <go to="thanks"/>
  </question>
  <info id="thanks" modes="agent">
    <prompt lang="en">Thank the customer for the reading {{ reading }}.</prompt>
    <go to="done"/>
  </info>
  <end id="done" outcome="reading-taken"/>
</script>
"""
"""A dialogue script the desktop's tests run: the meter number may come from the IVR."""

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_app(tmp_path):
    """A started application with the customers plugin, an agent and an admin user."""
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db"))
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("anna", "anna-password", roles=["agent"], agent="anna")
    web.users.add("root", "root-password", roles=["admin"])
    yield app
    app.stop()


@pytest.fixture
def web(web_app):
    return web_app.services.get("web")


class Client:
    """Starlette's test client on the front office's ASGI application, keeping the CSRF token
    of the page it last read."""

    def __init__(self, asgi):
        self.http = TestClient(asgi, base_url="http://front.test", follow_redirects=False)
        self.csrf = ""

    def page(self, path: str, **options):
        response = self.http.get(path, **options)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None, **options):
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **options)

    def login(self, name: str, password: str):
        self.page("/login")
        response = self.post("/login", {"name": name, "password": password})
        self.page("/login")  # the new session's token
        return response


@pytest.fixture
def client(web):
    found = Client(web.asgi)
    yield found
    found.http.close()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    executable = shutil.which("chromium")
    if executable is None:
        message = "chromium is not installed (apt-get install chromium)"
        if services_required():
            pytest.fail(message + " and CARUSO_REQUIRE_SERVICES is set", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()
