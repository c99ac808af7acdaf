"""The scripts service in a real application: SQLite storage, a bom model, scripts on disk."""

from __future__ import annotations

import importlib
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from caruso.app import Application
from caruso.config import load_config
from caruso.errors import ActionFailed, ScriptError, ServiceStartError, SessionNotFound
from caruso.plugins import DEFAULT_PLUGINS

PLUGIN = "caruso.services.scripts.plugin"

MODELS = """<model>
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="email" type="string"/>
  <attribute name="segment" type="enum" default="retail"><value>retail</value><value>business</value></attribute>
  <collection name="activities" object="Activity"/>
</object>
<object name="Activity">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="kind" type="enum"><value>call</value><value>web</value><value>note</value></attribute>
  <attribute name="occurred" type="datetime" required="yes"/>
  <attribute name="notes" type="text"/>
  <reference name="customer" object="Customer" required="yes"/>
</object>
<object name="Request">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="subject" type="string" required="yes"/>
  <attribute name="status" type="string" default="open"/>
  <reference name="customer" object="Customer"/>
</object>
</model>
"""

SCRIPT = """<script id="move" title="Moving house" languages="en" start="email">
  <bind name="customer" object="Customer" key="context.customer_id"/>
  <question id="email" kind="text" prefill="customer.email if customer else none">
    <prompt>Your e-mail address?</prompt><go to="date"/>
  </question>
  <question id="date" kind="date" min="2026-01-01">
    <prompt>When do you move, {{ customer.name if customer else 'sir or madam' }}?</prompt>
    <go to="agent-check"/>
  </question>
  <info id="agent-check" modes="agent"><prompt>Check the new address in the register.</prompt><go to="request"/></info>
  <question id="request" kind="yesno">
    <prompt>Shall we open a request?</prompt>
    <go to="done" if="request">
      <action name="create">
        <arg name="object" value="'Request'"/>
        <arg name="values" value="{'subject': 'move on ' ~ date, 'customer_id': context.customer_id}"/>
        <arg name="into" value="'request_id'"/>
      </action>
      <action name="note"><arg name="text" value="'moving on ' ~ date"/></action>
    </go>
    <go to="done"/>
  </question>
  <end id="done" outcome="resolved"><prompt>Done{{ ', request ' ~ request_id if request_id is defined else '' }}.</prompt></end>
</script>
"""


def write_app(folder: Path, *, script: str = SCRIPT, plugin: str = "", settings: str = "") -> Path:
    """An application folder: models, one script, optionally a plugin module, and its descriptor."""
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "crm.xml").write_text(MODELS)
    (folder / "scripts").mkdir()
    (folder / "scripts" / "move.xml").write_text(script)
    folders = ""
    if plugin:
        (folder / "plugins").mkdir()
        (folder / "plugins" / "script_extras.py").write_text(textwrap.dedent(plugin))
        folders = '[plugins]\nfolders = ["plugins"]'
    (folder / "caruso.toml").write_text(textwrap.dedent("""\
        [application]
        name = "Scripts"
        [storage]
        url = "sqlite:///crm.db"
        """) + folders + "\n" + textwrap.dedent(settings))
    return folder


def load_app(folder: Path) -> Application:
    """The application in ``folder``, with the scripts plugin registered while it is not a default one."""
    app = Application(load_config(folder))
    if PLUGIN not in DEFAULT_PLUGINS:
        app.plugin_manager.register(importlib.import_module(PLUGIN), name=PLUGIN)
    app.load()
    return app


@pytest.fixture(autouse=True)
def forget_plugin_module():
    yield
    sys.modules.pop("script_extras", None)


@pytest.fixture
def app(tmp_path):
    """A started application with tables created and one customer (id 1, Ada)."""
    application = load_app(write_app(tmp_path / "app"))
    with application:
        application.services.get("storage").upgrade()
        bom = application.services.get("bom")
        with bom.unit_of_work() as session:
            session.add(bom.Customer(id=1, name="Ada", email="ada@example.com"))
        yield application


def activities(app: Application) -> list[tuple[str, str]]:
    bom = app.services.get("bom")
    with bom.session() as session:
        return [(a.kind, a.notes) for a in session.scalars(sa.select(bom.Activity).order_by(bom.Activity.id))]


def test_a_session_runs_to_the_end_and_is_recorded(app):
    """Bound customer data prefills and shows in prompts; actions create objects; the end is an activity."""
    scripts = app.services.get("scripts")
    view = scripts.start_session("move", customer=1, mode="self-service", channel="web")
    assert ("date", "When do you move, Ada?", ("email",)) == (view.step, view.prompt, view.prefilled)
    view = scripts.answer(view.session_id, "2026-05-01")
    assert "request" == view.step  # the agent-only step is skipped in self-service
    view = scripts.answer(view.session_id, "yes")
    assert ("ended", "resolved", "Done, request 1.") == (view.status, view.outcome, view.prompt)
    bom = app.services.get("bom")
    with bom.session() as session:
        request = session.scalars(bom.Request.select()).one()
        assert ("move on 2026-05-01", 1) == (request.subject, request.customer_id)
    assert [("note", "moving on 2026-05-01"),
            ("web", "Moving house: resolved\nemail: ada@example.com\ndate: 2026-05-01\nrequest: yes")] == activities(app)
    assert [view.session_id] == scripts.sessions(customer=1, status="ended")


def test_a_refused_answer_is_not_stored(app):
    """An invalid answer comes back with the reason and changes nothing stored."""
    scripts = app.services.get("scripts")
    view = scripts.start_session("move", customer=1)
    refused = scripts.answer(view.session_id, "2025-12-31")
    assert ("date", "the date must be on or after 2026-01-01") == (refused.step, refused.error)
    assert (None, "date") == (scripts.view(view.session_id).error, scripts.view(view.session_id).step)


def test_a_web_session_is_continued_by_an_agent_after_a_restart(tmp_path):
    """A session survives a restart; the agent resuming it sees every answer and goes on."""
    folder = write_app(tmp_path / "app")
    first = load_app(folder)
    with first:
        first.services.get("storage").upgrade()
        scripts = first.services.get("scripts")
        view = scripts.start_session("move", mode="self-service", channel="web")
        view = scripts.answer(view.session_id, "ada@example.com")
        session_id = view.session_id
    second = load_app(folder)
    with second:
        scripts = second.services.get("scripts")
        view = scripts.resume(session_id, mode="agent", channel="phone")
        assert ("date", "agent", "phone") == (view.step, view.mode, view.channel)
        assert {"email": "ada@example.com"} == dict(view.answers)
        view = scripts.answer(session_id, "2026-06-01")
        assert "agent-check" == view.step  # agents see their own steps
        view = scripts.back(session_id)
        assert ("date", date(2026, 6, 1)) == (view.step, view.value)


def test_two_channels_saving_the_same_session_conflict(app):
    """A save over a revision another channel already replaced is refused, not merged silently."""
    scripts = app.services.get("scripts")
    view = scripts.start_session("move")
    store = scripts.store
    stored = store.load(view.session_id)
    scripts.answer(view.session_id, "ada@example.com")
    with pytest.raises(ScriptError, match="changed on another channel"):
        store.save(stored.state, stored.revision, stored.updated)


def test_a_failed_action_is_stored_with_the_session(tmp_path):
    """An action failing without on-error stores the session as failed, then raises ActionFailed."""
    script = SCRIPT.replace("<arg name=\"object\" value=\"'Request'\"/>", "<arg name=\"object\" value=\"'Reqest'\"/>")
    application = load_app(write_app(tmp_path / "app", script=script))
    with application:
        application.services.get("storage").upgrade()
        scripts = application.services.get("scripts")
        view = scripts.start_session("move", mode="self-service")
        scripts.answer(view.session_id, "x@example.com")
        scripts.answer(view.session_id, "2026-05-01")
        with pytest.raises(ActionFailed, match="no business object 'Reqest' \\(did you mean 'Request'\\?\\)"):
            scripts.answer(view.session_id, "yes")
        stored = scripts.view(view.session_id)
        assert ("failed", "request") == (stored.status, stored.step)
        with pytest.raises(ScriptError, match="has ended with an error"):
            scripts.answer(view.session_id, "yes")


def test_unknown_sessions_and_scripts(app):
    """Unknown ids are refused clearly."""
    scripts = app.services.get("scripts")
    with pytest.raises(SessionNotFound, match="no dialogue session 'nope'"):
        scripts.view("nope")
    with pytest.raises(ScriptError, match="no dialogue script 'mvoe' \\(did you mean 'move'\\?\\)"):
        scripts.start_session("mvoe")


def test_a_script_with_problems_stops_the_start(tmp_path):
    """Checker findings refuse the service's start, each as file:line."""
    bad = SCRIPT.replace('<go to="agent-check"/>', '<go to="agent-chek"/>')
    application = load_app(write_app(tmp_path / "app", script=bad))
    script_file = str(tmp_path / "app" / "scripts" / "move.xml")
    with pytest.raises(ServiceStartError, match="agent-chek") as caught:
        application.start()
    assert script_file in str(caught.value)
    problems = application.check()
    assert (script_file, 8) == (problems[0].file, problems[0].line)
    assert "leads to 'agent-chek', which is no step of the script" in problems[0].message


PLUGIN_SOURCE = """
from pathlib import Path
from caruso.hookspecs import hookimpl
from caruso.services.scripts.actions import ActionDefinition


def shout(context, text):
    context.set("shouted", text.upper())


@hookimpl
def register_actions(app):
    return [ActionDefinition("shout", shout, ("text",), "upper-case a text")]


@hookimpl
def register_scripts(app):
    return [Path(__file__).with_name("greet.xml")]
"""

PLUGIN_SCRIPT = """<script id="greet" title="Greet" languages="en" start="name">
  <question id="name" kind="text"><prompt>Name?</prompt>
    <go to="done"><action name="shout"><arg name="text" value="name"/></action></go></question>
  <end id="done" outcome="greeted"><prompt>HELLO {{ shouted }}</prompt></end>
</script>
"""


def plugin_application(tmp_path: Path) -> Application:
    """An application whose plugin contributes the script greet.xml and the action shout."""
    folder = write_app(tmp_path / "app", plugin=PLUGIN_SOURCE)
    (folder / "plugins" / "greet.xml").write_text(PLUGIN_SCRIPT)
    return load_app(folder)


def test_hook_register_scripts(tmp_path):
    """Scripts a plugin returns from register_scripts are loaded with the application's own."""
    application = plugin_application(tmp_path)
    with application:
        assert ["greet", "move"] == sorted(application.services.get("scripts").scripts)


def test_hook_register_actions(tmp_path):
    """An action a plugin returns from register_actions runs in scripts, beside the built-in ones."""
    application = plugin_application(tmp_path)
    with application:
        application.services.get("storage").upgrade()
        scripts = application.services.get("scripts")
        view = scripts.start_session("greet")
        assert "HELLO ADA" == scripts.answer(view.session_id, "ada").prompt


def test_settings_name_the_scripts(tmp_path):
    """[services.scripts.settings] scripts names other files; a missing one is an error."""
    folder = write_app(tmp_path / "app", settings="""
        [services.scripts.settings]
        scripts = ["flows/greet.xml"]
        max_silent_steps = 10
    """)
    (folder / "flows").mkdir()
    (folder / "flows" / "greet.xml").write_text(PLUGIN_SCRIPT.replace(
        '<action name="shout"><arg name="text" value="name"/>',
        '<action name="set"><arg name="shouted" value="name | upper"/>'))
    application = load_app(folder)
    with application:
        application.services.get("storage").upgrade()
        scripts = application.services.get("scripts")
        assert ["greet"] == list(scripts.scripts)
        view = scripts.start_session("greet")
        assert "HELLO BOB" == scripts.answer(view.session_id, "bob").prompt


@pytest.fixture
def app_in_virtual_time(tmp_path):
    """The ``app`` fixture's application, on a ManualClock."""
    folder = write_app(tmp_path / "app", settings='[services.clock]\nimplementation = "caruso.clock:ManualClock"\n')
    application = load_app(folder)
    with application:
        application.services.get("storage").upgrade()
        bom = application.services.get("bom")
        with bom.unit_of_work() as session:
            session.add(bom.Customer(id=1, name="Ada", email="ada@example.com"))
        yield application


def test_answers_from_a_recent_session_on_another_channel_are_not_asked_again(app_in_virtual_time):
    """The customer answered in the IVR an hour ago: the agent's new session skips that question."""
    app = app_in_virtual_time
    scripts = app.services.get("scripts")
    clock = app.services.resolve("clock")
    ivr = scripts.start_session("move", customer=1, mode="ivr", channel="phone")
    scripts.answer(ivr.session_id, "2026-07-01")  # email was prefilled from the customer record
    clock.advance(3600)
    agent = scripts.start_session("move", customer=1, mode="agent", channel="phone")
    assert ("agent-check", date(2026, 7, 1)) == (agent.step, agent.answers["date"])
    assert "date" in agent.prefilled


def test_answers_older_than_the_reuse_window_are_asked_again(app_in_virtual_time):
    """A day later the same question is asked again: the answer may have changed."""
    app = app_in_virtual_time
    scripts = app.services.get("scripts")
    clock = app.services.resolve("clock")
    first = scripts.start_session("move", customer=1, mode="self-service", channel="web")
    scripts.answer(first.session_id, "2026-07-01")
    clock.advance(86_400 + 1)
    later = scripts.start_session("move", customer=1, mode="self-service", channel="web")
    assert "date" == later.step


def test_a_yes_no_decision_and_a_reuse_no_question_are_asked_in_every_session(tmp_path):
    """Yesterday's "yes, open a request" must not open today's; an identity answer is not reused."""
    script = SCRIPT.replace('<question id="date" kind="date" min="2026-01-01">',
                            '<question id="date" kind="date" min="2026-01-01" reuse="no">')
    folder = write_app(tmp_path / "app", script=script,
                       settings='[services.clock]\nimplementation = "caruso.clock:ManualClock"\n')
    application = load_app(folder)
    with application:
        application.services.get("storage").upgrade()
        bom = application.services.get("bom")
        with bom.unit_of_work() as session:
            session.add(bom.Customer(id=1, name="Ada", email="ada@example.com"))
        scripts = application.services.get("scripts")
        first = scripts.start_session("move", customer=1, mode="self-service", channel="web")
        first = scripts.answer(first.session_id, "2026-07-01")
        assert "request" == first.step
        scripts.answer(first.session_id, True)
        application.services.resolve("clock").advance(60)
        again = scripts.start_session("move", customer=1, mode="self-service", channel="web")
        assert "date" == again.step  # reuse="no": asked again
        again = scripts.answer(again.session_id, "2026-07-02")
        assert "request" == again.step  # a yes/no: asked again, not taken from the first session
