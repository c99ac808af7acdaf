"""The built-in channels pass the channel compliance suite, each through its own protocol."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from email.message import EmailMessage

import httpx
import pytest
import websockets

from caruso.services.channels.contract import ChannelContract
from caruso.services.channels.signing import signed_headers

class TestEmailChannel(ChannelContract):
    """The e-mail channel, fed over SMTP."""

    channel = service = "email"

    def settings(self, tmp_path):
        return """
        [services.email.settings]
        addresses = ["contract@example.com"]
        smtp = { port = 0 }
        acknowledge = { enabled = false }
        """

    def deliver(self, app, text):
        message = EmailMessage()
        message["From"] = "customer@example.nl"
        message["To"] = "contract@example.com"
        message["Subject"] = "Contract"
        message["Message-ID"] = f"<{time.monotonic_ns()}@example.nl>"
        message.set_content(text)
        with smtplib.SMTP("127.0.0.1", app.services.get("email").smtp_port) as client:
            client.send_message(message)
        return app.services.get("email").store.by_message_id(message["Message-ID"])["interaction"]


class TestChatChannel(ChannelContract):
    """The web chat, fed over its customer WebSocket (the socket stays open for the conversation)."""

    channel = service = "chat"

    def settings(self, tmp_path):
        return """
        [services.chat.settings]
        port = 0
        """

    @pytest.fixture(autouse=True)
    def _customer_leaves(self, contract_app):
        """Close the customer's socket (before the application stops)."""
        yield
        if getattr(self, "_loop", None) is not None:
            self._loop.run_until_complete(self._socket.close())
            self._loop.close()
            self._loop = None

    def deliver(self, app, text):
        port = app.services.get("chat").port
        ready: list[str] = []

        async def customer():
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", close_timeout=2)
            await ws.send(json.dumps({"type": "start", "name": "Contract"}))
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "queued":
                    ready.append(frame["chat"])
                    break
            await ws.send(json.dumps({"type": "message", "text": text}))
            while json.loads(await ws.recv())["type"] != "sent":
                pass
            return ws

        loop = asyncio.new_event_loop()
        self._socket = loop.run_until_complete(customer())   # kept open: the customer stays
        self._loop = loop
        return ready[0]


class TestSmsChannel(ChannelContract):
    """The SMS channel, fed through its signed webhook."""

    channel = service = "sms"

    def settings(self, tmp_path):
        return """
        [services.sms.settings]
        port = 0
        secret = "contract"
        """

    def deliver(self, app, text):
        body = json.dumps({"id": f"c-{time.monotonic_ns()}", "from": "+31612345678", "text": text}).encode()
        answer = httpx.post(f"http://127.0.0.1:{app.services.get('sms').port}/sms/inbound", content=body,
                            headers=signed_headers("contract", body, time.time()))
        return answer.json()["interaction"]
