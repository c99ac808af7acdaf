"""KPI alerts delivered by the real e-mail and SMS channels to real peers on loopback.

The application runs on the real clock (the communication server's timers on
their own thread): the rule is evaluated every 50 ms; the ``email`` service
queues the message and its outbox sends it to an aiosmtpd relay, the ``sms``
service posts it to an HTTP server playing the SMS gateway; both keep what
they receive. Nothing is asserted on time; ``wait_for`` polls until it is there.
"""

from __future__ import annotations

import textwrap

from caruso.testing import make_app
from tests.channels.conftest import Relay, wait_for
from tests.channels.test_sms import Gateway

DESCRIPTOR = """
[application]
name = "Alerts by e-mail"

[storage]
url = "sqlite:///{db}"

[services.communication.settings]
offer_timeout = 60

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.agents]]
name = "anna"

[services.email.settings]
from_address = "crm@example.com"

[services.email.settings.relay]
host = "127.0.0.1"
port = {port}

[services.email.settings.retry]
first = 0.05
max_delay = 0.2

[services.sms.settings]
number = "+3197010203040"

[services.sms.settings.gateway]
url = "http://127.0.0.1:{gateway}/send"
secret = "gateway-secret"

[services.sms.settings.retry]
first = 0.05
max_delay = 0.2

[services.monitor.settings]
evaluate_every = 0.05

[[services.monitor.settings.alerts]]
name = "support-waiting"
kpi = "waiting"
queue = "support"
above = 0
channels = ["monitor", "email", "sms"]
email = ["supervisor@example.com"]
sms = ["+31612345678"]
"""


def test_an_alarm_and_its_clearing_go_out_by_mail_and_sms_once_each(tmp_path):
    """A contact waits with nobody logged in: one ALERT mail and SMS to the supervisor; it hangs up: one
    CLEARED of each."""
    relay, gateway = Relay().start(), Gateway().start()
    app = make_app(tmp_path / "app", textwrap.dedent(DESCRIPTOR).format(db=tmp_path / "crm.db", port=relay.port,
                                                                         gateway=gateway.port))
    app.start()
    try:
        server = app.services.get("communication")
        contact = server.offer("voice", queue="support")
        (alert,) = wait_for(lambda: relay.messages)
        assert ("ALERT support-waiting (support)", "supervisor@example.com") == (alert["Subject"], alert["To"])
        assert "support-waiting: waiting of support is 1, above 0" == alert.get_content().splitlines()[0]
        server.hangup(contact.id)
        messages = wait_for(lambda: relay.messages if len(relay.messages) >= 2 else None)
        assert ["ALERT support-waiting (support)", "CLEARED support-waiting (support)"] == [
            m["Subject"] for m in messages]
        texts = wait_for(lambda: gateway.requests if len(gateway.requests) >= 2 else None)
        assert [["+31612345678", "ALERT support-waiting (support): support-waiting: waiting of support is 1, above 0"],
                ["+31612345678", "CLEARED support-waiting (support): support-waiting: waiting of support is 1, above 0"]
                ] == [[body.get("to"), body.get("text")] for body, _headers, _raw in texts]
        assert () == app.services.get("monitor").snapshot().alarms
    finally:
        app.stop()
        relay.stop()
        gateway.stop()
