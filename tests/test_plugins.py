"""Plugin discovery, the hook contract, and a test for every hook."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import click
import pytest

from caruso import hookspecs
from caruso.cli import _add_plugin_commands
from caruso.errors import ConfigError, PluginError, Problem
from caruso.plugins import DEFAULT_PLUGINS, describe_plugins, load_plugins, make_plugin_manager
from caruso.testing import make_app, run_cli

TESTS = Path(__file__).parent

HOOKS = sorted(
    name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "caruso_spec")
)

APP = """
    [application]
    name = "plugin test"
    [plugins]
    folders = ["plugins"]
"""


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A real installed distribution 'caruso-greeting' with a 'caruso' entry point."""
    site = tmp_path / "site"
    (site / "caruso_greeting_plugin.py").parent.mkdir(parents=True)
    (site / "caruso_greeting_plugin.py").write_text(
        "import click\n"
        "from caruso import hookimpl, ServiceDefinition\n"
        "class Greeter:\n"
        "    def greet(self, who):\n"
        "        return f'Hello {who}'\n"
        "@hookimpl\n"
        "def register_services(app):\n"
        "    return [ServiceDefinition('greeter', Greeter)]\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def greet():\n"
        "        '''Say hello.'''\n"
        "        click.echo('Hello from a plugin')\n"
    )
    dist = site / "caruso_greeting-1.2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: caruso-greeting\nVersion: 1.2.0\n")
    (dist / "entry_points.txt").write_text("[caruso]\ngreeting = caruso_greeting_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    yield "greeting"
    sys.modules.pop("caruso_greeting_plugin", None)


def test_every_hook_has_a_docstring():
    """The contract documents itself: every hook in hookspecs.py has a docstring."""
    undocumented = [name for name in HOOKS if not (getattr(hookspecs, name).__doc__ or "").strip()]
    assert [] == undocumented


def test_every_hook_has_a_test():
    """Each hook has a test named test_hook_<name> somewhere under tests/."""
    source = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    tested = set(re.findall(r"def test_hook_(\w+)\(", source))
    assert [] == [name for name in HOOKS if name not in tested]


def test_every_hook_is_documented_in_the_plugin_guide():
    """docs/plugins.md explains every hook."""
    guide = (TESTS.parent / "docs" / "plugins.md").read_text()
    assert [] == [name for name in HOOKS if f"`{name}" not in guide]


def test_hook_register_services(tmp_path):
    """A folder plugin's register_services adds a service, credited to that plugin."""
    app = make_app(tmp_path, APP, {"plugins/greeting.py": """
        from caruso import hookimpl, ServiceDefinition

        class Greeter:
            def greet(self, who):
                return f"Hello {who}"

        @hookimpl
        def register_services(app):
            return [ServiceDefinition("greeter", Greeter, properties={"lang": "en"})]
    """})
    with app:
        assert "Hello Ada" == app.services.get("greeter").greet("Ada")
        info = app.services.info("greeter")
        assert ("plugins/greeting", {"lang": "en"}) == (info.plugin, info.properties)


def test_hook_register_commands(installed_plugin, monkeypatch):
    """An installed plugin adds a command to the caruso command line."""

    @click.group()
    def group():
        pass

    _add_plugin_commands(group)
    result = click.testing.CliRunner().invoke(group, ["greet"])
    assert (0, "Hello from a plugin\n") == (result.exit_code, result.output)


def test_hook_check_application(tmp_path):
    """Problems a plugin finds are printed by caruso check, which then exits 1."""
    make_app(tmp_path, APP, {"plugins/checker.py": """
        from caruso import hookimpl, Problem

        @hookimpl
        def check_application(app):
            return [Problem("scripts/move.xml", 12, "step 'meter' is never reached")]
    """})
    result = run_cli("check", str(tmp_path))
    assert (1, "scripts/move.xml:12: step 'meter' is never reached\n") == (result.exit_code, result.output)


def test_check_application_results_are_collected(tmp_path):
    """Application.check() gathers the problems of every plugin."""
    app = make_app(tmp_path, APP, {"plugins/a.py": """
        from caruso import hookimpl, Problem

        @hookimpl
        def check_application(app):
            return [Problem(None, None, "from a")]
    """, "plugins/b.py": """
        from caruso import hookimpl, Problem

        @hookimpl
        def check_application(app):
            return [Problem(None, None, "from b")]
    """})
    assert [Problem(None, None, "from a"), Problem(None, None, "from b")] == app.check()


def test_installed_plugin_is_listed_but_not_loaded_until_enabled(installed_plugin, tmp_path):
    """Installing a plugin changes nothing until the descriptor enables it."""
    infos = {p.name: p for p in describe_plugins(None)}
    assert ("entry point", False) == (infos["greeting"].source, infos["greeting"].enabled)
    assert "caruso-greeting==1.2.0 (caruso_greeting_plugin)" == infos["greeting"].location

    plain = make_app(tmp_path / "plain", '[application]\nname = "x"\n')
    assert "greeter" not in plain.services

    enabled = make_app(tmp_path / "enabled", '[application]\nname = "x"\n[plugins]\nenabled = ["greeting"]\n')
    assert "greeting" == enabled.services.info("greeter").plugin


def test_enabled_plugin_that_is_not_installed(installed_plugin, tmp_path):
    """A misspelt plugin name is refused with a suggestion."""
    with pytest.raises(PluginError) as caught:
        make_app(tmp_path, '[application]\nname = "x"\n[plugins]\nenabled = ["greetings"]\n')
    assert "plugin 'greetings': is enabled in the descriptor but no installed package provides it (did you mean 'greeting'?)" == str(caught.value)


def test_plugin_that_fails_to_import(tmp_path):
    """A plugin with a syntax error stops loading; the error names the plugin and the cause."""
    with pytest.raises(PluginError) as caught:
        make_app(tmp_path, APP, {"plugins/broken.py": "def register_services(app)\n    return []\n"})
    assert str(tmp_path / "plugins" / "broken") == caught.value.plugin
    assert "failed to import: SyntaxError" in str(caught.value)


def test_plugin_that_raises_on_import(tmp_path):
    """An exception at import time is reported with its type and message."""
    with pytest.raises(PluginError, match="failed to import: RuntimeError: no licence key"):
        make_app(tmp_path, APP, {"plugins/boom.py": "raise RuntimeError('no licence key')\n"})


def test_plugin_with_misspelt_hook(tmp_path):
    """An implementation of a hook that does not exist is an error with a suggestion."""
    with pytest.raises(PluginError) as caught:
        make_app(tmp_path, APP, {"plugins/typo.py": """
            from caruso import hookimpl

            @hookimpl
            def register_service(app):
                return []
        """})
    assert (
        "plugin 'plugins/typo': implements unknown hook 'register_service' "
        "(did you mean 'register_services'?)"
    ) == str(caught.value)


def test_plugin_with_wrong_hook_signature(tmp_path):
    """A hook implementation asking for an argument the hook does not give is refused at load."""
    with pytest.raises(PluginError) as caught:
        make_app(tmp_path, APP, {"plugins/wrong.py": """
            from caruso import hookimpl

            @hookimpl
            def register_services(app, database):
                return []
        """})
    message = str(caught.value)
    assert message.startswith("plugin 'plugins/wrong': breaks the hook contract:")
    assert "database" in message


def test_plugin_returning_garbage_from_register_services(tmp_path):
    """register_services must return ServiceDefinitions; anything else names the plugin."""
    with pytest.raises(PluginError, match="plugin 'plugins/bad': register_services returned 'greeter'"):
        make_app(tmp_path, APP, {"plugins/bad.py": """
            from caruso import hookimpl

            @hookimpl
            def register_services(app):
                return ["greeter"]
        """})


def test_hook_that_raises_names_the_plugin(tmp_path):
    """An exception inside a hook becomes a PluginError naming plugin and hook."""
    with pytest.raises(PluginError, match="plugin 'plugins/flaky': hook register_services raised KeyError"):
        make_app(tmp_path, APP, {"plugins/flaky.py": """
            from caruso import hookimpl

            @hookimpl
            def register_services(app):
                return {}["missing"]
        """})


def test_missing_plugin_folder(tmp_path):
    """A plugin folder that does not exist is reported (by the descriptor check)."""
    with pytest.raises(ConfigError) as caught:
        make_app(tmp_path, APP)
    (problem,) = caught.value.problems
    assert (str(tmp_path / "caruso.toml"), 5) == (problem.file, problem.line)
    assert problem.message.startswith("plugin folder 'plugins' does not exist")


def test_two_plugins_providing_one_service(tmp_path):
    """Two non-default plugins claiming one service name is an error naming both."""
    plugin = """
        from caruso import hookimpl, ServiceDefinition

        @hookimpl
        def register_services(app):
            return [ServiceDefinition("greeter", object)]
    """
    with pytest.raises(PluginError) as caught:
        make_app(tmp_path, APP, {"plugins/one.py": plugin, "plugins/two.py": plugin})
    assert "plugin 'plugins/two': service 'greeter' is also provided by plugin 'plugins/one'" in str(caught.value)


def test_plugin_overrides_a_default_service(tmp_path):
    """A plugin may replace a built-in service (here the clock) by registering the same name."""
    app = make_app(tmp_path, APP, {"plugins/frozen_time.py": """
        from caruso import hookimpl, ServiceDefinition, Clock, ManualClock

        @hookimpl
        def register_services(app):
            return [ServiceDefinition("clock", ManualClock, provides=(Clock,))]
    """})
    assert ("plugins/frozen_time", "caruso.clock.ManualClock") == (
        app.services.info("clock").plugin,
        app.services.info("clock").implementation,
    )


def test_defaults_are_loaded_and_described():
    """Every built-in component is a plugin, loaded first and shown as built-in."""
    pm = make_plugin_manager()
    load_plugins(pm)
    builtins = [p.name for p in describe_plugins(pm) if p.source == "built-in"]
    assert list(DEFAULT_PLUGINS) == builtins


def test_trace_hooks(monkeypatch, caplog, tmp_path):
    """CARUSO_TRACE_HOOKS=1 logs hook calls to the caruso.hooks logger."""
    monkeypatch.setenv("CARUSO_TRACE_HOOKS", "1")
    caplog.set_level("DEBUG", logger="caruso.hooks")
    make_app(tmp_path, '[application]\nname = "x"\n')
    assert any("register_services" in r.getMessage() for r in caplog.records)


def test_hookspecs_take_keyword_arguments_only():
    """Hooks are called with keyword arguments, so every parameter has a name and no default."""
    for name in HOOKS:
        params = inspect.signature(getattr(hookspecs, name)).parameters.values()
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params), name


def test_two_applications_with_same_named_folder_plugins(tmp_path):
    """Two applications in one process each get their own plugin module of the same name."""
    plugin = """
        from caruso import hookimpl, ServiceDefinition

        class Greeter:
            def greet(self):
                return "{word}"

        @hookimpl
        def register_services(app):
            return [ServiceDefinition("greeter", Greeter)]
    """
    dutch = make_app(tmp_path / "nl", APP, {"plugins/greeting.py": plugin.replace("{word}", "hallo")})
    english = make_app(tmp_path / "en", APP, {"plugins/greeting.py": plugin.replace("{word}", "hello")})
    assert ["hallo", "hello"] == [dutch.services.get("greeter").greet(), english.services.get("greeter").greet()]


def test_folder_plugin_shadowed_by_an_installed_module(tmp_path):
    """A plugin file named like an installed module is refused: the installed one would win."""
    with pytest.raises(PluginError, match="has the same name as the module"):
        make_app(tmp_path, APP, {"plugins/json.py": "X = 1\n"})


def test_one_broken_installed_plugin_keeps_the_other_plugins_commands(installed_plugin, tmp_path, monkeypatch, capsys):
    """An installed plugin that fails to import costs only its own commands, with a warning."""
    site = tmp_path / "site"
    (site / "caruso_broken_plugin.py").write_text("import no_such_dependency\n")
    dist = site / "caruso_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: caruso-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[caruso]\nbroken = caruso_broken_plugin\n")

    @click.group()
    def group():
        pass

    _add_plugin_commands(group)
    assert "greet" in group.commands
    assert "the commands of plugin 'broken' are unavailable" in capsys.readouterr().err


CASES_PLUGIN = '''
from pathlib import Path

import sqlalchemy as sa

from caruso import hookimpl
from caruso.services.reporting import SUM, Dimension, Measure, Part, ReportSource, ratio, total

CASES = sa.table("crm_case", sa.column("opened"), sa.column("closed"), sa.column("deadline"),
                 sa.column("priority"))


class Cases(ReportSource):
    """Service requests by when they were opened, and whether they closed by their deadline."""

    name = "cases"
    tables = ("crm_case",)
    dimensions = (Dimension("priority", "Priority"),)
    measures = (
        Measure("opened", "Opened", "count", total("opened")),
        Measure("in_sla", "Closed in time", "count", total("in_sla")),
        Measure("sla_compliance", "SLA compliance", "ratio", ratio("in_sla", "opened")),
    )

    def facts(self, query):
        return (sa.select(CASES.c.opened.label("start"), CASES.c.priority, CASES.c.closed, CASES.c.deadline)
                .where(CASES.c.opened >= query.start, CASES.c.opened < query.end).subquery("cases"))

    def parts(self, query, facts):
        return (Part("opened", SUM, lambda f, _: sa.literal(1), integer=True),
                Part("in_sla", SUM, lambda f, _: sa.case((f.c.closed <= f.c.deadline, 1), else_=0), integer=True))


@hookimpl
def register_report_sources(app):
    return [Cases]


@hookimpl
def register_reports(app):
    return [Path(__file__).parent / "case-sla.xml"]
'''

CASES_REPORT = """<report name="case-sla" title="Cases by SLA compliance" source="cases" interval="day">
  <dimension name="priority"/>
  <measure name="opened"/>
  <measure name="sla_compliance"/>
</report>
"""


def _cases_app(tmp_path):
    import datetime as dt

    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    day = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc).timestamp()
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE crm_case (opened FLOAT, closed FLOAT, deadline FLOAT, priority TEXT)")
        connection.exec_driver_sql("INSERT INTO crm_case VALUES (?, ?, ?, ?)", [
            (day + 3600, day + 7200, day + 9000, "high"),      # closed in time
            (day + 3600, day + 90000, day + 86400, "high"),    # late
            (day + 7200, day + 8000, day + 90000, "normal"),   # in time
        ])
    engine.dispose()
    app = make_app(tmp_path / "app", APP + f'\n    [storage]\n    url = "{url}"\n',
                   {"plugins/cases.py": CASES_PLUGIN, "plugins/case-sla.xml": CASES_REPORT})
    return app.start()


def test_hook_register_report_sources(tmp_path):
    """A plugin's source of CRM figures (service requests by SLA compliance) computes like the built-ins:
    high 1 of 2 closed by the deadline, normal 1 of 1."""
    import datetime as dt

    app = _cases_app(tmp_path)
    try:
        reports = app.services.get("reports")
        result = reports.run("case-sla", dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 3))
        assert [(("high",), 2, 0.5), (("normal",), 1, 1.0)] == [
            (row.dimensions, row.values["opened"], row.values["sla_compliance"]) for row in result.rows]
    finally:
        app.stop()


def test_hook_register_reports(tmp_path):
    """A plugin's report file joins the built-in ones and is checked by `caruso check`."""
    app = _cases_app(tmp_path)
    try:
        assert "case-sla" in app.services.get("reports").names()
        assert "contact-statistics" in app.services.get("reports").names()
    finally:
        app.stop()
    (tmp_path / "app" / "plugins" / "case-sla.xml").write_text(CASES_REPORT.replace("opened", "openend", 1))
    result = run_cli("check", str(tmp_path / "app"))
    assert 1 == result.exit_code
    assert "unknown measure 'openend' of source 'cases' (did you mean 'opened'?)" in result.output
