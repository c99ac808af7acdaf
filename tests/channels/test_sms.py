"""The SMS channel with real peers: an HTTP client posting signed webhooks, an HTTP server on
loopback playing the gateway (taking messages, refusing them, being away)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from caruso.services.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers, verify
from caruso.services.channels.sms.service import e164
from tests.channels.conftest import add_customer, wait_for

SECRET = "webhook-secret"


class Gateway:
    """An HTTP server on loopback playing the SMS gateway: keeps each request; ``answer`` is the status
    it replies with; ``stop()`` / ``start()`` take it away and bring it back on the same port."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict, dict]] = []
        self.answer = 200
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Gateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append((json.loads(body), dict(self.headers), body))
                reply = json.dumps({"id": f"gw-{len(gateway.requests)}"}).encode()
                self.send_response(gateway.answer)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def gateway():
    running = Gateway().start()
    yield running
    running.stop()


def _sms_app(channels_app, gateway_port: int, extra: str = ""):
    return channels_app(f"""
    [services.sms.settings]
    port = 0
    secret = "{SECRET}"
    number = "+3197010203040"
    queue = "support"
    flood = {{ messages = 3, per = 60 }}

    [services.sms.settings.gateway]
    url = "http://127.0.0.1:{gateway_port}/send"
    secret = "gateway-secret"
    status_callback = "https://crm.example.com/sms/status"

    [services.sms.settings.retry]
    first = 0.05
    max_delay = 0.2
    """ + extra)


def _post(app, path: str, payload: dict, *, secret: str = SECRET, at: float | None = None, tamper: bool = False):
    body = json.dumps(payload).encode()
    headers = signed_headers(secret, body, time.time() if at is None else at)
    if tamper:
        body = body.replace(b"}", b', "extra": 1}')
    port = app.services.get("sms").port
    return httpx.post(f"http://127.0.0.1:{port}{path}", content=body,
                      headers={**headers, "Content-Type": "application/json"})


def test_a_signed_inbound_sms_becomes_an_interaction_of_the_customer_with_that_number(channels_app, gateway):
    """A webhook signed with the shared secret, from a national number: normalised to E.164, matched to
    the customer whose phone is stored in national form, queued, recorded."""
    app = _sms_app(channels_app, gateway.port)
    customer = add_customer(app, name="Jan", phone="0612345678")
    answer = _post(app, "/sms/inbound", {"id": "in-1", "from": "0612345678", "to": "+3197010203040",
                                         "text": "Is my bill paid?"})
    assert 200 == answer.status_code
    (waiting,) = app.services.get("communication").waiting("support")
    assert ("sms", "+31612345678", customer, "Is my bill paid?") == (
        waiting.channel, waiting.address, waiting.customer, waiting.subject)
    (entry,) = app.services.get("history").for_customer(customer)
    assert ("sms", "inbound", waiting.id, "Is my bill paid?") == (entry.channel, entry.direction, entry.interaction,
                                                                  entry.summary)


def test_a_webhook_with_a_bad_signature_is_refused_with_403_and_nothing_is_stored(channels_app, gateway):
    """Signed with another secret, a changed body, no signature, or signed ten minutes ago (a replay):
    403 each time, no row, no interaction, no history."""
    app = _sms_app(channels_app, gateway.port)
    payload = {"id": "in-1", "from": "+31612345678", "text": "hi"}
    port = app.services.get("sms").port
    answers = [
        _post(app, "/sms/inbound", payload, secret="guessed"),
        _post(app, "/sms/inbound", payload, tamper=True),
        httpx.post(f"http://127.0.0.1:{port}/sms/inbound", json=payload),
        _post(app, "/sms/inbound", payload, at=time.time() - 600),
        _post(app, "/sms/status", {"id": "gw-1", "status": "delivered"}, secret="guessed"),
    ]
    assert [403] * 5 == [a.status_code for a in answers]
    assert "the signature does not match" in answers[0].json()["error"]
    assert (0, [], []) == (app.services.get("sms").store.count(), app.services.get("communication").waiting(),
                           app.services.get("history").for_address("+31612345678"))


def test_a_webhook_delivered_twice_is_one_message_and_a_second_sms_joins_the_open_interaction(channels_app, gateway):
    """The gateway repeats a webhook (same id): answered as the first time. Another SMS from the same
    number while the first waits joins its interaction."""
    app = _sms_app(channels_app, gateway.port)
    first = _post(app, "/sms/inbound", {"id": "in-1", "from": "+31612345678", "text": "one"}).json()
    again = _post(app, "/sms/inbound", {"id": "in-1", "from": "+31612345678", "text": "one"}).json()
    second = _post(app, "/sms/inbound", {"id": "in-2", "from": "+31612345678", "text": "two"}).json()
    assert (first["interaction"], True) == (again["interaction"], again["duplicate"])
    assert (first["interaction"], True) == (second["interaction"], second["joined"])
    assert 1 == len(app.services.get("communication").waiting())
    assert ["one", "two"] == [e.summary for e in app.services.get("history").for_interaction(first["interaction"])]


def test_bad_numbers_floods_and_malformed_bodies_are_refused_and_not_stored(channels_app, gateway):
    """A sender that is no phone number (422), a body that is not the expected JSON (400), and the
    fourth message in a minute from one number (429): none of them is stored."""
    app = _sms_app(channels_app, gateway.port)
    assert 422 == _post(app, "/sms/inbound", {"id": "x", "from": "not a number", "text": "hi"}).status_code
    assert 400 == _post(app, "/sms/inbound", {"from": "+31612345678"}).status_code
    codes = [_post(app, "/sms/inbound", {"id": f"f{n}", "from": "+31612345678", "text": f"{n}"}).status_code
             for n in range(4)]
    assert [200, 200, 200, 429] == codes
    assert 3 == app.services.get("sms").store.count()


def test_send_sms_goes_to_the_gateway_signed_and_the_status_callback_marks_it_delivered(channels_app, gateway):
    """send_sms normalises the number and posts JSON with the reference and the callback, signed; the
    gateway's signed status callback marks it delivered."""
    app = _sms_app(channels_app, gateway.port)
    sms = app.services.get("sms")
    reference = sms.send_sms("06-12345678", "Your technician comes at 10:00.", agent="anna")
    (body, headers, raw) = wait_for(lambda: gateway.requests)[0]
    assert ({"to": "+31612345678", "from": "+3197010203040", "text": "Your technician comes at 10:00.",
             "reference": reference, "status_callback": "https://crm.example.com/sms/status"}) == body
    verify("gateway-secret", raw, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], now=time.time(), max_skew=60)
    assert "sent" == wait_for(lambda: sms.message(reference)["state"] == "sent" and "sent")
    assert 200 == _post(app, "/sms/status", {"id": "gw-1", "status": "delivered"}).status_code
    assert ("delivered", "gw-1") == (sms.message(reference)["state"], sms.message(reference)["gateway_id"])
    (entry,) = app.services.get("history").for_address("+31612345678")
    assert ("outbound", "anna") == (entry.direction, entry.agent)
    with pytest.raises(ValueError):
        sms.send_sms("call me", "hi")


def test_while_the_gateway_is_away_sms_wait_and_are_sent_when_it_is_back(channels_app, gateway):
    """The gateway is down: the SMS stays queued with the error (health degraded) and is sent once the
    gateway is back; a gateway that refuses (400) fails it for good."""
    port = gateway.port
    gateway.stop()
    app = _sms_app(channels_app, port)
    sms = app.services.get("sms")
    reference = sms.send_sms("+31612345678", "hello")
    waiting = wait_for(lambda: [r for r in sms.outbox() if r["attempts"] >= 2])
    assert ("queued", "degraded") == (waiting[0]["state"], sms.health().status)
    assert "cannot reach the SMS gateway" in waiting[0]["last_error"]
    gateway.start()
    assert "sent" == wait_for(lambda: sms.message(reference)["state"] == "sent" and "sent")
    assert 1 == len(gateway.requests)
    gateway.answer = 400
    refused = sms.send_sms("+31612345678", "again")
    assert ("failed", 1) == wait_for(lambda: sms.message(refused)["state"] == "failed" and
                                     (sms.message(refused)["state"], sms.message(refused)["attempts"]))


def test_signatures_and_numbers():
    """The signature covers timestamp and body; e164 reads national numbers with the country code."""
    assert sign("s", "1", b"x") != sign("s", "2", b"x")
    assert ["+31612345678", "+31201234567", "+442071838750"] == [
        e164("06 12345678", "31"), e164("020-1234567", "31"), e164("+44 20 7183 8750")]
