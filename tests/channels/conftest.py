"""Fixtures: a real application with the channels on loopback, and real peers to talk to them.

- ``channels_app(extra, url=...)``: a started application (SQLite file by default, the real
  clock, the communication server's timers on their own thread) with two queues, two agents,
  a Customer model, the e-mail channel's SMTP server on a free port and its relay pointing at
  ``relay``;
- ``relay``: an aiosmtpd server on loopback that keeps every message Caruso sends it;
- ``wait_for(predicate)``: polls until something arrived (never asserts on time).
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from caruso.services.channels.email.smtp import free_port
from caruso.testing import make_app

MODEL = """<model>
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="email" type="string"/>
  <attribute name="phone" type="string"/>
  <attribute name="segment" type="string" default="retail"/>
</object>
</model>
"""

DESCRIPTOR = """
[application]
name = "Channels"

[storage]
url = "{url}"

[services.communication.settings]
skills = ["billing"]
offer_timeout = 60

[services.communication.settings.identify]
object = "Customer"
phone = ["phone"]
email = ["email"]
country = "31"

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.queues]]
name = "billing"
requires = "skills HAS 'billing'"

[[services.communication.settings.agents]]
name = "anna"
skills = {{ billing = 5 }}
capacity = {{ voice = 1, chat = 2, email = 5, sms = 5 }}

[[services.communication.settings.agents]]
name = "bert"
capacity = {{ voice = 1, chat = 3, email = 5, sms = 5 }}


[services.email.settings]
addresses = ["support@example.com", "billing@example.com"]
routes = {{ "billing@example.com" = "billing" }}
from_address = "support@example.com"
from_name = "Example Support"

[services.email.settings.smtp]
port = 0
max_message_size = 200000
max_attachment_size = 50000
max_attachments = 3

[services.email.settings.relay]
host = "127.0.0.1"
port = {relay_port}
{relay_extra}

[services.email.settings.retry]
first = 0.05
max_delay = 0.2
max_attempts = 1000
"""


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """The predicate's first truthy value, polled until ``timeout`` seconds have passed (then its last)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Sink:
    """An aiosmtpd handler keeping what it receives; ``refuse`` makes it answer RCPT with that line."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: str | None = None
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class Relay:
    """A real SMTP server on loopback playing the company's relay; ``stop()`` / ``start()`` to take it away."""

    def __init__(self, port: int | None = None, **controller: Any):
        self.port = port or free_port()
        self.sink = Sink()
        self.options = controller
        self.controller: Controller | None = None

    def start(self) -> Relay:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Any]:
        with self.sink.lock:
            return list(self.sink.messages)


@pytest.fixture
def relay():
    """A running relay on a free loopback port, stopped at the end."""
    running = Relay().start()
    yield running
    running.stop()


@pytest.fixture
def channels_app(tmp_path, relay):
    """A factory: ``channels_app(extra_toml, url=, relay_port=, relay_extra=, folder=)`` -> a started app.

    ``relay_extra`` is TOML added to ``[services.email.settings.relay]``.
    """
    started = []

    def make(extra: str = "", *, url: str | None = None, relay_port: int | None = None, relay_extra: str = "",
             folder: str = "app", files: dict[str, str] | None = None):
        url = url or f"sqlite:///{tmp_path / 'crm.db'}"
        descriptor = DESCRIPTOR.format(url=url, relay_port=relay_port or relay.port,
                                       relay_extra=textwrap.dedent(relay_extra)) + textwrap.dedent(extra)
        app = make_app(tmp_path / folder, descriptor, {"models/crm.xml": MODEL, **(files or {})})
        app.start()
        started.append(app)
        _create_missing_tables(app)
        return app

    yield make
    for app in reversed(started):
        app.stop()


def _create_missing_tables(app) -> None:
    """Create the model's and the script sessions' tables (the services created their own)."""
    import sqlalchemy as sa

    storage = app.services.get("storage")
    for metadata in storage.metadatas:
        inspector = sa.inspect(storage.engine)
        if not all(inspector.has_table(name) for name in metadata.tables):
            storage.upgrade(metadata)


def add_customer(app, **values) -> int:
    """Create a Customer through the business objects; its key."""
    bom = app.services.get("bom")
    with bom.unit_of_work() as session:
        customer = bom.model["Customer"](**values)
        session.add(customer)
        session.flush()
        return customer.id
