"""The e-mail channel with real clients: smtplib to Caruso's SMTP server, an aiosmtpd relay receiving.

Every bad input of the issue is fed and checked for its clear error and that nothing was lost.
"""

from __future__ import annotations

import hashlib
import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import sqlalchemy as sa

from tests.channels.conftest import Relay, add_customer, wait_for


def _mail(sender="jan@example.nl", to="support@example.com", subject="My meter", text="It is broken.",
          message_id: str | None = "auto", **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Jan de Vries <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    if message_id == "auto":
        message_id = make_msgid(domain="example.nl")
    if message_id:
        message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


def _send(app, message, *, sender=None, to=None) -> None:
    port = app.services.get("email").smtp_port
    with smtplib.SMTP("127.0.0.1", port) as client:
        if isinstance(message, bytes):
            client.sendmail(sender, to, message)
        else:
            client.send_message(message)


def _mail_rows(app) -> list[dict]:
    store = app.services.get("email").store
    with store.storage.transaction() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(store.mail).order_by(store.mail.c.id))]


def _files(app) -> list[str]:
    folder = app.services.get("email").store.folder
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_mail_becomes_one_waiting_interaction_and_is_acknowledged_with_its_case(channels_app, relay):
    """smtplib sends to the running SMTP server: one e-mail interaction waits in the queue, the
    history has the message, and the relay receives an acknowledgement naming the case and
    answering the original."""
    app = channels_app()
    message = _mail()
    _send(app, message)
    server = app.services.get("communication")
    (waiting,) = server.waiting("support")
    case = waiting.data["case"]
    assert ("email", "jan@example.nl", "My meter", message["Message-ID"]) == (
        waiting.channel, waiting.address, waiting.subject, waiting.external)
    (ack,) = wait_for(lambda: relay.messages)
    assert (f"[{case}] We received your message: My meter", message["Message-ID"], "auto-replied",
            "jan@example.nl") == (ack["Subject"], ack["In-Reply-To"], ack["Auto-Submitted"], ack["To"])
    history = app.services.get("history").for_address("jan@example.nl")
    assert [("inbound", waiting.id, "It is broken."), ("outbound", waiting.id, ack.get_content().splitlines()[0])] == [
        (h.direction, h.interaction, h.summary.splitlines()[0]) for h in history]


def test_a_reply_joins_the_open_interaction_of_its_case(channels_app, relay):
    """The customer answers the acknowledgement (In-Reply-To): while the interaction is open the
    reply joins it - still one interaction, two received messages on it."""
    app = channels_app()
    first = _mail()
    _send(app, first)
    (ack,) = wait_for(lambda: relay.messages)
    _send(app, _mail(subject="Re: " + ack["Subject"], text="Also the gas meter.", In_Reply_To=ack["Message-ID"],
                     References=f"{first['Message-ID']} {ack['Message-ID']}"))
    server = app.services.get("communication")
    (waiting,) = server.waiting("support")
    email = app.services.get("email")
    assert [("inbound", "offered"), ("outbound", "sent"), ("inbound", "joined")] == [
        (m.direction, m.status) for m in email.messages(waiting.id)]
    assert 1 == len(wait_for(lambda: relay.messages))  # a follow-up is not acknowledged again


def test_after_the_interaction_ended_a_mail_naming_the_case_opens_a_follow_up(channels_app, relay):
    """A new mail carrying only the case reference in its subject, after the first interaction was
    completed, opens a new interaction in the same case, pointing at the earlier one."""
    app = channels_app()
    _send(app, _mail())
    server = app.services.get("communication")
    (first,) = server.waiting("support")
    server.login("bert")
    server.accept("bert", first.id)
    server.hangup(first.id, by="agent")   # no wrap-up time: completed at once
    case = first.data["case"]
    _send(app, _mail(subject=f"About [{case}] again", text="It broke again."))
    follow_id = _mail_rows(app)[-1]["interaction"]
    assert follow_id != first.id
    follow = server.interaction(follow_id)
    assert (case, first.id) == (follow.data["case"], follow.parent)


def test_a_forged_reference_to_another_customers_case_opens_a_case_of_its_own(channels_app, relay):
    """Someone else's mail whose References name Jan's message does not join Jan's case: a new case,
    with the claim noted."""
    app = channels_app()
    jans = _mail()
    _send(app, jans)
    _send(app, _mail(sender="eve@example.org", subject="Re: My meter", References=jans["Message-ID"]))
    server = app.services.get("communication")
    jan, eve = server.waiting("support")
    assert jan.data["case"] != eve.data["case"]
    assert [f"refers to case {jan.data['case']} of another sender"] == eve.data["problems"]


def test_mail_to_the_billing_address_goes_to_the_billing_queue_and_unknown_addresses_are_refused(channels_app):
    """routes sends billing@ to its queue; RCPT TO an address the channel does not serve gets 550."""
    app = channels_app()
    _send(app, _mail(to="billing@example.com"))
    server = app.services.get("communication")
    assert [1, 0] == [len(server.waiting("billing")), len(server.waiting("support"))]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(app, _mail(to="sales@example.com"))
    assert 550 == refused.value.recipients["sales@example.com"][0]


def test_a_message_over_the_size_limit_is_refused_with_552_and_nothing_is_kept(channels_app):
    """max_message_size refuses with 552 (SIZE is announced, the client is told), and no row, no
    file, no interaction exists afterwards."""
    app = channels_app()
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused:
        _send(app, _mail(text="x" * 300_000))
    assert 552 == refused.value.smtp_code
    assert ([], [], []) == (_mail_rows(app), _files(app), app.services.get("communication").waiting())


def test_attachments_are_stored_and_a_too_large_one_is_refused_with_552(channels_app):
    """An attachment is kept as a file with its digest and referenced from the history; one over
    max_attachment_size, or more than max_attachments, is refused with 552 and nothing is kept."""
    app = channels_app()
    message = _mail()
    scan = bytes(range(256)) * 40
    message.add_attachment(scan, maintype="application", subtype="pdf", filename="meter.pdf")
    _send(app, message)
    email = app.services.get("email")
    row = _mail_rows(app)[0]
    (attachment,) = email.message(row["id"]).attachments
    assert ("meter.pdf", len(scan), hashlib.sha256(scan).hexdigest()) == (
        attachment["name"], attachment["size"], attachment["sha256"])
    assert scan == email.store.path(attachment["path"]).read_bytes()
    (entry,) = app.services.get("history").for_address("jan@example.nl")[:1]
    assert (attachment["path"],) == entry.attachments
    kept = ([r["id"] for r in _mail_rows(app)], _files(app))
    huge = _mail(text="see attached")
    huge.add_attachment(b"y" * 60_000, maintype="application", subtype="octet-stream", filename="big.bin")
    many = _mail(text="four files")
    for n in range(4):
        many.add_attachment(b"z", maintype="text", subtype="plain", filename=f"{n}.txt")
    for bad in (huge, many):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            _send(app, bad)
        assert 552 == refused.value.smtp_code
    assert kept == ([r["id"] for r in _mail_rows(app)], _files(app))


def test_html_mail_is_stored_as_received_and_shown_only_sanitised(channels_app):
    """HTML with a script, an event handler and a javascript: link is kept byte for byte; the view
    for the agent's screen has none of them."""
    app = channels_app()
    html = ('<p onclick="steal()">Hello <b>team</b><script>alert(document.cookie)</script>'
            '<a href="javascript:alert(1)">click</a> <a href="https://example.nl/bill">bill</a>'
            '<img src="https://tracker.example/p.gif"></p>')
    message = _mail()
    message.add_alternative(html, subtype="html")
    _send(app, message)
    view = app.services.get("email").message(_mail_rows(app)[0]["id"])
    assert html == view.html.strip()
    assert ('<p>Hello <b>team</b><a rel="noopener noreferrer">click</a> '
            '<a href="https://example.nl/bill" rel="noopener noreferrer">bill</a></p>') == view.safe_html.strip()


def test_malformed_mime_is_parked_byte_for_byte_and_can_be_released(channels_app):
    """A multipart without its boundary is accepted (250), kept exactly as sent, parked for an
    operator with the reason, and released into the queue when the operator says so."""
    app = channels_app()
    raw = (b"From: jan@example.nl\r\nTo: support@example.com\r\nSubject: broken\r\nMessage-ID: <b1@example.nl>\r\n"
           b"Content-Type: multipart/mixed\r\n\r\n--nothing here\r\n")
    _send(app, raw, sender="jan@example.nl", to=["support@example.com"])
    email = app.services.get("email")
    (parked,) = email.parked()
    assert raw == parked.raw.read_bytes()
    assert "no boundary in multipart" in parked.problems
    assert "parked for an operator" in email.health().detail
    assert [] == app.services.get("communication").waiting()
    released = email.release_parked(parked.id)
    (waiting,) = app.services.get("communication").waiting("support")
    assert (released.interaction, "offered", []) == (waiting.id, released.status, email.parked())


def test_a_missing_message_id_is_replaced_and_a_second_delivery_is_the_same_interaction(channels_app):
    """Without a Message-ID the mail gets one made from its content (noted as a problem), so the
    same bytes delivered twice are still one interaction."""
    app = channels_app()
    raw = _mail(message_id=None).as_bytes(policy=policy.SMTP)
    _send(app, raw, sender="jan@example.nl", to=["support@example.com"])
    _send(app, raw, sender="jan@example.nl", to=["support@example.com"])
    (waiting,) = app.services.get("communication").waiting("support")
    assert (f"<{hashlib.sha256(raw).hexdigest()[:40]}@received.example.com>", ["no Message-ID"]) == (
        waiting.external, waiting.data["problems"])
    assert ["inbound", "outbound"] == [r["direction"] for r in _mail_rows(app)]  # the mail and its acknowledgement


def test_a_reused_or_forged_message_id_does_not_swallow_the_message(channels_app, relay):
    """A Message-ID already used by different content, and one claiming our own domain, are both
    replaced: each message is its own interaction, none is taken for a duplicate."""
    app = channels_app()
    _send(app, _mail(message_id="<same@example.nl>", text="first"))
    _send(app, _mail(message_id="<same@example.nl>", text="second, different"))
    _send(app, _mail(message_id="<forged@example.com>", text="third"))
    waiting = app.services.get("communication").waiting("support")
    assert [[], ["Message-ID <same@example.nl> was already used by another message; replaced"],
            ["Message-ID <forged@example.com> claims to be one of ours, but was never sent; replaced"]] == [
        w.data["problems"] for w in waiting]


def test_a_flood_from_one_sender_is_refused_with_451_and_nothing_of_it_is_kept(channels_app):
    """flood = 3 per minute: the fourth message is answered 451 (try later), not stored."""
    app = channels_app("""
    [services.email.settings.flood]
    messages = 3
    per = 60
    """)
    for n in range(3):
        _send(app, _mail(text=f"message {n}"))
    before = ([r["id"] for r in _mail_rows(app)], _files(app))
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(app, _mail(text="message 3"))
    assert 451 == refused.value.smtp_code
    assert before == ([r["id"] for r in _mail_rows(app)], _files(app))
    _send(app, _mail(sender="other@example.nl"))   # others are not affected
    assert 4 == len(app.services.get("communication").waiting("support"))


def test_while_the_relay_is_down_mail_waits_in_the_outbox_and_goes_out_when_it_is_back(channels_app, tmp_path):
    """send_mail with the relay down: queued, retried with the error visible (outbox, health
    degraded); once a relay listens on that port the message is delivered, once."""
    down = Relay()
    app = channels_app("""
    [services.email.settings.acknowledge]
    enabled = false
    """, relay_port=down.port)
    email = app.services.get("email")
    message_id = email.send_mail(["jan@example.nl"], "Your bill", "It is attached.", html="<p>It is attached.</p>")
    waiting = wait_for(lambda: [r for r in email.outbox() if r["attempts"] >= 2])
    assert ([message_id], "queued") == ([r["message_id"] for r in waiting], waiting[0]["state"])
    assert "cannot reach the relay" in waiting[0]["last_error"]
    assert "degraded" == email.health().status
    down.start()
    try:
        (sent,) = wait_for(lambda: down.messages)
        assert (message_id, "Your bill", ["text/plain", "text/html"]) == (
            sent["Message-ID"], sent["Subject"], [p.get_content_type() for p in sent.iter_parts()])
        assert (True, "ok") == (wait_for(lambda: email.outbox() == []), email.health().status)
        email.flush()
        assert 1 == len(down.messages)
    finally:
        down.stop()


def test_a_relay_that_refuses_for_good_marks_the_mail_failed_and_retry_sends_it(channels_app, relay):
    """A 550 from the relay is permanent: failed at once, kept with the reason; retry() after the
    cause is fixed sends it."""
    app = channels_app("""
    [services.email.settings.acknowledge]
    enabled = false
    """)
    relay.sink.refuse = "550 5.7.1 relaying denied"
    email = app.services.get("email")
    email.send_mail(["jan@example.nl"], "Hello", "text")
    (failed,) = wait_for(lambda: [r for r in email.outbox() if r["state"] == "failed"])
    assert (1, "degraded") == (failed["attempts"], email.health().status)
    assert "550" in failed["last_error"]
    relay.sink.refuse = None
    email.retry(failed["id"])
    assert ["Hello"] == [m["Subject"] for m in wait_for(lambda: relay.messages)]


def test_the_relay_login_and_starttls_are_used(channels_app, tmp_path):
    """With security = starttls and a login, Caruso upgrades the connection, checks the relay's
    certificate against ca_file and authenticates; a wrong password keeps the mail queued with
    the relay's answer."""
    import ssl

    import trustme
    from aiosmtpd.smtp import AuthResult

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    secure = Relay(tls_context=context, require_starttls=True, authenticator=authenticator).start()
    quiet = """
    [services.email.settings.acknowledge]
    enabled = false
    """
    try:
        for folder, password in (("wrong", "nope"), ("right", "s3cret")):
            app = channels_app(quiet, relay_port=secure.port, folder=folder, url=f"sqlite:///{tmp_path / folder}.db",
                               relay_extra=f"""
                               security = "starttls"
                               username = "caruso"
                               password = "{password}"
                               ca_file = "{ca_file}"
                               """)
            email = app.services.get("email")
            email.send_mail(["jan@example.nl"], f"Secure {folder}", "text")
            if folder == "wrong":
                (queued,) = wait_for(lambda: [r for r in email.outbox() if r["attempts"] >= 1])
                assert "refused the login of 'caruso'" in queued["last_error"]
                app.stop()
        assert ["Secure right"] == [m["Subject"] for m in wait_for(lambda: secure.messages)]
        assert (b"caruso", b"s3cret") == logins[-1]
    finally:
        secure.stop()


def test_a_known_sender_is_the_customer_and_an_unknown_one_becomes_a_new_contact(channels_app):
    """The sender's address identifies the Customer (the server's identify settings); with
    new_contact, an unknown sender becomes a new Customer and the interaction carries it."""
    app = channels_app("""
    [services.email.settings.new_contact]
    object = "Customer"
    address = "email"
    name = "name"
    values = { segment = "prospect" }
    """)
    known = add_customer(app, name="Jan", email="Jan@Example.nl")
    _send(app, _mail())
    _send(app, _mail(sender="new@example.org"))
    jan, new = app.services.get("communication").waiting("support")
    bom = app.services.get("bom")
    with bom.session() as session:
        created = session.get(bom.model["Customer"], new.customer)
        assert ("Jan de Vries", "new@example.org", "prospect") == (created.name, created.email, created.segment)
    assert known == jan.customer
    history = app.services.get("history")
    assert [("inbound", "email"), ("outbound", "email")] == [(h.direction, h.channel) for h in history.for_customer(known)]


def test_an_agent_reply_threads_and_the_scripts_email_action_contract_sends(channels_app, relay):
    """reply() answers the customer's last message with the case in the subject and the threading
    headers; send_mail - what the scripts' email action calls - sends a new message too."""
    app = channels_app()
    original = _mail()
    _send(app, original)
    server = app.services.get("communication")
    (waiting,) = server.waiting("support")
    email = app.services.get("email")
    email.reply(waiting.id, "We will send a technician.", agent="bert")
    email.send_mail(["jan@example.nl"], "Survey", "How did we do?")
    ack, reply, survey = wait_for(lambda: len(relay.messages) == 3 and relay.messages)
    case = waiting.data["case"]
    assert (f"[{case}] Re: My meter", original["Message-ID"]) == (reply["Subject"], reply["In-Reply-To"])
    assert original["Message-ID"] in reply["References"]
    assert "Survey" == survey["Subject"]
    entries = app.services.get("history").for_interaction(waiting.id)
    assert [("inbound", None), ("outbound", None), ("outbound", "bert")] == [(e.direction, e.agent) for e in entries]


def test_a_mail_received_but_not_yet_routed_when_the_process_died_is_routed_at_the_next_start(channels_app, tmp_path):
    """A row left 'received' (the process died between storing the message and offering it) is
    offered when the channel starts again: the message is not lost."""
    app = channels_app("""
    [services.email.settings.acknowledge]
    enabled = false
    """)
    _send(app, _mail())
    email = app.services.get("email")
    (row,) = _mail_rows(app)
    stored = {k: v for k, v in email.store.get(row["id"]).items() if k != "id"}
    email.store.add(**{**stored, "message_id": "<died@example.nl>", "status": "received", "interaction": None,
                         "case_ref": "CASE-DXED2345"})
    app.stop()
    again = channels_app(folder="app2")
    waiting = again.services.get("communication").waiting("support")
    assert [row["message_id"], "<died@example.nl>"] == [w.external for w in waiting]
    assert ["offered", "offered"] == [r["status"] for r in _mail_rows(again)]


CONFIRM = """<?xml version="1.0" encoding="UTF-8"?>
<script id="confirm" title="Confirm by mail" version="1" languages="en" start="address">
  <question id="address" kind="text">
    <prompt lang="en">Your e-mail address?</prompt>
    <go to="done">
      <action name="email">
        <arg name="to" value="address"/>
        <arg name="subject" value="'Your request'"/>
        <arg name="body" value="'We received your request.'"/>
      </action>
    </go>
  </question>
  <end id="done" outcome="confirmed"/>
</script>
"""


def test_a_dialogue_scripts_email_action_sends_through_the_channel(channels_app, relay):
    """The scripts' built-in email action finds the e-mail channel as the `email` service: the
    message reaches the relay and the history."""
    app = channels_app(files={"scripts/confirm.xml": CONFIRM})
    scripts = app.services.get("scripts")
    view = scripts.start_session("confirm", mode="self-service", channel="web")
    view = scripts.answer(view.session_id, "jan@example.nl")
    (sent,) = wait_for(lambda: relay.messages)
    assert (("ended", "confirmed"), "Your request", "jan@example.nl") == (
        (view.status, view.outcome), sent["Subject"], sent["To"])
    assert ["We received your request."] == [e.summary for e in app.services.get("history").for_address("jan@example.nl")]


def test_a_relay_on_tls_from_the_start_gets_the_mail_and_an_unknown_certificate_is_refused(channels_app, tmp_path):
    """security = "tls" speaks SMTP inside TLS from the first byte; a relay whose certificate the
    ca_file does not vouch for gets nothing, and the reason is in the outbox."""
    import ssl

    import trustme

    ca, stranger = trustme.CA(), trustme.CA()
    ca_file, stranger_file = tmp_path / "ca.pem", tmp_path / "stranger.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    stranger.cert_pem.write_to_path(str(stranger_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    secure = Relay(ssl_context=context).start()
    quiet = """
    [services.email.settings.acknowledge]
    enabled = false
    """
    try:
        for folder, trusted in (("stranger", stranger_file), ("trusted", ca_file)):
            app = channels_app(quiet, relay_port=secure.port, folder=folder, url=f"sqlite:///{tmp_path / folder}.db",
                               relay_extra=f"""
                               security = "tls"
                               ca_file = "{trusted}"
                               """)
            email = app.services.get("email")
            email.send_mail(["jan@example.nl"], f"Over TLS, {folder}", "text")
            if folder == "stranger":
                (queued,) = wait_for(lambda: [r for r in email.outbox() if r["attempts"] >= 1])
                assert "CERTIFICATE_VERIFY_FAILED" in queued["last_error"]
                app.stop()
        assert ["Over TLS, trusted"] == [m["Subject"] for m in wait_for(lambda: secure.messages)]
    finally:
        secure.stop()


def test_send_mail_with_an_attachment_delivers_it_whole(channels_app, relay):
    """An attachment given to send_mail reaches the relay byte for byte; the mail's row describes it."""
    app = channels_app()
    report = bytes(range(256)) * 10
    email = app.services.get("email")
    message_id = email.send_mail(["supervisor@example.com"], "Daily report", "Attached.",
                                 attachments=[("report.pdf", "application/pdf", report)])
    (sent,) = wait_for(lambda: relay.messages)
    (part,) = list(sent.iter_attachments())
    assert ("report.pdf", "application/pdf", report) == (part.get_filename(), part.get_content_type(),
                                                         part.get_content())
    assert [{"name": "report.pdf", "type": "application/pdf", "size": len(report),
             "sha256": hashlib.sha256(report).hexdigest()}] == email.store.by_message_id(message_id)["attachments"]
    with pytest.raises(ValueError):
        email.send_mail(["supervisor@example.com"], "Bad", "x", attachments=[("a", "pdf", b"")])


SURVEY_SCRIPT = """<script id="survey" title="Survey" languages="en" start="ask">
  <question id="ask" kind="yesno">
    <prompt>May we send you a survey?</prompt>
    <go to="done" if="ask">
      <action name="email">
        <arg name="to" value="'jan@example.nl'"/>
        <arg name="subject" value="'Survey'"/>
        <arg name="body" value="'How did we do?'"/>
      </action>
    </go>
    <go to="done"/>
  </question>
  <end id="done" outcome="asked"><prompt>Thank you.</prompt></end>
</script>
"""


def test_the_scripts_email_action_sends_through_the_channel_into_the_customer_s_history(channels_app, relay):
    """A dialogue script's email action: the relay receives it; the mail and then the session itself are in
    the customer's one history."""
    app = channels_app(files={"scripts/survey.xml": SURVEY_SCRIPT})
    scripts = app.services.get("scripts")
    view = scripts.start_session("survey", context={"customer_id": 7})
    scripts.answer(view.session_id, True)
    (survey,) = wait_for(lambda: len(relay.messages) == 1 and relay.messages)
    assert ("Survey", "jan@example.nl") == (survey["Subject"], survey["To"])
    assert [("email", "outbound", "7", "Survey"), ("voice", "inbound", "7", "Survey")] == [
        (e.channel, e.direction, e.customer, e.subject) for e in app.services.get("history").for_customer(7)]
