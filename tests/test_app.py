"""The Application: descriptor -> plugins -> services -> started system."""

from __future__ import annotations

import pytest

from caruso import Application, ManualClock, SystemClock
from caruso.errors import ConfigError, DependencyError, ServiceDefinitionError, ServiceStartError
from caruso.testing import make_app

# A plugin folder whose services write what happens to them into one shared journal,
# so the tests can check the order of start and stop.
JOURNAL_PLUGIN = """
    import attrs
    from caruso import Service

    JOURNAL = []

    class Recorded(Service):
        def on_start(self):
            JOURNAL.append(("start", self.context.name))
            if getattr(self.settings, "fail", False):
                raise RuntimeError("cannot reach the PBX")

        def on_stop(self):
            JOURNAL.append(("stop", self.context.name))

    @attrs.define
    class RecordedSettings:
        fail: bool = False
        greeting: str = "hello"

    class Configurable(Recorded):
        Settings = RecordedSettings
"""


def journal_app(tmp_path, services: str):
    """An application with the journal plugin and the given [services] sections."""
    return make_app(
        tmp_path,
        '[application]\nname = "journal"\n[plugins]\nfolders = ["plugins"]\n' + services,
        {"plugins/journal.py": JOURNAL_PLUGIN},
    )


def journal():
    import journal as module

    return module.JOURNAL


@pytest.fixture(autouse=True)
def _fresh_journal():
    import sys

    sys.modules.pop("journal", None)
    yield
    sys.modules.pop("journal", None)


def test_services_start_in_dependency_order_and_stop_in_reverse(tmp_path):
    """requires in the descriptor orders start-up; stop runs the other way round."""
    app = journal_app(tmp_path, """
        [services.desk]
        implementation = "journal:Recorded"
        requires = ["queue"]
        [services.queue]
        implementation = "journal:Recorded"
        requires = ["clock"]
    """.replace("        ", ""))
    with app:
        assert "active" == app.services.info("desk").state
    assert [("start", "queue"), ("start", "desk"), ("stop", "desk"), ("stop", "queue")] == journal()


def test_service_that_fails_to_start_stops_the_others_again(tmp_path):
    """A start() that raises stops the services already started, in reverse, and names the culprit."""
    app = journal_app(tmp_path, """
        [services.a]
        implementation = "journal:Recorded"
        [services.b]
        implementation = "journal:Recorded"
        requires = ["a"]
        [services.c]
        implementation = "journal:Configurable"
        requires = ["b"]
        settings = { fail = true }
    """.replace("        ", ""))
    with pytest.raises(ServiceStartError) as caught:
        app.start()
    assert "service 'c' failed to start: RuntimeError: cannot reach the PBX" == str(caught.value)
    assert [("start", "a"), ("start", "b"), ("start", "c"), ("stop", "b"), ("stop", "a")] == journal()
    assert "failed" == app.services.info("c").state


def test_settings_are_structured_into_the_settings_class(tmp_path):
    """[services.NAME.settings] arrives in start() as an instance of the service's Settings."""
    app = journal_app(tmp_path, """
        [services.greeter]
        implementation = "journal:Configurable"
        [services.greeter.settings]
        greeting = "goedemorgen"
    """.replace("        ", ""))
    with app:
        assert "goedemorgen" == app.services.resolve("greeter").settings.greeting


def test_unknown_setting_is_refused_at_load(tmp_path):
    """A misspelt setting fails when the application loads, with a suggestion."""
    with pytest.raises(ConfigError) as caught:
        journal_app(tmp_path, """
            [services.greeter]
            implementation = "journal:Configurable"
            [services.greeter.settings]
            greting = "hi"
        """.replace("            ", ""))
    message = str(caught.value)
    assert "services.greeter.settings" in message and "did you mean 'greeting'?" in message


def test_implementation_swaps_a_builtin_service(tmp_path):
    """The descriptor swaps the clock for a manual one: configuration, not code."""
    app = make_app(tmp_path, """
        [application]
        name = "virtual time"
        [services.clock]
        implementation = "caruso.clock:ManualClock"
    """)
    assert isinstance(app.services.resolve("clock"), ManualClock)
    assert "descriptor" == app.services.info("clock").plugin


def test_default_clock_is_the_system_clock(tmp_path):
    """Without configuration the built-in clock service is real time."""
    app = make_app(tmp_path, '[application]\nname = "x"\n')
    assert isinstance(app.services.resolve("clock"), SystemClock)
    assert "caruso.clock" == app.services.info("clock").plugin


def test_disabled_service_is_not_registered(tmp_path):
    """enabled = false removes a service a plugin contributes."""
    app = make_app(tmp_path, '[application]\nname = "x"\n[services.clock]\nenabled = false\n')
    assert "clock" not in app.services


def test_section_for_a_service_nobody_provides(tmp_path):
    """Settings for a service no plugin provides, without an implementation, is an error."""
    with pytest.raises(ConfigError) as caught:
        make_app(tmp_path, '[application]\nname = "x"\n\n[services.clok]\nranking = 2\n')
    (problem,) = caught.value.problems
    assert (str(tmp_path / "caruso.toml"), 4) == (problem.file, problem.line)
    assert problem.message.startswith("services.clok: no plugin provides a service 'clok' (did you mean 'clock'?)")


def test_implementation_that_does_not_import(tmp_path):
    """An implementation path naming a missing module is a ConfigError naming the path."""
    with pytest.raises(ConfigError) as caught:
        make_app(tmp_path, '[application]\nname = "x"\n[services.erp]\nimplementation = "sap_connector:Erp"\n')
    assert "sap_connector" in str(caught.value)


def test_service_that_cannot_be_built(tmp_path):
    """A factory that raises when built is reported with the service name."""
    with pytest.raises(ServiceDefinitionError, match="service 'erp': could not create"):
        make_app(tmp_path, '[application]\nname = "x"\n[services.erp]\nimplementation = "fractions:Fraction.from_float"\n')


def test_dependency_cycle_is_reported_by_check_and_start(tmp_path):
    """A cycle in requires is named in caruso check and refused at start."""
    app = journal_app(tmp_path, """
        [services.a]
        implementation = "journal:Recorded"
        requires = ["b"]
        [services.b]
        implementation = "journal:Recorded"
        requires = ["a"]
    """.replace("        ", ""))
    (problem,) = app.check()
    assert "a -> b -> a" in problem.message or "b -> a -> b" in problem.message
    with pytest.raises(DependencyError):
        app.start()
    assert [] == journal()


def test_application_from_folder_or_file(tmp_path):
    """from_folder takes the folder or the descriptor file itself."""
    make_app(tmp_path, '[application]\nname = "either way"\n')
    assert ["either way", "either way"] == [
        Application.from_folder(tmp_path).name,
        Application.from_folder(tmp_path / "caruso.toml").name,
    ]


RANKED_PLUGIN = """
    from caruso import hookimpl, ServiceDefinition

    class Greeter:
        version = 2

        def hello(self):
            return "hi"

    @hookimpl
    def register_services(app):
        return [ServiceDefinition("greeter", Greeter, ranking=5)]
"""


def test_descriptor_sets_ranking_zero_over_the_plugins(tmp_path):
    """ranking = 0 in the descriptor is a value, not 'unset'; the version is shown as text."""
    app = make_app(
        tmp_path, '[application]\nname = "x"\n[plugins]\nfolders = ["plugins"]\n[services.greeter]\nranking = 0\n',
        {"plugins/ranked.py": RANKED_PLUGIN},
    )
    assert (0, "2") == (app.services.info("greeter").ranking, app.services.info("greeter").version)


def test_two_applications_with_same_named_implementation_modules(tmp_path):
    """Each application gets its own module for implementation = "module:Class", never the other's."""
    descriptor = '[application]\nname = "{0}"\n[services.billing]\nimplementation = "root_billing:Billing"\n'
    module = 'class Billing:\n    def owner(self):\n        return "{0}"\n'
    bank = make_app(tmp_path / "bank", descriptor.format("bank"), {"root_billing.py": module.format("bank")})
    utility = make_app(tmp_path / "utility", descriptor.format("utility"), {"root_billing.py": module.format("utility")})
    assert ["bank", "utility"] == [bank.services.get("billing").owner(), utility.services.get("billing").owner()]
