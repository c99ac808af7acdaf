"""The web chat with real clients: uvicorn on a loopback port, the ``websockets`` client on both sides."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.channels.conftest import wait_for

CHAT = """
[services.chat.settings]
port = 0
title = "Chat <with> us"
queues = ["support", "billing"]
agent_token = "agent-secret"
max_message_length = 200
"""

SURVEY = """<?xml version="1.0" encoding="UTF-8"?>
<script id="meter-help" title="Meter help" version="1" languages="en" start="meter">
  <question id="meter" kind="text">
    <prompt lang="en">What is your meter number?</prompt>
    <go to="problem"/>
  </question>
  <question id="problem" kind="choice">
    <prompt lang="en">What is wrong?</prompt>
    <choice value="reading"><label lang="en">A wrong reading</label></choice>
    <choice value="bill"><label lang="en">The bill</label></choice>
    <go to="human"/>
  </question>
  <end id="human" outcome="escalated">
    <action name="escalate"><arg name="queue" value="'billing'"/></action>
  </end>
</script>
"""


async def _next(ws, kind: str, timeout: float = 10.0) -> dict:
    """The next frame of ``kind`` (frames of other kinds before it are skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


def _urls(app) -> tuple[str, str]:
    port = app.services.get("chat").port
    return f"ws://127.0.0.1:{port}/ws", f"ws://127.0.0.1:{port}/agent?name={{}}&token=agent-secret"


def test_the_chat_page_is_served_with_its_text_escaped(channels_app):
    """GET / returns the customer page; the configured title is escaped (autoescape), the session
    given in the address travels in a data attribute, escaped too."""
    app = channels_app(CHAT)
    port = app.services.get("chat").port
    page = httpx.get(f"http://127.0.0.1:{port}/", params={"session": '"><script>x()</script>'})
    assert 200 == page.status_code
    assert "<title>Chat &lt;with&gt; us</title>" in page.text
    assert 'data-session="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in page.text


def test_a_chat_waits_in_the_queue_and_both_sides_see_every_message_in_order(channels_app):
    """The customer starts a chat and writes while waiting; the agent logs in over the agent socket,
    is offered it, accepts, sees what was written so far, and the conversation runs in order
    both ways; everything is in the history, numbered."""
    app = channels_app(CHAT)
    customer_url, agent_url = _urls(app)

    async def scenario():
        async with websockets.connect(customer_url) as customer:
            await customer.send(json.dumps({"type": "start", "name": "Jan", "email": "jan@example.nl",
                                            "topic": "My meter", "queue": "support"}))
            queued = await _next(customer, "queued")
            for n in range(3):
                await customer.send(json.dumps({"type": "message", "text": f"waiting {n}"}))
                await _next(customer, "sent")
            async with websockets.connect(agent_url.format("bert")) as agent:
                await _next(agent, "hello")
                await agent.send(json.dumps({"type": "login"}))
                offer = await _next(agent, "offer")
                await agent.send(json.dumps({"type": "accept", "chat": offer["chat"]}))
                connected = await _next(agent, "connected")
                assert "bert" == (await _next(customer, "agent"))["name"]
                for n in range(20):
                    await agent.send(json.dumps({"type": "message", "chat": offer["chat"], "text": f"agent {n}"}))
                    await customer.send(json.dumps({"type": "message", "text": f"customer {n}"}))
                to_customer = [(await _next(customer, "message"))["text"] for _ in range(20)]
                to_agent = [(await _next(agent, "message"))["text"] for _ in range(20)]
                await agent.send(json.dumps({"type": "end", "chat": offer["chat"]}))
                await _next(customer, "ended")
            return queued, offer, connected, to_customer, to_agent

    queued, offer, connected, to_customer, to_agent = asyncio.run(scenario())
    assert (queued["chat"], "Jan", "My meter") == (offer["chat"], offer["name"], offer["subject"])
    assert ["waiting 0", "waiting 1", "waiting 2"] == [m["text"] for m in connected["transcript"]]
    assert [f"agent {n}" for n in range(20)] == to_customer
    assert [f"customer {n}" for n in range(20)] == to_agent
    entries = app.services.get("history").for_interaction(offer["chat"])
    assert list(range(1, 44)) == [e.data["seq"] for e in entries]
    assert ["inbound"] * 3 == [e.direction for e in entries[:3]]
    assert {"bert"} == {e.agent for e in entries[3:] if e.direction == "outbound"}
    event_log = app.services.get("communication").event_log
    event_log.flush()
    assert ["offered", "queued", "routed", "answered", "wrapup", "completed"] == [
        e.kind for e in event_log.read() if e.interaction == offer["chat"]]


def test_an_agent_holds_chats_up_to_their_chat_capacity(channels_app):
    """anna's chat capacity is 2: two chats are offered to her at once, the third waits until one ends."""
    app = channels_app(CHAT)
    customer_url, _ = _urls(app)
    server = app.services.get("communication")
    chat = app.services.get("chat")

    async def scenario():
        customers = [await websockets.connect(customer_url) for _ in range(3)]
        try:
            for n, ws in enumerate(customers):
                await ws.send(json.dumps({"type": "start", "name": f"c{n}", "queue": "billing"}))
            ids = [(await _next(ws, "queued"))["chat"] for ws in customers]
            server.login("anna")
            taken: list[str] = []
            while len(taken) < 2:
                offered = wait_for(lambda: [i for i in ids if i not in taken and server.interaction(i).state == "offered"])
                server.accept("anna", offered[0])
                taken.append(offered[0])
            (rest,) = [i for i in ids if i not in taken]
            states = [server.interaction(i).state for i in (*taken, rest)]
            first = customers[ids.index(taken[0])]
            chat.send_to_customer("anna", taken[0], "hello")
            hello = (await _next(first, "message"))["text"]
            server.hangup(taken[0], by="agent")
            await _next(first, "ended")
            third = wait_for(lambda: server.interaction(rest).state == "offered")
            return states, hello, third
        finally:
            for ws in customers:
                await ws.close()

    states, hello, third = asyncio.run(scenario())
    assert (["connected", "connected", "waiting"], "hello", True) == (states, hello, third)


def test_a_customer_escalating_from_self_service_brings_the_answers_to_the_agent(channels_app):
    """A web self-service session ends in an escalation to billing; the chat started with its id
    waits in billing, and the agent's offer and connection show the answers given."""
    app = channels_app(CHAT, files={"scripts/meter-help.xml": SURVEY})
    scripts = app.services.get("scripts")
    view = scripts.start_session("meter-help", mode="self-service", channel="web")
    view = scripts.answer(view.session_id, "E-1234")
    view = scripts.answer(view.session_id, "bill")
    assert "ended" == view.status
    customer_url, agent_url = _urls(app)

    async def scenario():
        async with websockets.connect(customer_url) as customer:
            await customer.send(json.dumps({"type": "start", "name": "Jan", "session": view.session_id}))
            queued = await _next(customer, "queued")
            async with websockets.connect(agent_url.format("anna")) as agent:
                await _next(agent, "hello")
                await agent.send(json.dumps({"type": "login"}))
                offer = await _next(agent, "offer")
                await agent.send(json.dumps({"type": "accept", "chat": offer["chat"]}))
                connected = await _next(agent, "connected")
            return queued, offer, connected

    queued, offer, connected = asyncio.run(scenario())
    expected = {"meter": "E-1234", "problem": "bill"}
    assert (expected, expected, "billing") == (
        offer["script"]["answers"], connected["script"]["answers"], connected["script"]["queue"])
    event_log = app.services.get("communication").event_log
    event_log.flush()
    assert [("queued", "billing")] == [(e.kind, e.queue) for e in event_log.read(kinds=["queued"])
                                       if e.interaction == queued["chat"]]


def test_bad_frames_are_refused_with_a_clear_error_and_nothing_is_recorded(channels_app):
    """A first frame that is not a start, an unknown queue, a too long message, a frame that is not
    JSON and a flood each get an error frame; none of them reaches the history; the chat goes on."""
    app = channels_app(CHAT + """
    [services.chat.settings.flood]
    messages = 5
    per = 60
    """)
    customer_url, _ = _urls(app)

    async def scenario():
        errors = []
        async with websockets.connect(customer_url) as ws:
            await ws.send(json.dumps({"type": "message", "text": "hi"}))
            errors.append((await _next(ws, "error"))["error"])
        async with websockets.connect(customer_url) as ws:
            await ws.send(json.dumps({"type": "start", "queue": "sales"}))
            errors.append((await _next(ws, "error"))["error"])
        async with websockets.connect(customer_url) as ws:
            await ws.send(json.dumps({"type": "start", "name": "Jan"}))
            chat_id = (await _next(ws, "queued"))["chat"]
            await ws.send(json.dumps({"type": "message", "text": "x" * 201}))
            errors.append((await _next(ws, "error"))["error"])
            await ws.send("this is not JSON")
            errors.append((await _next(ws, "error"))["error"])
            for n in range(6):
                await ws.send(json.dumps({"type": "message", "text": f"m{n}"}))
            errors.append((await _next(ws, "error"))["error"])
            await ws.send(json.dumps({"type": "end"}))
        return errors, chat_id

    errors, chat_id = asyncio.run(scenario())
    assert ['the first frame must be {"type": "start", ...}',
            "no chat queue 'sales'; choose one of: support, billing",
            "the chat message is larger than max_message_length (200)",
            'frames are JSON objects: {"type": ...}',
            "too many messages: at most 5 per 60 s"] == errors
    assert [f"m{n}" for n in range(5)] == [e.summary for e in app.services.get("history").for_interaction(chat_id)]


def test_an_agent_socket_without_the_token_is_closed_and_a_customer_who_leaves_abandons(channels_app):
    """The agents' WebSocket wants the shared token (refused with 403 otherwise); a customer who
    closes the page while waiting is an abandoned contact."""
    app = channels_app(CHAT)
    customer_url, agent_url = _urls(app)

    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(agent_url.format("anna").replace("agent-secret", "guess")):
                pass
        async with websockets.connect(customer_url) as ws:
            await ws.send(json.dumps({"type": "start", "name": "Jan"}))
            chat_id = (await _next(ws, "queued"))["chat"]
        return refused.value.response.status_code, chat_id

    code, chat_id = asyncio.run(scenario())
    server = app.services.get("communication")
    assert 403 == code
    assert True == wait_for(lambda: server.event_log.flush() and any(
        e.kind == "abandoned" for e in server.event_log.read() if e.interaction == chat_id))
