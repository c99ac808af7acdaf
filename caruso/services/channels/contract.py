"""The compliance suite every channel service runs against itself.

A channel - built in, a plugin's, an application's own - passes when a message
it receives through its real protocol becomes exactly one waiting interaction
of its channel, lands in the history, and the communication server's delivery
calls (ring, connect, withdraw, release) work on it through a whole
conversation without an error. Subclass it in a test module, as
``tests/channels/test_contract.py`` does for the built-ins::

    from caruso.services.channels.contract import ChannelContract

    class TestWhatsApp(ChannelContract):
        channel = "sms"
        service = "sms"

        def settings(self, tmp_path):
            return '[services.sms]\\nimplementation = "whatsapp:WhatsApp"\\n'

        def deliver(self, app, text):
            return app.services.get("sms").receive("+31612345678", text, "m-1").id
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ChannelContract"]

BASE = """
[application]
name = "Channel contract"

[storage]
url = "sqlite:///{folder}/contract.db"

[services.communication.settings]
offer_timeout = 60

[[services.communication.settings.queues]]
name = "contract"

[[services.communication.settings.agents]]
name = "tess"
capacity = {{ voice = 1, chat = 1, email = 1, sms = 1 }}
"""


class ChannelContract:
    """Tests a channel service must pass (see the module docstring).

    Set ``channel`` (the server's channel name) and ``service`` (the service's name); implement
    ``settings(tmp_path)`` (descriptor TOML for the channel; the queue is ``contract``, the agent
    ``tess``) and ``deliver(app, text)`` (send one message as a customer would, return its
    interaction id). ``extra_descriptor`` may disable services the application cannot run here.
    """

    channel: str = ""
    service: str = ""
    extra_descriptor: str = ""

    def settings(self, tmp_path: Path) -> str:
        raise NotImplementedError("return the TOML that configures the channel under test")

    def deliver(self, app: Any, text: str) -> str:
        raise NotImplementedError("send one message through the channel's protocol; return the interaction id")

    @pytest.fixture
    def contract_app(self, tmp_path):
        """The channel under test in a started application."""
        from caruso.testing import make_app

        descriptor = (BASE.format(folder=tmp_path) + textwrap.dedent(self.extra_descriptor)
                      + textwrap.dedent(self.settings(tmp_path)))
        app = make_app(tmp_path / "app", descriptor)
        app.start()
        try:
            yield app
        finally:
            app.stop()

    def test_the_service_implements_the_channel_interface(self, contract_app):
        """The service is registered under its name and has the server's delivery methods."""
        service = contract_app.services.get(self.service)
        assert [True] * 4 == [callable(getattr(service, name, None))
                              for name in ("ring", "connect", "withdraw", "release")]

    def test_an_inbound_message_is_one_waiting_interaction_of_its_channel(self, contract_app):
        """One message received: one interaction of the channel waits in the queue."""
        interaction = self.deliver(contract_app, "contract message one")
        waiting = contract_app.services.get("communication").waiting("contract")
        assert [(interaction, self.channel, "waiting")] == [(w.id, w.channel, w.state) for w in waiting]

    def test_the_message_is_in_the_history(self, contract_app):
        """The message is an inbound entry of the channel on its interaction, with its text."""
        interaction = self.deliver(contract_app, "contract message two")
        entries = contract_app.services.get("history").for_interaction(interaction)
        assert [(self.channel, "inbound", True)] == [
            (e.channel, e.direction, "contract message two" in (e.summary or "")) for e in entries[:1]]

    def test_a_whole_conversation_runs_without_a_channel_error(self, contract_app, caplog):
        """Offered (ring), accepted (connect), ended and completed (release): the interaction
        completes and the server never logs a failed channel request."""
        server = contract_app.services.get("communication")
        interaction = self.deliver(contract_app, "contract message three")
        with caplog.at_level(logging.ERROR, logger="caruso.communication"):
            server.login("tess")
            server.accept("tess", interaction)
            server.hangup(interaction, by="agent")
        server.event_log.flush()
        kinds = [e.kind for e in server.event_log.read() if e.interaction == interaction]
        assert (["routed", "answered", "wrapup", "completed"], []) == (
            kinds[-4:], [r.getMessage() for r in caplog.records if "channel request failed" in r.getMessage()])
