"""Each channel is a built-in plugin's service: disabled, or swapped for another, by the descriptor."""

from __future__ import annotations

from caruso.plugins import DEFAULT_PLUGINS

SWAPPED_CHAT = '''
"""A chat channel of an application's own: it only keeps what the server asked."""

from caruso.services.channels.base import ChannelService


class LoggingChat(ChannelService):
    channel = "chat"

    def on_start(self):
        super().on_start()
        self.asked = []

    def ring(self, interaction, agent):
        self.asked.append(("ring", interaction.id, agent.name))

    def connect(self, interaction, agent):
        self.asked.append(("connect", interaction.id, agent.name))

    def release(self, interaction):
        self.asked.append(("release", interaction.id))
'''


def test_the_channels_are_built_in_plugins():
    """The history and each channel come from a plugin of their own, listed with the built-ins."""
    assert ["caruso.services.channels.plugin", "caruso.services.channels.email.plugin",
            "caruso.services.channels.chat.plugin", "caruso.services.channels.sms.plugin"] == [
        name for name in DEFAULT_PLUGINS if ".channels." in name]


def test_a_channel_disabled_in_the_descriptor_is_not_there(channels_app):
    """[services.sms] enabled = false: no sms service; the others run."""
    app = channels_app("""
    [services.sms]
    enabled = false
    """)
    assert (False, True, True, True) == ("sms" in app.services, "email" in app.services, "chat" in app.services,
                                         "history" in app.services)


def test_without_the_communication_server_no_channel_is_registered(tmp_path):
    """Channels feed the communication server: with it disabled they are not registered at all,
    and the application still starts."""
    from caruso.testing import make_app

    app = make_app(tmp_path / "app", f"""
    [application]
    name = "No contact centre"

    [storage]
    url = "sqlite:///{tmp_path / 'crm.db'}"

    [services.communication]
    enabled = false
    """)
    with app:
        assert (False, False, False, True) == ("email" in app.services, "chat" in app.services,
                                               "sms" in app.services, "history" in app.services)


def test_a_channel_can_be_swapped_for_the_applications_own(channels_app):
    """implementation = names a class in a plugin folder; the server asks it to ring and connect."""
    app = channels_app("""
    [plugins]
    folders = ["plugins"]

    [services.chat]
    implementation = "logging_chat:LoggingChat"
    """, files={"plugins/logging_chat.py": SWAPPED_CHAT})
    server = app.services.get("communication")
    chat = app.services.get("chat")
    view = server.offer("chat", queue="support", subject="hello")
    server.login("bert")
    server.accept("bert", view.id)
    server.hangup(view.id, by="customer")
    assert [("ring", view.id, "bert"), ("connect", view.id, "bert"), ("release", view.id)] == chat.asked


def test_caruso_outbox_shows_what_waits_and_queues_a_failed_mail_again(channels_app, relay, tmp_path):
    """The command reads the tables without starting anything: a mail refused for good is listed as
    failed with the relay's answer; --retry queues it again, and the running channel sends it."""
    from caruso.testing import run_cli
    from tests.channels.conftest import wait_for

    app = channels_app("""
    [services.email.settings.acknowledge]
    enabled = false
    """)
    relay.sink.refuse = "550 5.7.1 relaying denied"
    email = app.services.get("email")
    email.send_mail(["jan@example.nl"], "Your bill", "text")
    (failed,) = wait_for(lambda: [r for r in email.outbox() if r["state"] == "failed"])
    listing = run_cli("outbox", str(tmp_path / "app"))
    (line,) = [text for text in listing.output.splitlines() if text.startswith("e-mail")]
    assert (0, ["e-mail", str(failed["id"]), "failed", "1"]) == (listing.exit_code, line.split()[:4])
    assert "550 5.7.1 relaying denied" in line
    relay.sink.refuse = None
    again = run_cli("outbox", str(tmp_path / "app"), "--retry", str(failed["id"]))
    assert (0, f"e-mail {failed['id']} is queued again; the running e-mail channel sends it\n") == (
        again.exit_code, again.output)
    email.worker.wake()
    assert ["Your bill"] == [m["Subject"] for m in wait_for(lambda: relay.messages)]
    assert "nothing waits to be sent\n" == wait_for(lambda: run_cli("outbox", str(tmp_path / "app")).output
                                                    == "nothing waits to be sent\n" and "nothing waits to be sent\n")


def test_an_unconfigured_channel_stays_idle_and_says_how_to_configure_it(tmp_path):
    """An application with queues but no channel settings: no mail folder, no channel tables, health
    'idle', and sending is refused with what to configure."""
    import pytest
    import sqlalchemy as sa

    from caruso.errors import ServiceStateError
    from caruso.testing import make_app

    app = make_app(tmp_path / "app", f"""
    [application]
    name = "Voice only"

    [storage]
    url = "sqlite:///{tmp_path / 'crm.db'}"


    [[services.communication.settings.queues]]
    name = "support"
    """)
    with app:
        email, sms = app.services.get("email"), app.services.get("sms")
        with pytest.raises(ServiceStateError) as refused:
            email.send_mail(["jan@example.nl"], "Hello", "text")
        assert "configure [services.email.settings] addresses" in str(refused.value)
        with pytest.raises(ServiceStateError):
            sms.send_sms("+31612345678", "hello")
        tables = sa.inspect(app.services.get("storage").engine).get_table_names()
        channel_tables = [t for t in tables if t != "caruso_event" and not t.startswith("caruso_web_")]
        assert ([], False, "idle") == (channel_tables, (tmp_path / "app" / "mail").exists(),
                                       email.health().detail.split(":")[0])
        assert [] == app.services.get("history").for_customer(42)


def test_caruso_check_reports_the_channels_settings_at_their_lines(tmp_path):
    """A route to a queue that does not exist, a route for an address the channel does not serve, a
    chat queue nobody configured and a webhook without its secret: each at its line, exit 1."""
    from caruso.testing import run_cli

    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "caruso.toml").write_text("""[application]
name = "Checked"

[[services.communication.settings.queues]]
name = "support"

[services.email.settings]
addresses = ["support@example.com"]
routes = { "sales@example.com" = "sales" }

[services.chat.settings]
queues = ["support", "vip"]

[services.sms.settings]
port = 8082
""")
    result = run_cli("check", str(folder))
    toml = folder / "caruso.toml"
    assert (1, [
        f"{toml}:9: services.email.settings.routes.sales@example.com: 'sales@example.com' is not one of the addresses",
        f"{toml}:9: services.email.settings.routes.sales@example.com: no queue 'sales'; known: support",
        f"{toml}:12: services.chat.settings.queues.1: no queue 'vip'; known: support",
        f"{toml}:14: services.sms.settings.secret: the webhook needs a shared secret to check signatures",
    ]) == (result.exit_code, [line for line in result.output.splitlines() if "services." in line])
