"""The one contact history, and the channels' tables on every backend (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from caruso.services.channels.history import HistoryService, customer_text
from caruso.services.manager import ServiceManager
from caruso.storage.manager import Storage
from caruso.testing import ManualClock, ServiceContract
from tests.channels.conftest import add_customer, wait_for


def _history(tmp_path, url=None):
    manager = ServiceManager(root=tmp_path)
    manager.register("clock", ManualClock())
    manager.register("storage", Storage(url or f"sqlite:///{tmp_path / 'h.db'}"))
    manager.register("history", HistoryService())
    manager.start_all()
    return manager


class TestHistoryServiceContract(ServiceContract):
    """The history service passes the compliance suite every service runs."""

    def make_service(self):
        return HistoryService()

    def register_collaborators(self, manager):
        manager.register("clock", ManualClock())
        manager.register("storage", Storage(f"sqlite:///{manager.root / 'contract.db'}"))


def test_every_channel_lands_in_one_history_in_the_order_it_happened(tmp_path):
    """Entries of several channels for one customer come back in the order recorded, with their
    channel, direction, agent and references; ``limit`` gives the newest, still in order."""
    manager = _history(tmp_path)
    history = manager.get("history")
    clock = manager.get("clock")
    recorded = []
    for channel, direction, agent in (("email", "inbound", None), ("chat", "outbound", "anna"),
                                      ("sms", "inbound", None), ("email", "outbound", "bert")):
        clock.advance(1)
        recorded.append(history.record(channel=channel, direction=direction, customer=42, agent=agent,
                                       interaction="ix-1", summary=f"{channel} {direction}", body=f"{channel}:1",
                                       attachments=["2026-01-05/a/01-scan.pdf"] if channel == "email" else ()))
    history.record(channel="sms", direction="inbound", customer=7, summary="someone else")
    try:
        assert recorded == history.for_customer(42)
        assert [("email", "inbound", None), ("chat", "outbound", "anna"), ("sms", "inbound", None),
                ("email", "outbound", "bert")] == [(e.channel, e.direction, e.agent) for e in history.for_customer(42)]
        assert recorded[2:] == history.for_customer(42, limit=2)
        assert ("2026-01-05/a/01-scan.pdf",) == history.for_customer(42)[0].attachments
        assert sorted(e.at for e in recorded) == [e.at for e in recorded]
    finally:
        manager.stop_all()


def test_an_unknown_address_is_kept_and_given_to_the_customer_once_known(tmp_path):
    """A message from an address nobody matched is recorded by address; assign() gives those entries
    to the customer identified later; composite keys are stored as JSON text."""
    manager = _history(tmp_path)
    history = manager.get("history")
    try:
        history.record(channel="email", direction="inbound", address="New@Example.org", summary="hello")
        assert 1 == history.assign("new@example.org", (3, "nl"))
        assert (['[3,"nl"]'], ["hello"]) == ([e.customer for e in history.for_address("new@example.org")],
                                             [e.summary for e in history.for_customer((3, "nl"))])
        assert "42" == customer_text(42)
        with pytest.raises(ValueError):
            history.record(channel="email", direction="sideways")
    finally:
        manager.stop_all()


def test_the_mail_outbox_and_history_work_on_every_backend(channels_app, database_url, relay):
    """On SQLite, PostgreSQL and MariaDB: a mail received over SMTP, its acknowledgement through the
    outbox to the relay, a long HTML body, and the customer's history in order."""
    app = channels_app(url=database_url)
    customer = add_customer(app, name="Jan", email="jan@example.nl")
    message = EmailMessage()
    message["From"] = "jan@example.nl"
    message["To"] = "support@example.com"
    message["Subject"] = "Big mail"
    message["Message-ID"] = "<big@example.nl>"
    message.set_content("hello " * 10)
    html = "<p>" + "x" * 120_000 + "</p>"  # past MariaDB's 64 KB TEXT
    message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", app.services.get("email").smtp_port) as client:
        client.send_message(message)
    (ack,) = wait_for(lambda: relay.messages)
    email = app.services.get("email")
    assert True == wait_for(lambda: email.outbox() == [])
    inbound = email.store.by_message_id("<big@example.nl>")
    assert html == inbound["html"].strip()
    assert [("email", "inbound"), ("email", "outbound")] == [
        (e.channel, e.direction) for e in app.services.get("history").for_customer(customer)]
    assert ack["Message-ID"] == app.services.get("history").for_customer(customer)[1].data["message_id"]
