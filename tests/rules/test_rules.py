"""The rules plugin in a real application: rule files, saves that fire them, actions, timers, loops."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from caruso.errors import RuleDefinitionError, ServiceStartError
from caruso.testing import make_app, run_cli

DESCRIPTOR = """
[application]
name = "Sales"

[plugins]
enabled = ["rules"]

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.rules.settings]
due_every = 0
{extra}
"""

MODEL = """<model>
<object name="Opportunity" table="opportunity">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="stage" type="enum" default="initiation">
    <value>initiation</value><value>qualification</value><value>rfp-received</value>
    <value>quote-sent</value><value>won</value><value>lost</value>
  </attribute>
  <attribute name="value" type="decimal" precision="12" scale="2" default="0"/>
  <attribute name="owner" type="string"/>
  <attribute name="touched" type="integer" default="0"/>
  <attribute name="quote_sent" type="datetime"/>
</object>
<object name="Task" table="task">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="title" type="string" required="yes"/>
  <attribute name="assignee" type="string" required="yes"/>
  <attribute name="opportunity" type="integer"/>
</object>
</model>
"""

RFP_RULE = """<rules>
  <rule name="big-rfp-review" on="reached" object="Opportunity" attribute="stage" value="rfp-received"
        if="object.value > 50000">
    <description>An RFP above 50,000 is reviewed by a senior manager.</description>
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Review the RFP of ' ~ object.name, 'assignee': 'senior-manager',
                                 'opportunity': object.id}"/>
    </action>
  </rule>
</rules>
"""


@pytest.fixture
def sales(tmp_path):
    """A factory: ``sales(rules_xml, extra_toml="", url=None)`` -> (app, bom, rules service), started."""
    started = []

    def make(rules: str, *, extra: str = "", url: str | None = None, folder: str = "app"):
        url = url or f"sqlite:///{tmp_path / 'crm.db'}"
        app = make_app(tmp_path / folder, DESCRIPTOR.format(url=url, extra=extra),
                       {"models/sales.xml": MODEL, "rules/sales.xml": rules})
        app.start()
        started.append(app)
        app.services.get("storage").upgrade()
        return app, app.services.get("bom"), app.services.get("rules")

    yield make
    for app in reversed(started):
        app.stop()


def tasks(bom) -> list[tuple]:
    with bom.session() as session:
        return [(t.title, t.assignee, t.opportunity)
                for t in session.scalars(sa.select(bom.model.Task).order_by(bom.model.Task.id))]


def save(bom, **values):
    """Create an Opportunity; its key."""
    with bom.unit_of_work() as session:
        opportunity = bom.model.Opportunity(**values)
        session.add(opportunity)
        session.flush()
        return opportunity.id


def change(bom, key, **values):
    with bom.unit_of_work() as session:
        opportunity = session.get(bom.model.Opportunity, key)
        for name, value in values.items():
            setattr(opportunity, name, value)


def test_an_rfp_above_50000_gets_a_review_task_for_a_senior_manager(sales, database_url):
    """The rule from the literature, on every backend: only the big opportunity reaching 'RFP received' gets a task."""
    _app, bom, rules = sales(RFP_RULE, url=database_url)
    big = save(bom, name="Windpark", value=Decimal("80000"))
    small = save(bom, name="Kiosk", value=Decimal("9000"))
    change(bom, big, stage="qualification")
    assert [] == tasks(bom)  # not the stage yet
    change(bom, big, stage="rfp-received")
    change(bom, small, stage="rfp-received")
    change(bom, big, owner="els")  # still at the stage: it does not 'reach' it again
    assert [("Review the RFP of Windpark", "senior-manager", big)] == tasks(bom)
    assert [("big-rfp-review", "changed", str(big), "done")] == [
        (run.rule, run.event, run.key, run.status) for run in rules.runs()]


def test_the_task_is_written_by_the_rule_in_the_audit_trail_and_a_rollback_fires_nothing(sales):
    """A rolled-back change fires no rule; the action's save is made in the rule's name."""
    _app, bom, rules = sales(RFP_RULE)
    key = save(bom, name="Windpark", value=Decimal("80000"))
    with pytest.raises(RuntimeError):
        with bom.unit_of_work() as session:
            session.get(bom.model.Opportunity, key).stage = "rfp-received"
            session.flush()
            raise RuntimeError("the agent cancelled")
    assert [] == tasks(bom)
    assert [] == rules.runs()


CHANGED_RULES = """<rules>
  <rule name="note-owner" on="changed" object="Opportunity" attribute="owner" if="old.owner != none">
    <action name="set"><arg name="previous" value="old.owner"/></action>
  </rule>
  <rule name="created" on="created" object="Opportunity" if="object.value >= 1000">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Call ' ~ object.name, 'assignee': object.owner or 'sales'}"/>
    </action>
  </rule>
  <rule name="deleted" on="deleted" object="Opportunity">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Deleted ' ~ object.name, 'assignee': 'admin'}"/>
    </action>
  </rule>
</rules>
"""


def test_created_changed_and_deleted_rules_see_old_and_new_values(sales):
    """'changed' fires only for its attribute, with old values; 'created' and 'deleted' see the object."""
    _app, bom, rules = sales(CHANGED_RULES)
    key = save(bom, name="Windpark", value=Decimal("5000"), owner="els")
    save(bom, name="Kiosk", value=Decimal("10"))
    change(bom, key, stage="qualification")  # not the owner: note-owner does not fire
    change(bom, key, owner="piet")
    with bom.unit_of_work() as session:
        session.delete(session.get(bom.model.Opportunity, key))
    assert [("Call Windpark", "els", None), ("Deleted Windpark", "admin", None)] == tasks(bom)
    assert [("created", "created"), ("note-owner", "changed"), ("deleted", "deleted")] == [
        (run.rule, run.event) for run in rules.runs()]


LOOP_RULE = """<rules>
  <rule name="touch" on="changed" object="Opportunity">
    <action name="update">
      <arg name="object" value="'Opportunity'"/>
      <arg name="key" value="object.id"/>
      <arg name="values" value="{'touched': object.touched + 1}"/>
    </action>
  </rule>
</rules>
"""


def test_a_rule_that_triggers_itself_is_stopped_at_max_depth_and_reported(sales):
    """Each firing saves the object again; the chain stops at max_depth with a 'loop' run and a degraded health."""
    _app, bom, rules = sales(LOOP_RULE, extra="max_depth = 4")
    key = save(bom, name="Windpark")
    change(bom, key, owner="els")
    with bom.session() as session:
        assert 4 == session.get(bom.model.Opportunity, key).touched  # four firings, then refused
    runs = rules.runs()  # in the order they ended: the deepest first
    assert [(4, "loop"), (3, "done"), (2, "done"), (1, "done"), (0, "done")] == [(r.depth, r.status) for r in runs]
    assert "rules triggered rules 4 levels deep" in runs[0].error
    assert "touch(Opportunity 1) -> touch(Opportunity 1)" in runs[0].error
    assert "degraded" == rules.health().status


FAILING_RULE = """<rules>
  <rule name="call-erp" on="created" object="Opportunity">
    <action name="call">
      <arg name="service" value="'erp'"/>
      <arg name="method" value="'register'"/>
    </action>
  </rule>
</rules>
"""


def test_a_failing_action_is_in_the_run_log_and_the_save_stays(sales):
    """An action that fails (no such service) does not undo the save; the run log says what failed, where."""
    _app, bom, rules = sales(FAILING_RULE)
    key = save(bom, name="Windpark")
    with bom.session() as session:
        assert "Windpark" == session.get(bom.model.Opportunity, key).name
    [run] = rules.runs()
    assert ("failed", "call-erp") == (run.status, run.rule)
    assert "action 'call' (" in run.error and "rules/sales.xml:" in run.error and "no service 'erp'" in run.error


DUE_RULE = """<rules>
  <rule name="quote-follow-up" on="due" object="Opportunity" attribute="quote_sent" after="3d"
        if="object.stage == 'quote-sent'">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'Follow up ' ~ object.name, 'assignee': object.owner}"/>
    </action>
  </rule>
</rules>
"""


def test_a_due_rule_fires_once_when_its_timer_expires_on_the_injected_clock(sales):
    """Three days after the quote, on the manual clock: one task; a second run fires nothing; a new moment fires again."""
    app, bom, rules = sales(DUE_RULE)
    clock = app.services.get("clock")
    sent = clock.now()
    key = save(bom, name="Windpark", stage="quote-sent", owner="els", quote_sent=sent)
    save(bom, name="Kiosk", stage="won", owner="piet", quote_sent=sent)  # the condition does not hold
    clock.advance(3 * 86400 - 60)
    assert 0 == rules.run_due()
    clock.advance(120)
    assert 2 == rules.run_due()
    assert 0 == rules.run_due()
    assert [("Follow up Windpark", "els", None)] == tasks(bom)
    assert ["done", "not-due"] == [run.status for run in rules.runs()]
    change(bom, key, quote_sent=clock.now())  # a new quote: a new moment
    clock.advance(3 * 86400)
    assert 1 == rules.run_due()
    assert 2 == len(tasks(bom))


def test_rule_problems_are_refused_at_start_with_file_line_and_did_you_mean(sales):
    """Unknown event, object, attribute and action, and a misspelt attribute in a condition, each at its line."""
    broken = """<rules>
  <rule name="a" on="creted" object="Opportunity">
    <action name="note"><arg name="text" value="'x'"/></action>
  </rule>
  <rule name="b" on="changed" object="Oportunity">
    <action name="note"><arg name="text" value="'x'"/></action>
  </rule>
  <rule name="c" on="reached" object="Opportunity" attribute="stge" value="won">
    <action name="note"><arg name="text" value="'x'"/></action>
  </rule>
  <rule name="d" on="changed" object="Opportunity" if="object.valeu > 5">
    <action name="crate"><arg name="object" value="'Task'"/></action>
  </rule>
</rules>
"""
    with pytest.raises(ServiceStartError) as caught:
        sales(broken)
    error = caught.value.__cause__
    assert isinstance(error, RuleDefinitionError)
    assert [(2, "unknown event 'creted' (did you mean 'created'?)")] == [
        (p.line, p.message.split(": ", 1)[1]) for p in error.problems]  # the reader stops at the form
    fixed = broken.replace("creted", "created")
    with pytest.raises(ServiceStartError) as caught:
        sales(fixed, folder="app2")
    messages = [(p.line, p.message) for p in caught.value.__cause__.problems]
    assert [
        (5, "<rule name=\"b\">: no business object 'Oportunity' (did you mean 'Opportunity'?)"),
        (8, "<rule name=\"c\">: Opportunity has no attribute 'stge' (did you mean 'stage'?)"),
        (12, "<rule name=\"d\">: unknown action 'crate' (did you mean 'create'?)"),
        (11, "<rule name=\"d\">: object.valeu: Opportunity has no attribute 'valeu' (did you mean 'value'?)"),
    ] == messages


def test_caruso_check_reports_rule_problems_without_starting(tmp_path):
    """`caruso check` reads the rule files against the model files: an unknown attribute at its line, no database."""
    rules = RFP_RULE.replace('attribute="stage"', 'attribute="stadium"')
    make_app(tmp_path / "app", DESCRIPTOR.format(url=f"sqlite:///{tmp_path / 'crm.db'}", extra=""),
             {"models/sales.xml": MODEL, "rules/sales.xml": rules})
    result = run_cli("check", str(tmp_path / "app"))
    assert 1 == result.exit_code
    assert "rules/sales.xml:3:" in result.output  # libxml2 gives the line where the start tag ends
    assert "Opportunity has no attribute 'stadium'" in result.output
    assert not (tmp_path / "crm.db").exists()


def test_an_unsafe_or_invalid_rule_file_is_refused(sales):
    """A DOCTYPE with an entity and an element the DTD does not know are refused before anything runs."""
    with pytest.raises(ServiceStartError) as caught:
        sales('<!DOCTYPE rules [<!ENTITY x "y">]><rules/>')
    assert "refused: the DOCTYPE declares entities" in str(caught.value.__cause__)
    with pytest.raises(ServiceStartError) as caught:
        sales("<rules><rule name='a' on='created' object='Opportunity'/></rules>", folder="app2")
    assert "breaks rules.dtd" in str(caught.value.__cause__)


def test_durations_read_as_seconds():
    """90s, 30m, 24h, 3d and plain numbers; nonsense is None."""
    from caruso_rules.reader import parse_duration

    assert [90.0, 1800.0, 86400.0, 259200.0, 12.0, None] == [
        parse_duration(text) for text in ("90s", "30m", "24h", "3d", "12", "soon")]


def test_rules_see_the_clock_in_now(sales):
    """``now`` in a condition is the injected clock's time."""
    rule = """<rules>
  <rule name="late" on="created" object="Opportunity" if="now.year == 2031">
    <action name="create">
      <arg name="object" value="'Task'"/>
      <arg name="values" value="{'title': 'x', 'assignee': 'y'}"/>
    </action>
  </rule>
</rules>"""
    app, bom, _rules = sales(rule)
    clock = app.services.get("clock")
    save(bom, name="a")
    clock.advance((dt.datetime(2031, 1, 2, tzinfo=dt.timezone.utc) - clock.now()).total_seconds())
    save(bom, name="b")
    assert [("x", "y", None)] == tasks(bom)


def test_hook_register_rules(tmp_path):
    """A plugin's rule files (register_rules) run beside the application's own."""
    plugin = '''
from pathlib import Path
import caruso

@caruso.hookimpl
def register_rules(app):
    return [Path(__file__).parent / "sales_rules.xml"]
'''
    descriptor = DESCRIPTOR.format(url=f"sqlite:///{tmp_path / 'crm.db'}", extra="") + '\n'
    descriptor = descriptor.replace('enabled = ["rules"]', 'enabled = ["rules"]\nfolders = ["plugins"]')
    app = make_app(tmp_path / "app", descriptor, {
        "models/sales.xml": MODEL, "plugins/sales_plugin.py": plugin, "plugins/sales_rules.xml": RFP_RULE,
        "rules/own.xml": CHANGED_RULES})
    with app:
        app.services.get("storage").upgrade()
        bom = app.services.get("bom")
        key = save(bom, name="Windpark", value=Decimal("60000"), owner="els")
        change(bom, key, stage="rfp-received")
        assert [("Call Windpark", "els", None), ("Review the RFP of Windpark", "senior-manager", key)] == tasks(bom)
