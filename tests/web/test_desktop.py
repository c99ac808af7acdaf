"""The agent desktop's tools on a held contact, through the front office's forms: the script
panel (IVR answers known, a self-service session continued), the chat, the e-mail reply, the
transfer, wrap-up with the script's outcome; and the refusals - another agent's contact, a
forged CSRF token."""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
from email import policy
from email.message import EmailMessage

import httpx
import pytest
from starlette.testclient import TestClient

from caruso.testing import make_app
from tests.channels.conftest import Relay, wait_for
from tests.web.conftest import CSRF, METER_SCRIPT, Client

DESCRIPTOR = """
[application]
name = "Desktop tools"

[storage]
url = "sqlite:///{db}"

[plugins]
enabled = ["customers"]

[services.communication.settings]
offer_timeout = 600

[services.communication.settings.identify]
object = "Customer"
phone = ["phone"]
email = ["email"]

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.queues]]
name = "billing"

[[services.communication.settings.agents]]
name = "anna"

[[services.communication.settings.agents]]
name = "bert"

[services.email.settings]
addresses = ["support@example.com"]
from_address = "support@example.com"
from_name = "Example Support"

[services.email.settings.relay]
host = "127.0.0.1"
port = {relay_port}

[services.email.settings.retry]
first = 0.05
max_delay = 0.2

[services.sms.settings]
secret = "webhook-secret"
"""


PHONE = "+31201234567"
EMAIL = "jan@example.nl"


@pytest.fixture
def relay():
    running = Relay().start()
    yield running
    running.stop()


@pytest.fixture
def desk(tmp_path, relay):
    """A started application: two queues, agents anna and bert (both web users), the chat mounted
    at /chat, the e-mail channel sending to a loopback relay, one agent script, one customer."""
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db", relay_port=relay.port),
                   {"scripts/meter.xml": METER_SCRIPT})
    app.start()
    app.services.get("storage").upgrade()
    web = app.services.get("web")
    web.users.add("anna", "anna-password", roles=["agent"], agent="anna")
    web.users.add("bert", "bert-password", roles=["agent"], agent="bert")
    bom = app.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        customer = bom.Customer(name="Jan de Vries", phone=PHONE, email=EMAIL, number="C-1")
        session.add(customer)
        session.flush()
        app.customer = customer.id
    yield app
    app.stop()


@pytest.fixture
def clients(desk):
    made: list[Client] = []

    def agent(name: str) -> Client:
        client = Client(desk.services.get("web").asgi)
        client.login(name, f"{name}-password")
        client.page("/desktop")
        made.append(client)
        return client

    yield agent
    for client in made:
        client.http.close()


def _ready(client: Client) -> None:
    assert 303 == client.post("/desktop/state", {"state": "ready"}).status_code


def _take(client: Client, interaction: str) -> str:
    """Accept ``interaction`` and return the desktop page that follows."""
    assert 303 == client.post(f"/desktop/{interaction}/accept").status_code
    return client.page("/desktop").text


def _ivr_call(server):
    return server.offer("voice", address=PHONE, data={"ivr": {
        "session": "s-ivr", "script": "main-menu", "status": "ended", "outcome": "transferred",
        "answers": {"meter": "M-123"}}})


def _article(page: str, interaction: str) -> str:
    start = page.index(f'data-interaction="{interaction}"')
    end = page.find('<article class="interaction"', start)
    return page[start:] if end < 0 else page[start:end]


def test_the_script_panel_runs_a_script_to_the_end_with_the_ivr_answers_skipped(desk, clients):
    """The IVR's answer (the meter number) is shown in .script-answers and passed as known: the
    script starts at the reading; a refused answer shows the engine's error; the script ends,
    is recorded in the customer's contact history, and wrap-up completes with its outcome."""
    server = desk.services.get("communication")
    anna = clients("anna")
    _ready(anna)
    call = _ivr_call(server)
    page = _article(_take(anna, call.id), call.id)
    answers = page[page.index('class="script-answers"'):]
    assert "<dt>meter</dt><dd>M-123</dd>" in answers
    assert "Meter reading" in page  # the agent scripts to choose from

    assert 303 == anna.post(f"/desktop/{call.id}/script", {"script": "meter-reading"}).status_code
    page = _article(anna.page("/desktop").text, call.id)
    assert "What does the meter read?" in page and "What is the meter number?" not in page
    assert 'data-step="reading"' in page

    anna.post(f"/desktop/{call.id}/script/answer", {"step": "reading", "value": "a lot"})
    page = _article(anna.page("/desktop").text, call.id)
    refusal = re.search(r'<p class="error script-error" role="alert">([^<]+)</p>', page)
    assert refusal is not None and "number" in refusal.group(1)
    assert 'data-step="reading"' in page

    anna.post(f"/desktop/{call.id}/script/answer", {"step": "reading", "value": "4711"})
    page = _article(anna.page("/desktop").text, call.id)
    assert "script-error" not in page
    assert "Thank the customer for the reading 4711." in page
    anna.post(f"/desktop/{call.id}/script/answer", {"step": "thanks"})
    page = _article(anna.page("/desktop").text, call.id)
    assert "The script has ended: reading-taken." in page

    entries = [e for e in desk.services.get("history").for_customer(desk.customer)
               if (e.data or {}).get("script") == "meter-reading"]
    assert 1 == len(entries)
    assert ("anna", call.id, "agent") == (entries[0].agent, entries[0].interaction, entries[0].data["kind"])
    assert "meter: M-123" in entries[0].summary and "reading: 4711" in entries[0].summary

    assert 303 == anna.post(f"/desktop/{call.id}/complete", {"code": "resolved"}).status_code
    server.tick()
    completed = [e for e in server.event_log.read(after=0) if e.interaction == call.id and e.kind == "completed"]
    assert [{"code": "resolved", "outcome": "reading-taken"}] == [
        {k: e.data[k] for k in ("code", "outcome")} for e in completed]
    assert "ready" == server.agent("anna").state


def test_a_chat_escalated_from_self_service_continues_its_session_and_carries_messages(desk, clients):
    """The customer answered the meter number in self-service and escalated to a chat: the agent
    sees the answer in .script-answers, continues the same session in agent mode, reads what the
    customer wrote, and the agent's message reaches the customer's chat."""
    scripts = desk.services.get("scripts")
    session = scripts.start_session("meter-reading", mode="self-service", customer=desk.customer, channel="web")
    scripts.answer(session.session_id, "M-9")
    anna = clients("anna")
    _ready(anna)
    with _chat_client(desk) as chat, chat.websocket_connect("/ws") as customer:
        customer.send_json({"type": "start", "name": "Jan", "email": EMAIL, "session": session.session_id})
        chat_id = _frame(customer, "queued")["chat"]
        customer.send_json({"type": "message", "text": "Hello, <b>anyone</b>?"})
        _frame(customer, "sent")
        page = _article(_take(anna, chat_id), chat_id)
        assert "<dt>meter</dt><dd>M-9</dd>" in page[page.index('class="script-answers"'):]
        assert "Hello, &lt;b&gt;anyone&lt;/b&gt;?" in page  # the transcript, escaped
        assert "Continue the customer's script" in page

        anna.post(f"/desktop/{chat_id}/script", {"resume": "1"})
        page = _article(anna.page("/desktop").text, chat_id)
        assert "What does the meter read?" in page
        assert ("agent", "reading") == (scripts.view(session.session_id).mode, scripts.view(session.session_id).step)

        assert 303 == anna.post(f"/desktop/{chat_id}/chat", {"text": "Good morning, Jan."}).status_code
        message = _frame(customer, "message")
        assert ("anna", "Good morning, Jan.") == (message["from"], message["text"])
        assert "Good morning, Jan." in anna.page("/desktop").text


def _chat_client(app) -> TestClient:
    """The chat's own application, as a customer's browser reaches it.

    Not through the front office's /chat mount: its session middleware does not pass
    WebSockets through yet (``Request(scope)`` on a websocket scope; see docs/agent-desktop.md).
    """
    return TestClient(app.services.get("chat").asgi, base_url="http://chat.test")


def _frame(websocket, kind: str) -> dict:
    while True:
        frame = websocket.receive_json()
        if frame["type"] == kind:
            return frame


def test_an_e_mail_is_shown_and_answered_through_the_relay(desk, clients, relay):
    """The customer's e-mail is offered to the agent, shown, and the reply goes out through the
    outbox to the relay, as an answer to it."""
    email = desk.services.get("email")
    anna = clients("anna")
    _ready(anna)
    message = EmailMessage()
    message["From"] = f"Jan de Vries <{EMAIL}>"
    message["To"] = "support@example.com"
    message["Subject"] = "My meter"
    message["Message-ID"] = "<m1@example.nl>"
    message.set_content("It shows <nothing>.")
    received = email.receive(message.as_bytes(policy=policy.SMTP), envelope_from=EMAIL,
                             recipients=["support@example.com"])
    page = _article(_take(anna, received.interaction), received.interaction)
    assert "It shows &lt;nothing&gt;." in page

    anna.post(f"/desktop/{received.interaction}/reply", {"text": "We will send a technician."})
    assert "Your reply is on its way" in anna.page("/desktop").text
    replies = wait_for(lambda: [m for m in relay.messages if "technician" in m.get_content()])
    assert 1 == len(replies)
    assert (True, "<m1@example.nl>", EMAIL) == (
        replies[0]["Subject"].endswith("Re: My meter"), replies[0]["In-Reply-To"], replies[0]["To"])
    sent = [mail for mail in email.messages(received.interaction) if mail.direction == "outbound"
            and "technician" in mail.text]
    assert 1 == len(sent)


def test_an_sms_is_shown_and_answered(desk, clients):
    """The customer's SMS is shown with the contact; the reply is queued for the gateway as an
    answer on the same interaction."""
    sms = desk.services.get("sms")
    anna = clients("anna")
    _ready(anna)
    received = sms.receive("gw-1", PHONE, "Is my <meter> fixed?")
    page = _article(_take(anna, received["interaction"]), received["interaction"])
    assert "Is my &lt;meter&gt; fixed?" in page
    anna.post(f"/desktop/{received['interaction']}/reply", {"text": "Yes, since this morning."})
    assert "Your reply is on its way" in anna.page("/desktop").text
    assert [(PHONE, "Yes, since this morning.")] == [
        (row["number"], row["text"]) for row in sms.outbox() if row["interaction"] == received["interaction"]]


def test_a_transfer_moves_the_contact_and_its_script_session_to_the_other_queue(desk, clients):
    """anna transfers a call to the billing queue; bert, ready, is offered it, and continues the
    script where anna left it."""
    server = desk.services.get("communication")
    anna, bert = clients("anna"), clients("bert")
    _ready(anna)
    call = server.offer("voice", address=PHONE)
    _take(anna, call.id)
    anna.post(f"/desktop/{call.id}/script", {"script": "meter-reading"})
    anna.post(f"/desktop/{call.id}/script/answer", {"step": "meter", "value": "M-77"})
    _ready(bert)

    assert 303 == anna.post(f"/desktop/{call.id}/transfer", {"target": "queue:billing", "reason": "a bill"}).status_code
    assert "Transferred to queue billing." in anna.page("/desktop").text
    moved = server.interaction(call.id)
    assert ("billing", "offered") == (moved.queue, moved.state)
    assert call.id not in server.agent("anna").interactions
    page = _article(_take(bert, call.id), call.id)
    assert "What does the meter read?" in page
    server.tick()
    transferred = [e for e in server.event_log.read(after=0) if e.interaction == call.id and e.kind == "transferred"]
    assert [("anna", "billing", "a bill")] == [(e.agent, e.data["to_queue"], e.data["reason"]) for e in transferred]


def test_a_transfer_to_an_agent_and_a_transfer_without_a_target(desk, clients):
    """A contact can go to one agent by name; a form without a target is refused with a message."""
    server = desk.services.get("communication")
    anna, bert = clients("anna"), clients("bert")
    _ready(anna)
    call = server.offer("voice", address=PHONE)
    _take(anna, call.id)
    _ready(bert)
    anna.post(f"/desktop/{call.id}/transfer", {"target": ""})
    assert "choose a queue or an agent to transfer to" in anna.page("/desktop").text
    anna.post(f"/desktop/{call.id}/transfer", {"target": "agent:bert"})
    assert ["bert"] == _offered(server, call.id)
    assert "offered" == server.interaction(call.id).state


def _offered(server, interaction: str) -> list[str]:
    return [agent.name for agent in server.agent_views() if interaction in agent.interactions]


@pytest.mark.parametrize("path, data", [
    ("script", {"script": "meter-reading"}),
    ("script/answer", {"value": "M-1"}),
    ("script/back", {}),
    ("chat", {"text": "hello"}),
    ("reply", {"text": "hello"}),
    ("transfer", {"target": "queue:billing"}),
])
def test_an_agent_cannot_work_on_another_agents_contact(desk, clients, path, data):
    """bert posting to anna's call gets 404, as for a contact that does not exist, and the
    attempt is in the access log; anna's call is untouched."""
    server = desk.services.get("communication")
    anna, bert = clients("anna"), clients("bert")
    _ready(anna)
    call = server.offer("voice", address=PHONE)
    _take(anna, call.id)
    response = bert.post(f"/desktop/{call.id}/{path}", data)
    assert 404 == response.status_code
    assert 404 == bert.post(f"/desktop/no-such-call/{path}", data).status_code
    logged = desk.services.get("web").access.latest(event="not-found")
    assert any(entry["user"] == "bert" and call.id in (entry["detail"] or "") for entry in logged)
    assert ("connected", "anna") == (server.interaction(call.id).state, server.interaction(call.id).agent)


@pytest.mark.parametrize("path, data", [
    ("script", {"script": "meter-reading"}),
    ("script/answer", {"value": "M-1"}),
    ("script/back", {}),
    ("chat", {"text": "hello"}),
    ("reply", {"text": "hello"}),
    ("transfer", {"target": "queue:billing"}),
    ("complete", {"code": "x"}),
])
def test_a_forged_csrf_token_is_refused_on_every_form(desk, clients, path, data):
    """Each of the desktop's forms, posted with a forged token, is 403 and changes nothing."""
    server = desk.services.get("communication")
    anna = clients("anna")
    _ready(anna)
    call = server.offer("voice", address=PHONE)
    _take(anna, call.id)
    response = anna.http.post(f"/desktop/{call.id}/{path}", data={**data, "csrf_token": "forged-token"})
    assert 403 == response.status_code
    assert "security token is missing or wrong" in response.text
    assert ("connected", "anna", "support") == (server.interaction(call.id).state, server.interaction(call.id).agent,
                                               server.interaction(call.id).queue)
    assert "script-step" not in anna.page("/desktop").text
    events = desk.services.get("web").access.latest(event="csrf-refused")
    assert any(entry["user"] == "anna" for entry in events)


def test_the_desktop_says_what_is_wrong_when_a_tool_does_not_fit(desk, clients):
    """Answering before starting a script, chatting on a call, replying to a call, and an
    unknown script each come back as a message on the desktop, not an error page."""
    server = desk.services.get("communication")
    anna = clients("anna")
    _ready(anna)
    call = server.offer("voice", address=PHONE)
    _take(anna, call.id)
    expected = {
        ("script/answer", "value=1"): "no script runs for this contact yet; start one first",
        ("chat", "text=hi"): f"interaction {call.id} is voice, not a chat",
        ("reply", "text=hi"): f"interaction {call.id} is voice: only an e-mail or an SMS is answered with a reply",
        ("script", "script=meter-readin"): "no dialogue script &#39;meter-readin&#39;",
        ("script", "script="): "choose a script to start",
    }
    for (path, body), message in expected.items():
        key, _, value = body.partition("=")
        assert 303 == anna.post(f"/desktop/{call.id}/{path}", {key: value}).status_code
        page = anna.page("/desktop").text
        assert message in page, (path, page)


def test_customer_chat_messages_reach_the_desktop_live(desk):
    """Over a real server: the desktop's event stream carries the customer's chat message
    (``event: chat``) as it is written, without a reload; when the page goes away, the
    desktop's connection to the chat goes with it."""
    web = desk.services.get("web")
    server = desk.services.get("communication")
    url = web.listen(port=0)
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as http:
        token = CSRF.search(http.get("/login").text).group(1)
        http.post("/login", data={"name": "anna", "password": "anna-password", "csrf_token": token})
        token = CSRF.search(http.get("/desktop").text).group(1)
        http.post("/desktop/state", data={"state": "ready", "csrf_token": token})
        lines: queue.Queue[str] = queue.Queue()
        # the stream on a plain socket, as a browser holds it: closing it is the page going away
        host, port = url.removeprefix("http://").split(":")
        events = socket.create_connection((host, int(port)), timeout=10)
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())

        def listen() -> None:
            try:
                for line in events.makefile("rb"):
                    lines.put(line.decode().rstrip("\r\n"))
            except OSError:  # closed at the end of the test
                pass

        with _chat_client(desk) as chat, chat.websocket_connect("/ws") as customer:
            customer.send_json({"type": "start", "name": "Jan", "email": EMAIL})
            chat_id = _frame(customer, "queued")["chat"]
            assert wait_for(lambda: server.interaction(chat_id).state == "offered")
            http.post(f"/desktop/{chat_id}/accept", data={"csrf_token": token})
            events.sendall(f"GET /desktop/events HTTP/1.1\r\nHost: {host}\r\nCookie: {cookies}\r\n"
                           "Accept: text/event-stream\r\n\r\n".encode())
            threading.Thread(target=listen, daemon=True).start()
            assert "HTTP/1.1 200 OK" == lines.get(timeout=10)
            found = None
            for attempt in range(50):  # the stream follows the chat just after it opens
                customer.send_json({"type": "message", "text": f"is anyone there {attempt}"})
                found = _chat_event(lines, timeout=0.2)
                if found is not None:
                    break
            assert found is not None and found["interaction"] == chat_id
            assert found["text"].startswith("is anyone there")
            assert "customer" == found["from"]
            chat_service = desk.services.get("chat")
            assert "1 agents connected" in chat_service.health().detail
            events.shutdown(socket.SHUT_RDWR)  # the page goes away: it stops following the chat
            events.close()
            assert wait_for(lambda: "0 agents connected" in chat_service.health().detail)


def _chat_event(lines: queue.Queue, *, timeout: float) -> dict | None:
    event = None
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "chat":
            return json.loads(line[6:])
