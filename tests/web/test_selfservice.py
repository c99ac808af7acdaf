"""The customer's self-service portal through the front office's forms: their own data and its
update checked by the model, guided help (a script in self-service mode) run to the end, the
FAQ and a question it could not answer, a callback, the chat escalation; the refusals - a
user linked to no customer, another customer's session; the services an application lacks.
And one run in a real browser: the customer escalates to a chat an agent accepts on the desktop."""

from __future__ import annotations

import re

import pytest

from caruso.testing import make_app
from tests.web.conftest import Client

DESCRIPTOR = """
[application]
name = "Self-service test"

[storage]
url = "sqlite:///{db}"

[plugins]
enabled = ["customers", "rules", "service"]

[services.communication.settings]
offer_timeout = 600

[[services.communication.settings.queues]]
name = "support"

[[services.communication.settings.queues]]
name = "billing"

[[services.communication.settings.agents]]
name = "anna"

[services.web.settings.roles.agent]
portal = "/desktop"
read = ["*"]
write = ["*"]
actions = ["desktop"]

[services.web.settings.roles.customer]
portal = "/self-service"
menus = ["self-service"]
views = []
read = ["Customer", "ServiceRequest"]
write = ["Customer"]
actions = ["selfservice"]
records = {{ Customer = {{ id = "customer" }}, ServiceRequest = {{ customer_id = "customer" }} }}
"""

METER = """<?xml version="1.0" encoding="UTF-8"?>
<script id="meter-reading" title="Meter reading" version="1" languages="en" start="meter">
  <question id="meter" kind="text">
    <prompt lang="en">What is the meter number?</prompt>
    <go to="reading"/>
  </question>
  <question id="reading" kind="number" min="0" max="99999">
    <prompt lang="en">What does the meter read?</prompt>
    <go to="check"/>
  </question>
  <info id="check" modes="agent">
    <prompt lang="en">Check the reading {{ reading }} against last year's.</prompt>
    <go to="done"/>
  </info>
  <end id="done" outcome="reading-taken">
    <prompt lang="en">Thank you, we have your reading {{ reading }}.</prompt>
  </end>
</script>
"""

AGENT_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<script id="address-check" title="Address check" version="1" languages="en" start="ask">
  <question id="ask" kind="text" modes="agent">
    <prompt lang="en">Check the address in the register.</prompt>
    <go to="done"/>
  </question>
  <end id="done" outcome="checked"/>
</script>
"""

NAME = "Jan <script>alert(1)</script> de Vries"
PHONE = "+31201234567"

def _started(tmp_path, extra: str = ""):
    """A started application with the customers and service plugins, two scripts (one for
    self-service, one for agents only), two customers with logins (jan, piet), a customer
    login linked to nobody (nemo) and the agent anna."""
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db") + extra,
                   {"scripts/meter.xml": METER, "scripts/address.xml": AGENT_ONLY})
    app.start()
    app.services.get("storage").upgrade()
    bom = app.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        jan = bom.Customer(name=NAME, phone=PHONE, email="jan@example.nl", number="C-1", notes="pays late")
        piet = bom.Customer(name="Piet Pieters", phone="+31207654321", email="piet@example.nl", number="C-2")
        session.add_all([jan, piet])
        session.flush()
        app.jan, app.piet = jan.id, piet.id
    web = app.services.get("web")
    web.users.add("jan", "jan-password", roles=["customer"], customer=app.jan)
    web.users.add("piet", "piet-password", roles=["customer"], customer=app.piet)
    web.users.add("nemo", "nemo-password", roles=["customer"])
    web.users.add("anna", "anna-password", roles=["agent"], agent="anna")
    return app


@pytest.fixture
def portal(tmp_path):
    app = _started(tmp_path)
    yield app
    app.stop()


@pytest.fixture
def served(tmp_path):
    """The portal served by uvicorn on a free port, the chat mounted at /chat."""
    app = _started(tmp_path)
    url = app.services.get("web").listen(port=0)
    yield app, url
    app.stop()


@pytest.fixture
def login(portal):
    made: list[Client] = []

    def as_user(name: str) -> Client:
        client = Client(portal.services.get("web").asgi)
        client.login(name, f"{name}-password")
        made.append(client)
        return client

    yield as_user
    for client in made:
        client.http.close()


def _customer(app, key) -> dict:
    bom = app.services.get("bom")
    with bom.session() as session:
        return bom.Customer.get(session, key).to_dict()


def _start(client: Client, script: str = "meter-reading") -> str:
    client.page("/self-service/scripts")
    response = client.post(f"/self-service/scripts/{script}")
    assert 303 == response.status_code
    found = re.fullmatch(r"/self-service/sessions/([0-9a-f]+)", response.headers["location"])
    assert found is not None
    return found.group(1)


# --- own data ---------------------------------------------------------------------------


def test_the_customer_sees_their_own_data_escaped_and_not_another_customers(portal, login):
    """The overview shows the customer's name (a <script> in it as text), e-mail and phone, not
    the company's notes and not another customer; the Self-service menu item is there."""
    jan = login("jan")
    response = jan.page("/self-service")
    assert 200 == response.status_code
    page = response.text
    assert "Jan &lt;script&gt;alert(1)&lt;/script&gt; de Vries" in page
    assert "<script>alert(1)" not in page
    assert "jan@example.nl" in page and PHONE in page
    assert "pays late" not in page and "Piet" not in page
    assert ['self-service'] == re.findall(r'data-menu="([^"]+)"', page)


def test_the_menu_item_shows_only_with_the_selfservice_action(portal, login):
    """An agent has no Self-service item and is refused the page."""
    anna = login("anna")
    assert 'data-menu="self-service"' not in anna.page("/desktop").text
    assert 403 == anna.page("/self-service").status_code


def test_the_customer_updates_their_contact_data(portal, login):
    """A valid change is saved and the page says so; a key or another attribute slipped into
    the form changes nothing."""
    jan = login("jan")
    jan.page("/self-service")
    response = jan.post("/self-service", {"name": "Jan de Vries", "email": "jan@vries.nl", "phone": "+31209999999",
                                          "mobile": "", "id": str(portal.piet), "segment": "vip"})
    assert (303, "/self-service?saved=1") == (response.status_code, response.headers["location"])
    saved = _customer(portal, portal.jan)
    assert ("Jan de Vries", "jan@vries.nl", "+31209999999") == (saved["name"], saved["email"], saved["phone"])
    assert "standard" == saved["segment"]  # only the contact fields are taken from the form
    assert "Piet Pieters" == _customer(portal, portal.piet)["name"]
    assert "Your details are saved." in jan.page("/self-service?saved=1").text


def test_a_value_the_model_refuses_is_shown_next_to_its_field_and_nothing_is_saved(portal, login):
    """A phone not in E.164 and an emptied name: 422 with the model's messages by the fields;
    the valid e-mail sent with them is not saved either."""
    jan = login("jan")
    jan.page("/self-service")
    response = jan.post("/self-service", {"name": "", "email": "new@example.nl", "phone": "020 123", "mobile": ""})
    assert 422 == response.status_code
    page = response.text
    phone_error = re.search(r'<small class="error" id="e-phone" role="alert">([^<]+)</small>', page)
    assert phone_error is not None
    assert "a phone number is written in E.164, like +31201234567" == phone_error.group(1)
    assert 'id="e-name"' in page
    assert 'value="020 123"' in page  # what the customer typed comes back to correct
    saved = _customer(portal, portal.jan)
    assert (NAME, "jan@example.nl", PHONE) == (saved["name"], saved["email"], saved["phone"])


def test_a_customer_login_linked_to_no_customer_gets_a_clear_403(portal, login):
    """A customer-role user added without --customer is refused every page, with the reason, logged."""
    nemo = login("nemo")
    response = nemo.page("/self-service", headers={"accept": "text/html"})
    assert 403 == response.status_code
    assert "not linked to a customer record" in response.text
    assert "denied" == portal.services.get("web").access.latest(limit=1)[0]["event"]


def test_a_customer_without_write_on_customer_sees_no_form(tmp_path):
    """The default customer role reads their own data on the portal but changes nothing."""
    app = make_app(tmp_path / "app", DESCRIPTOR.split("[services.web.settings.roles.agent]")[0]
                   .format(db=tmp_path / "crm.db"))
    app.start()
    try:
        app.services.get("storage").upgrade()
        bom = app.services.get("bom")
        with bom.unit_of_work(user="test") as session:
            customer = bom.Customer(name="Els", number="C-9")
            session.add(customer)
            session.flush()
            key = customer.id
        web = app.services.get("web")
        web.users.add("els", "els-password", roles=["customer"], customer=key)
        client = Client(web.asgi)
        client.login("els", "els-password")
        page = client.page("/self-service")
        assert 200 == page.status_code and "Els" in page.text
        assert 'class="contact-form"' not in page.text and "please contact us" in page.text
        assert 403 == client.post("/self-service", {"name": "Other"}).status_code
        client.http.close()
    finally:
        app.stop()


# --- guided help ------------------------------------------------------------------------


def test_a_self_service_script_runs_to_the_end(portal, login):
    """Only scripts asking something in self-service are offered; an answer the script refuses
    comes back with 422 and its reason; the agent-only step is passed; the end says thanks."""
    jan = login("jan")
    listing = jan.page("/self-service/scripts").text
    assert "Meter reading" in listing and "Address check" not in listing
    assert 404 == jan.post("/self-service/scripts/address-check").status_code

    session = _start(jan)
    page = jan.page(f"/self-service/sessions/{session}").text
    assert "What is the meter number?" in page and 'data-step="meter"' in page
    assert 303 == jan.post(f"/self-service/sessions/{session}", {"step": "meter", "value": "M-42"}).status_code

    refused = jan.post(f"/self-service/sessions/{session}", {"step": "reading", "value": "a lot"})
    assert 422 == refused.status_code
    assert 'class="error script-error"' in refused.text and 'data-step="reading"' in refused.text

    assert 303 == jan.post(f"/self-service/sessions/{session}", {"step": "reading", "value": "4711"}).status_code
    page = jan.page(f"/self-service/sessions/{session}").text
    assert "Thank you, we have your reading 4711." in page
    assert "Check the reading" not in page  # the agent's step is not the customer's
    assert 'data-status="ended"' in page
    view = portal.services.get("scripts").view(session)
    assert ("ended", "reading-taken", {"meter": "M-42", "reading": 4711}) == (view.status, view.outcome,
                                                                              dict(view.answers))


def test_back_returns_to_the_previous_question(portal, login):
    """Back shows the previous question again with the answer given as its default."""
    jan = login("jan")
    session = _start(jan)
    jan.post(f"/self-service/sessions/{session}", {"step": "meter", "value": "M-42"})
    assert 303 == jan.post(f"/self-service/sessions/{session}/back").status_code
    page = jan.page(f"/self-service/sessions/{session}").text
    assert 'data-step="meter"' in page and 'value="M-42"' in page


def test_another_customers_session_is_not_found_and_logged(portal, login):
    """piet's session, asked for by jan, answers 404 - as a session that does not exist - to
    showing, answering, escalating and a callback, and each attempt is logged."""
    piet, jan = login("piet"), login("jan")
    session = _start(piet)
    jan.page("/self-service")
    web = portal.services.get("web")
    for response in (jan.page(f"/self-service/sessions/{session}"),
                     jan.post(f"/self-service/sessions/{session}", {"step": "meter", "value": "M-1"}),
                     jan.post(f"/self-service/sessions/{session}/chat"),
                     jan.post("/self-service/callback", {"session": session, "number": PHONE}),
                     jan.page("/self-service/sessions/0123456789abcdef")):
        assert 404 == response.status_code
    logged = [e for e in web.access.latest(event="not-found") if e["user"] == "jan"]
    assert 5 == len(logged)
    assert f"/self-service/sessions/{session}" == logged[-1]["path"]
    assert session in logged[-1]["detail"]
    assert "meter" == portal.services.get("scripts").view(session).step  # jan's answer did not land


def test_a_session_an_agent_took_over_is_not_answered_by_the_customer(portal, login):
    """Once an agent resumed the session in agent mode, the page says so and refuses answers (409)."""
    jan = login("jan")
    session = _start(jan)
    portal.services.get("scripts").resume(session, mode="agent", channel="phone")
    page = jan.page(f"/self-service/sessions/{session}")
    assert 200 == page.status_code and "taken this conversation over" in page.text
    assert 409 == jan.post(f"/self-service/sessions/{session}", {"step": "meter", "value": "M-1"}).status_code


def test_continue_in_a_chat_redirects_to_the_chat_with_the_session(portal, login):
    """The escalation leads to the chat mounted at /chat, which is told the session."""
    jan = login("jan")
    session = _start(jan)
    response = jan.post(f"/self-service/sessions/{session}/chat")
    assert (303, f"/chat/?session={session}") == (response.status_code, response.headers["location"])
    chat_page = jan.http.get(response.headers["location"])
    assert 200 == chat_page.status_code and f'data-session="{session}"' in chat_page.text


def test_the_service_plugins_report_a_problem_script_opens_a_request_the_customer_then_sees(portal, login):
    """The service plugin's script runs in self-service for the logged-in customer: the request
    it opens is theirs, and their overview lists it."""
    jan = login("jan")
    session = _start(jan, "report-a-problem")
    for step, value in (("category", "billing"), ("subject", "My bill is <wrong>"), ("complaint", "no")):
        assert 303 == jan.post(f"/self-service/sessions/{session}", {"step": step, "value": value}).status_code
    page = jan.page(f"/self-service/sessions/{session}").text
    number = re.search(r"Your request number is SR-(\d+)", page)
    assert number is not None
    bom = portal.services.get("bom")
    with bom.session() as db:
        opened = bom.ServiceRequest.get(db, int(number.group(1))).to_dict()
    assert (portal.jan, "web", "billing") == (opened["customer_id"], opened["channel"], opened["category"])
    overview = jan.page("/self-service").text
    assert 'data-collection="requests"' in overview and "My bill is &lt;wrong&gt;" in overview
    assert "My bill is" not in login("piet").page("/self-service").text


# --- callback -----------------------------------------------------------------------------


def test_a_callback_is_requested_with_the_scripts_answers(portal, login):
    """From a session: a callback interaction waits for the customer, on the number given,
    carrying the answers; the page confirms it. A second request from the same session is
    the same callback. A number that is none is refused with 422."""
    jan = login("jan")
    session = _start(jan)
    jan.post(f"/self-service/sessions/{session}", {"step": "meter", "value": "M-42"})
    jan.page(f"/self-service/sessions/{session}")
    bad = jan.post("/self-service/callback", {"session": session, "number": "call me"})
    assert 422 == bad.status_code and "not a phone number" in bad.text

    response = jan.post("/self-service/callback", {"session": session, "number": "+31 20 555 1234"})
    assert 200 == response.status_code
    confirmed = re.search(r'class="ok callback-confirmed".*?request number is <strong>([^<]+)</strong>',
                          response.text)
    assert confirmed is not None and "+31205551234" in response.text
    server = portal.services.get("communication")
    callback = server.interaction(confirmed.group(1))
    assert ("callback", portal.jan, "+31205551234") == (callback.channel, callback.customer, callback.address)
    assert {"meter": "M-42"} == callback.data["script"]["answers"]
    again = jan.post("/self-service/callback", {"session": session, "number": "+31205551234"})
    assert f"<strong>{callback.id}</strong>" in again.text


def test_a_callback_from_the_overview_uses_the_number_given_once(portal, login):
    """The form offers the customer's phone; a second request while the first still waits is
    the same callback, not a second one in the queue."""
    jan = login("jan")
    page = jan.page("/self-service").text
    assert f'name="number" type="tel" value="{PHONE}"' in page
    first = jan.post("/self-service/callback", {"number": PHONE})
    assert 200 == first.status_code and f"we will call you back on <strong>{PHONE}</strong>" in first.text
    second = jan.post("/self-service/callback", {"number": PHONE})
    number = re.compile(r"request number is <strong>([^<]+)</strong>")
    assert number.search(first.text).group(1) == number.search(second.text).group(1)
    waiting = [view for view in portal.services.get("communication").waiting() if view.channel == "callback"]
    assert [portal.jan] == [view.customer for view in waiting]


# --- the FAQ ------------------------------------------------------------------------------


def test_the_faq_search_finds_an_entry_and_an_unanswered_question_becomes_a_request(portal, login):
    """A published FAQ is found (its answer escaped); "not answered" opens a question request for
    the customer; no match offers to ask the staff; an empty question is refused."""
    bom = portal.services.get("bom")
    with bom.unit_of_work(user="test") as session:
        session.add(bom.Faq(question="How do I read my smart meter?",
                            answer="Press the button twice; the display shows <the reading>."))
    jan = login("jan")
    page = jan.page("/self-service/faq?q=smart+meter").text
    assert "How do I read my smart meter?" in page
    assert "the display shows &lt;the reading&gt;." in page
    assert "My question was not answered" in page

    response = jan.post("/self-service/faq/ask", {"question": "How do I read my smart meter at night?"})
    assert 200 == response.status_code
    sent = re.search(r"request <strong>SR-(\d+)</strong>", response.text)
    assert sent is not None
    with bom.session() as session:
        request = bom.ServiceRequest.get(session, int(sent.group(1))).to_dict()
    assert ("question", portal.jan, "web") == (request["kind"], request["customer_id"], request["channel"])

    nothing = jan.page("/self-service/faq?q=zzqx").text
    assert "We found no answer to that." in nothing and "Ask our staff" in nothing
    assert 422 == jan.post("/self-service/faq/ask", {"question": "  "}).status_code


# --- what an application lacks ------------------------------------------------------------


def test_missing_services_are_named_on_the_page_not_a_500(web, client):
    """The conftest application has no knowledge service and no self-service script: the
    pages say so."""
    web.users.add("jan", "jan-password", roles=["customer"], customer=1)
    bom = web.optional_service("bom")
    with bom.unit_of_work(user="test") as session:
        session.add(bom.Customer(id=1, name="Jan", number="C-1"))
    client.login("jan", "jan-password")
    faq_page = client.page("/self-service/faq?q=meter")
    assert 200 == faq_page.status_code and "not available at the moment" in faq_page.text
    scripts_page = client.page("/self-service/scripts")
    assert 200 == scripts_page.status_code and "There is no guided help here yet." in scripts_page.text
    assert 503 == client.post("/self-service/faq/ask", {"question": "meter?"}).status_code


def test_without_scripts_and_communication_every_page_says_what_is_missing(tmp_path):
    """No script engine, no communication server (so no chat): the overview and the guided-help
    page name what is not available; the addresses that need them answer 503 with the reason."""
    extra = "\n[services.scripts]\nenabled = false\n\n[services.communication]\nenabled = false\n"
    app = make_app(tmp_path / "app", DESCRIPTOR.format(db=tmp_path / "crm.db") + extra)
    app.start()
    try:
        app.services.get("storage").upgrade()
        bom = app.services.get("bom")
        with bom.unit_of_work(user="test") as session:
            session.add(bom.Customer(id=1, name="Jan", number="C-1"))
        web = app.services.get("web")
        web.users.add("jan", "jan-password", roles=["customer"], customer=1)
        client = Client(web.asgi)
        client.login("jan", "jan-password")
        overview = client.page("/self-service")
        assert 200 == overview.status_code and "Requesting a callback is not available" in overview.text
        scripts_page = client.page("/self-service/scripts")
        assert 200 == scripts_page.status_code and "Guided help is not available at the moment." in scripts_page.text
        started = client.post("/self-service/scripts/meter-reading", headers={"accept": "text/html"})
        assert 503 == started.status_code and "Guided help is not available" in started.text
        callback = client.post("/self-service/callback", {"number": PHONE})
        assert 503 == callback.status_code and "Requesting a callback is not available" in callback.text
        client.http.close()
    finally:
        app.stop()


# --- in a real browser ----------------------------------------------------------------------


def test_in_a_browser_a_customer_escalates_a_script_to_a_chat_an_agent_takes(served, chromium):
    """jan completes the meter reading in self-service and continues in a chat; anna, ready on
    the desktop, is offered the chat, accepts it and sees jan's answers in .script-answers."""
    portal, url = served
    server = portal.services.get("communication")
    customer_context, agent_context = chromium.new_context(), chromium.new_context()
    customer, agent = customer_context.new_page(), agent_context.new_page()
    try:
        _browser_login(agent, url, "anna", "/desktop")
        agent.click("button[value=ready]")
        agent.wait_for_selector("#agent-state:text('ready')")

        _browser_login(customer, url, "jan", "/self-service")
        assert "Jan <script>alert(1)</script> de Vries" == customer.inner_text("dd[data-field=name]")
        customer.click("a:text('Guided help')")
        customer.click("button:text('Meter reading')")
        customer.fill("input[name=value]", "M-42")
        customer.click("button.answer")
        customer.wait_for_selector("form[data-step=reading]")
        customer.fill("input[name=value]", "4711")
        customer.click("button.answer")
        customer.wait_for_selector("text=Thank you, we have your reading 4711.")

        customer.click("button:text('Continue in a chat')")
        customer.wait_for_url(re.compile(r".*/chat/\?session=[0-9a-f]+$"))
        session = customer.url.rsplit("=", 1)[1]
        assert session == customer.get_attribute("body", "data-session")
        customer.fill("input[name=name]", "Jan")
        customer.click("button:text('Start the chat')")
        customer.wait_for_selector("text=Please wait, an agent will be with you shortly.", timeout=10_000)

        offered = agent.locator("article[data-state='offered']")
        offered.wait_for(timeout=10_000)
        chat_id = offered.get_attribute("data-interaction")
        offered_chat = server.interaction(chat_id)
        assert "chat" == offered_chat.channel
        assert {"meter": "M-42", "reading": 4711} == offered_chat.data["script"]["answers"]
        agent.click(f"article[data-interaction='{chat_id}'] button:text('Accept')")
        article = agent.locator(f"article[data-interaction='{chat_id}'][data-state='connected']")
        article.wait_for(timeout=10_000)
        answers = article.locator(".script-answers")
        answers.get_by_text("M-42").wait_for(timeout=10_000)
        assert "4711" in answers.inner_text()
        customer.wait_for_selector("text=anna is with you now.", timeout=10_000)
    finally:
        customer_context.close()
        agent_context.close()


def _browser_login(page, url: str, name: str, path: str) -> None:
    page.goto(f"{url}{path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", f"{name}-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{path}")
