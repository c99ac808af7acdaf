"""The descriptor: loading, every error a user can meet (with its file:line), settings, imports."""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path
from typing import Literal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caruso.config import (
    DESCRIPTOR_NAME,
    AppConfig,
    ApplicationSection,
    PluginsSection,
    ServiceSection,
    StorageSection,
    import_object,
    load_config,
    locate_key,
    parse_config,
    structure_settings,
)
from caruso.errors import ConfigError, Problem


def write_descriptor(folder: Path, text: str) -> Path:
    """Write a dedented caruso.toml into folder and return its path."""
    path = folder / DESCRIPTOR_NAME
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(folder: Path, environ: dict[str, str] | None = None) -> list[Problem]:
    """The problems load_config reports for the descriptor in folder."""
    with pytest.raises(ConfigError) as caught:
        load_config(folder, environ=environ or {})
    return caught.value.problems


# --- a valid descriptor ------------------------------------------------------------------


FULL = """
    [application]
    name = "Demo Utility"
    description = "Customer care for a small utility"

    [storage]
    url = "sqlite:///data/crm.db"

    [plugins]
    enabled = ["caruso-customers", "caruso-billing"]
    folders = ["plugins"]

    [services.billing]
    implementation = "billing_wrapper:BillingService"
    enabled = true
    requires = ["clock"]
    ranking = 5
    properties = { region = "nl" }
    [services.billing.settings]
    url = "http://127.0.0.1:8901"
    password = "${BILLING_PASSWORD}"

    [services.chat]
    enabled = false
"""


def test_full_descriptor_round_trip(tmp_path):
    """Every section and key of a valid descriptor lands in AppConfig, paths made absolute."""
    (tmp_path / "plugins").mkdir()
    path = write_descriptor(tmp_path, FULL)

    config = load_config(tmp_path, environ={"BILLING_PASSWORD": "s3cret"})

    expected = AppConfig(
        application=ApplicationSection(name="Demo Utility", description="Customer care for a small utility"),
        storage=StorageSection(url=f"sqlite:///{tmp_path}/data/crm.db"),
        plugins=PluginsSection(
            enabled=("caruso-customers", "caruso-billing"), folders=(tmp_path / "plugins",)
        ),
        services={
            "billing": ServiceSection(
                implementation="billing_wrapper:BillingService",
                enabled=True,
                requires=("clock",),
                ranking=5,
                properties={"region": "nl"},
                settings={"url": "http://127.0.0.1:8901", "password": "s3cret"},
            ),
            "chat": ServiceSection(enabled=False),
        },
        path=path,
        root=tmp_path,
    )
    assert expected == config
    assert path.read_text(encoding="utf-8") == config.text


def test_minimal_descriptor_takes_the_defaults(tmp_path):
    """Only [application] name is required; everything else has a default."""
    write_descriptor(tmp_path, '[application]\nname = "Mini"\n')

    config = load_config(tmp_path)

    assert ("Mini", "") == (config.application.name, config.application.description)
    assert f"sqlite:///{tmp_path}/caruso.db" == config.storage.url
    assert PluginsSection() == config.plugins
    assert {} == config.services


def test_load_config_accepts_the_file_itself(tmp_path):
    """Passing the descriptor file gives the same config as passing its folder."""
    path = write_descriptor(tmp_path, '[application]\nname = "Mini"\n')

    assert load_config(tmp_path) == load_config(path)


def test_descriptor_with_another_name_resolves_against_its_own_folder(tmp_path):
    """A descriptor file with another name still resolves paths against its folder."""
    path = tmp_path / "staging.toml"
    path.write_text('[application]\nname = "Staging"\n[storage]\nurl = "sqlite:///s.db"\n', encoding="utf-8")

    config = load_config(path)

    assert (path, tmp_path, f"sqlite:///{tmp_path}/s.db") == (config.path, config.root, config.storage.url)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("sqlite:///crm.db", "sqlite:///{root}/crm.db"),
        ("sqlite:///data/crm.db?timeout=5", "sqlite:///{root}/data/crm.db?timeout=5"),
        ("sqlite+pysqlite:///crm.db", "sqlite+pysqlite:///{root}/crm.db"),
        ("sqlite:////var/lib/crm.db", "sqlite:////var/lib/crm.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://crm@db.example/crm", "postgresql+psycopg://crm@db.example/crm"),
    ],
)
def test_sqlite_url_resolution(tmp_path, written, expected):
    """Only a relative SQLite file becomes absolute; in-memory, absolute and other URLs stay."""
    write_descriptor(tmp_path, f'[application]\nname = "x"\n[storage]\nurl = "{written}"\n')

    assert expected.format(root=tmp_path) == load_config(tmp_path).storage.url


def test_plugin_folders_resolve_against_the_descriptor_folder(tmp_path, monkeypatch):
    """Relative and absolute plugin folders both end up absolute, whatever the working directory."""
    (tmp_path / "app" / "plugins").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    write_descriptor(
        tmp_path / "app",
        f'[application]\nname = "x"\n[plugins]\nfolders = ["plugins", "{tmp_path / "shared"}"]\n',
    )
    monkeypatch.chdir(tmp_path)

    config = load_config("app")

    assert (tmp_path / "app" / "plugins", tmp_path / "shared") == config.plugins.folders


# --- environment interpolation ----------------------------------------------------------


def test_environment_interpolation_everywhere(tmp_path):
    """${NAME}, ${NAME:-default} and $${ work in every string value, nested ones included."""
    write_descriptor(tmp_path, """
        [application]
        name = "${APP_NAME}"
        description = "costs $$5, literal $${HOME}, ${UNSET:-fallback}, ${EMPTY:-used}, [${EMPTY}]"
        [services.billing]
        requires = ["${DEP}"]
        properties = { region = "${REGION:-de}" }
        [services.billing.settings]
        nested = { deep = ["${APP_NAME}-db"] }
    """)
    environ = {"APP_NAME": "Demo", "DEP": "clock", "EMPTY": "", "REGION": "nl"}

    config = load_config(tmp_path, environ=environ)

    assert "Demo" == config.application.name
    assert "costs $$5, literal ${HOME}, fallback, used, []" == config.application.description
    billing = config.services["billing"]
    assert (("clock",), {"region": "nl"}) == (billing.requires, billing.properties)
    assert {"nested": {"deep": ["Demo-db"]}} == billing.settings


def test_environment_defaults_to_os_environ(tmp_path, monkeypatch):
    """Without an explicit environ, variables come from the process environment."""
    monkeypatch.setenv("CARUSO_TEST_APP", "From Env")
    write_descriptor(tmp_path, '[application]\nname = "${CARUSO_TEST_APP}"\n')

    assert "From Env" == load_config(tmp_path).application.name


def test_unset_variable_is_reported_with_key_path_and_line(tmp_path):
    """An unset variable names the key path and the variable, and says how to fix it."""
    path = write_descriptor(tmp_path, """
        [application]
        name = "x"
        [services.billing.settings]
        url = "http://127.0.0.1:8901"
        password = "${BILLING_PASSWORD}"
    """)

    expected = [Problem(
        str(path), 5,
        "services.billing.settings.password: environment variable BILLING_PASSWORD is not set; "
        "set it, or give a default with ${BILLING_PASSWORD:-value}",
    )]
    assert expected == problems_of(tmp_path)


def test_malformed_references_are_reported(tmp_path):
    """An invalid name and an unterminated ${ each give their own problem."""
    path = write_descriptor(tmp_path, """
        [application]
        name = "x"
        description = "${1ST}"
        [storage]
        url = "sqlite:///${DB"
    """)

    expected = [
        Problem(str(path), 3, "application.description: '${1ST}' is not a valid reference; write "
                "${NAME} or ${NAME:-default} (NAME: letters, digits, _), or '$${' for a literal '${'"),
        Problem(str(path), 5, "storage.url: unterminated '${' in 'sqlite:///${DB'; close it with '}', "
                "or write '$${' for a literal '${'"),
    ]
    assert expected == problems_of(tmp_path)


_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("${}:-"), st.characters(blacklist_categories=("Cs", "Cc"))),
    max_size=30,
)


@given(text=_TEXT)
@settings(max_examples=60, deadline=None)
def test_escaped_text_comes_back_unchanged(text):
    """Any string with ${ written as $${ survives interpolation exactly (no ${ -> unchanged)."""
    escaped = text.replace("${", "$${")
    descriptor = f"[application]\nname = {json.dumps(escaped, ensure_ascii=False)}\n"

    config = parse_config(descriptor, path=Path("/nowhere/caruso.toml"), environ={})

    assert text == config.application.name


# --- errors: files and syntax ------------------------------------------------------------


def test_missing_descriptor_in_folder(tmp_path):
    """A folder without caruso.toml: the message says where it looked and what to write."""
    expected = [Problem(None, None, (
        f"no caruso.toml in {tmp_path} (looked for {tmp_path / 'caruso.toml'}); "
        'create it with at least:\n\n[application]\nname = "My CRM"\n'
    ))]
    assert expected == problems_of(tmp_path)


def test_missing_descriptor_file(tmp_path):
    """A descriptor path that does not exist is named, with a starter descriptor."""
    missing = tmp_path / "prod.toml"

    expected = [Problem(None, None, (
        f'descriptor {missing} does not exist; create it with at least:\n\n[application]\nname = "My CRM"\n'
    ))]
    assert expected == problems_of(missing)


def test_missing_folder(tmp_path):
    """A path that is neither a folder nor a descriptor says what load_config wants."""
    missing = tmp_path / "no-such-app"

    expected = [Problem(None, None, f"{missing} does not exist; pass an application folder or a descriptor file")]
    assert expected == problems_of(missing)


def test_toml_syntax_error_points_at_the_line(tmp_path):
    """tomllib's "(at line L, column C)" becomes file:L, the column stays in the message."""
    path = write_descriptor(tmp_path, '[application]\nname = "Demo\ndescription = "x"\n')

    expected = [Problem(str(path), 2, "TOML syntax error: Illegal character '\\n' (column 13)")]
    assert expected == problems_of(tmp_path)


def test_toml_syntax_error_at_end_of_file(tmp_path):
    """An error at the end of the document has no line; the message says where."""
    write_descriptor(tmp_path, '[application]\nname = "x"\n[plugins]\nenabled = ["a",\n')
    path = tmp_path / DESCRIPTOR_NAME

    expected = [Problem(str(path), None, "TOML syntax error: Invalid value at the end of the file")]
    assert expected == problems_of(tmp_path)


def test_file_that_is_not_utf8(tmp_path):
    """A descriptor saved in another encoding is refused at the line of the first bad byte."""
    path = tmp_path / DESCRIPTOR_NAME
    path.write_bytes('[application]\nname = "Caf\u00e9"\n'.encode("latin-1"))

    expected = [Problem(str(path), 2, "not valid UTF-8 (byte 25); save the file as UTF-8")]
    assert expected == problems_of(tmp_path)


# --- errors: keys, types, values ---------------------------------------------------------


KEY_PROBLEMS = {
    "unknown key with did-you-mean": (
        '[application]\nname = "x"\n\n[servces.billing]\nranking = 1\n',
        4, "unknown key 'servces' at the top level (did you mean 'services'?)",
    ),
    "unknown key, allowed keys listed": (
        '[application]\nname = "x"\n[storage]\nurl = "sqlite://"\npool = 5\n',
        5, "unknown key 'pool' in [storage]; allowed keys: url",
    ),
    "wrong type": (
        '[application]\nname = "x"\n\n[services.billing]\nranking = "high"\n',
        5, "services.billing.ranking: expected an integer, got a string 'high'",
    ),
    "a section that is not a table": (
        'storage = "sqlite://"\n[application]\nname = "x"\n',
        1, "storage: expected a table, got a string 'sqlite://'",
    ),
    "missing required value, at its table": (
        '# my CRM\n[application]\ndescription = "no name"\n',
        2, "missing required key 'name' (a string) in [application]",
    ),
    "missing required table": (
        '[storage]\nurl = "sqlite://"\n',
        None, "missing required table [application] (it needs: name)",
    ),
}


@pytest.mark.parametrize(("text", "line", "message"), KEY_PROBLEMS.values(), ids=KEY_PROBLEMS)
def test_key_problems(tmp_path, text, line, message):
    """Unknown keys, wrong types and missing values: key path, line and how to fix."""
    path = write_descriptor(tmp_path, text)

    assert [Problem(str(path), line, message)] == problems_of(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('enabled = "yes"', "services.s.enabled: expected a boolean (true or false), got a string 'yes'"),
        ("ranking = 1.5", "services.s.ranking: expected an integer, got a float 1.5"),
        ("ranking = true", "services.s.ranking: expected an integer, got a boolean true"),
        ('requires = "clock"', "services.s.requires: expected an array of strings, got a string 'clock'"),
        ("requires = [1]", "services.s.requires[0]: expected a string, got an integer 1"),
        ("implementation = 1979-05-27", "services.s.implementation: expected a string, got a date 1979-05-27"),
        ("properties = [1]", "services.s.properties: expected a table, got an array"),
        ("settings = 3", "services.s.settings: expected a table, got an integer 3"),
    ],
)
def test_cattrs_would_coerce_these_but_we_refuse(tmp_path, line, message):
    """Values cattrs would quietly convert ("yes" -> True, "clock" -> ('c', ...)) are errors."""
    path = write_descriptor(tmp_path, f'[application]\nname = "x"\n[services.s]\n{line}\n')

    assert [Problem(str(path), 4, message)] == problems_of(tmp_path)


@pytest.mark.parametrize(
    ("implementation", "why"),
    [
        ("billing_wrapper.BillingService", "has no ':' between module and object"),
        (":BillingService", "has no valid module name ('')"),
        ("billing-wrapper:BillingService", "has no valid module name ('billing-wrapper')"),
        ("billing_wrapper:", "has no valid object name ('')"),
        ("billing_wrapper:Billing Service", "has no valid object name ('Billing Service')"),
    ],
)
def test_bad_implementation_path(tmp_path, implementation, why):
    """An implementation must be "package.module:Class"; the message says which part is wrong."""
    path = write_descriptor(tmp_path, f"""
        [application]
        name = "x"
        [services.billing]
        implementation = "{implementation}"
    """)

    expected = [Problem(
        str(path), 4,
        f'services.billing.implementation: {implementation!r} {why}; write it as "package.module:Class"',
    )]
    assert expected == problems_of(tmp_path)


def test_missing_plugin_folder(tmp_path):
    """A plugin folder that does not exist is reported with the absolute path looked for."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "notes.txt").write_text("not a folder", encoding="utf-8")
    path = write_descriptor(tmp_path, """
        [application]
        name = "x"
        [plugins]
        folders = [
            "plugins",
            "extra",
            "notes.txt",
        ]
    """)

    expected = [
        Problem(str(path), 4, f"plugin folder 'extra' does not exist (looked for {tmp_path / 'extra'}); "
                "create it or remove it from plugins.folders"),
        Problem(str(path), 4, f"plugin folder 'notes.txt' is not a folder ({tmp_path / 'notes.txt'})"),
    ]
    assert expected == problems_of(tmp_path)


def test_all_problems_are_reported_at_once_in_line_order(tmp_path):
    """One load reports every problem, sorted by line, not only the first."""
    path = write_descriptor(tmp_path, """
        [application]
        description = 5
        [plugins]
        folders = ["nowhere"]
        [services.billing]
        implementation = "billing"
        rankng = 2
        [services.billing.settings]
        password = "${NOPE}"
        [servces]
    """)

    messages = [(p.line, p.message) for p in problems_of(tmp_path)]

    assert [
        (1, "missing required key 'name' (a string) in [application]"),
        (2, "application.description: expected a string, got an integer 5"),
        (4, f"plugin folder 'nowhere' does not exist (looked for {tmp_path / 'nowhere'}); "
            "create it or remove it from plugins.folders"),
        (6, "services.billing.implementation: 'billing' has no ':' between module and object; "
            'write it as "package.module:Class"'),
        (7, "unknown key 'rankng' in [services.billing] (did you mean 'ranking'?)"),
        (9, "services.billing.settings.password: environment variable NOPE is not set; "
            "set it, or give a default with ${NOPE:-value}"),
        (10, "unknown key 'servces' at the top level (did you mean 'services'?)"),
    ] == messages
    assert {str(path)} == {p.file for p in problems_of(tmp_path)}


def test_config_error_text_is_file_line_message(tmp_path):
    """str(ConfigError) is one "file:line: message" per problem, ready for the terminal."""
    path = write_descriptor(tmp_path, '[application]\nname = "x"\n[storage]\nurl = 5\n')

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)

    assert f"{path}:4: storage.url: expected a string, got an integer 5" == str(caught.value)


# --- service settings --------------------------------------------------------------------


@attrs.frozen
class Retry:
    """Nested settings table for the tests."""

    attempts: int = 3
    backoff: float = 0.5


@attrs.frozen
class BillingSettings:
    """A service's Settings class as a plugin author would write it."""

    url: str
    export_dir: Path = Path("exports")
    retry: Retry = Retry()
    regions: tuple[str, ...] = ()
    mode: Literal["live", "test"] = "live"
    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))


SETTINGS_DESCRIPTOR = """
    [application]
    name = "x"

    [services.billing.settings]
    url = "http://127.0.0.1:8901"
    export_dir = "out/billing"
    regions = ["nl", "be"]
    [services.billing.settings.retry]
    attempts = 5
"""


def test_structure_settings_builds_the_settings_class(tmp_path):
    """Raw settings become the Settings instance; nested tables and Path fields included."""
    write_descriptor(tmp_path, SETTINGS_DESCRIPTOR)
    config = load_config(tmp_path)

    settings_obj = structure_settings(
        BillingSettings, config.services["billing"].settings, config=config, service="billing"
    )

    expected = BillingSettings(
        url="http://127.0.0.1:8901",
        export_dir=tmp_path / "out" / "billing",
        retry=Retry(attempts=5, backoff=0.5),
        regions=("nl", "be"),
    )
    assert expected == settings_obj


def test_structure_settings_without_a_settings_class_keeps_the_dict(tmp_path):
    """A service without Settings receives its table as a dict, unchanged."""
    write_descriptor(tmp_path, SETTINGS_DESCRIPTOR)
    config = load_config(tmp_path)
    raw = config.services["billing"].settings

    assert raw is structure_settings(None, raw, config=config, service="billing")


def test_structure_settings_reports_every_problem_with_its_line(tmp_path):
    """Unknown keys (nested too), wrong types and missing values, each at its line."""
    path = write_descriptor(tmp_path, """
        [application]
        name = "x"

        [services.billing.settings]
        export_dir = 7
        regions = ["nl", 2]
        [services.billing.settings.retry]
        attemps = 5
        backoff = "slow"
    """)
    config = load_config(tmp_path)

    with pytest.raises(ConfigError) as caught:
        structure_settings(BillingSettings, config.services["billing"].settings, config=config, service="billing")

    assert [
        Problem(str(path), 4, "missing required key 'url' (a string) in [services.billing.settings]"),
        Problem(str(path), 5, "services.billing.settings.export_dir: expected a path (a string), got an integer 7"),
        Problem(str(path), 6, "services.billing.settings.regions[1]: expected a string, got an integer 2"),
        Problem(str(path), 8, "unknown key 'attemps' in [services.billing.settings.retry] "
                "(did you mean 'attempts'?)"),
        Problem(str(path), 9, "services.billing.settings.retry.backoff: expected a number, got a string 'slow'"),
    ] == caught.value.problems


@pytest.mark.parametrize(
    ("line", "at", "message"),
    [
        ('mode = "prod"', 5, "services.billing.settings.mode: expected one of 'live', 'test', got a string 'prod'"),
        ("timeout = 0", 3, "services.billing.settings: invalid value: 'timeout' must be > 0: 0.0"),
    ],
)
def test_settings_choices_and_validators(tmp_path, line, at, message):
    """A Literal names its choices; a validator's own message is passed on at the table's line."""
    path = write_descriptor(tmp_path, f'[application]\nname = "x"\n[services.billing.settings]\nurl = "u"\n{line}\n')
    config = load_config(tmp_path)

    with pytest.raises(ConfigError) as caught:
        structure_settings(BillingSettings, config.services["billing"].settings, config=config, service="billing")

    assert [Problem(str(path), at, message)] == caught.value.problems


def test_settings_missing_entirely(tmp_path):
    """A service with required settings but no settings table: named, without a line."""
    path = write_descriptor(tmp_path, '[application]\nname = "x"\n')
    config = load_config(tmp_path)

    with pytest.raises(ConfigError) as caught:
        structure_settings(BillingSettings, {}, config=config, service="billing")

    expected = [Problem(str(path), None, "missing required key 'url' (a string) in [services.billing.settings]")]
    assert expected == caught.value.problems


def test_settings_in_an_inline_table(tmp_path):
    """Settings written inline are reported at the line of the inline table."""
    path = write_descriptor(tmp_path, """
        [application]
        name = "x"
        [services.billing]
        settings = { url = "http://x", retry = { attempts = "many" } }
    """)
    config = load_config(tmp_path)

    with pytest.raises(ConfigError) as caught:
        structure_settings(BillingSettings, config.services["billing"].settings, config=config, service="billing")

    expected = [Problem(str(path), 4, "services.billing.settings.retry.attempts: expected an integer, got a string 'many'")]
    assert expected == caught.value.problems


def test_structure_settings_refuses_a_class_it_cannot_structure(tmp_path):
    """A Settings that is not an attrs class is a programmer mistake: TypeError."""
    write_descriptor(tmp_path, '[application]\nname = "x"\n')
    config = load_config(tmp_path)

    with pytest.raises(TypeError):
        structure_settings(dict, {}, config=config, service="billing")


# --- import_object -----------------------------------------------------------------------


@pytest.fixture
def module_name():
    """A fresh module name, removed from sys.modules afterwards."""
    name = "caruso_test_" + uuid.uuid4().hex[:8]
    yield name
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]


def test_import_object_from_a_plugin_folder(tmp_path, module_name):
    """A class in a plugin folder imports; the folder leaves sys.path afterwards."""
    (tmp_path / f"{module_name}.py").write_text(
        "class BillingService:\n    class Settings:\n        pass\n", encoding="utf-8"
    )
    before = list(sys.path)

    found = import_object(f"{module_name}:BillingService.Settings", search_paths=[tmp_path])

    assert ("Settings", module_name) == (found.__name__, found.__module__)
    assert before == sys.path


def test_import_object_from_an_installed_package():
    """Installed modules import without search paths."""
    assert Path is import_object("pathlib:Path")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("pathlib.Path", "'pathlib.Path' has no ':' between module and object; write it as \"package.module:Class\""),
        ("pathlib:Pth", "cannot import 'pathlib:Pth': 'pathlib' has no attribute 'Pth' (did you mean 'Path'?)"),
        ("pathlib:Path.expandusr", "cannot import 'pathlib:Path.expandusr': 'pathlib:Path' has no attribute "
         "'expandusr' (did you mean 'expanduser'?)"),
        ("caruso.confg:AppConfig", "cannot import 'caruso.confg:AppConfig': no module named 'caruso.confg' "
         "(did you mean 'config'?)"),
    ],
)
def test_import_object_errors(path, message):
    """Bad syntax, a missing attribute or module: ConfigError with cause and did-you-mean."""
    with pytest.raises(ConfigError) as caught:
        import_object(path)

    assert [Problem(None, None, message)] == caught.value.problems


FOLDER_IMPORT_PROBLEMS = {
    "misspelt module, suggested from the folder": (
        "X = 1\n", "{m}x:X",
        "cannot import '{m}x:X': no module named '{m}x' (did you mean '{m}'?) (looked in {folder} and sys.path)",
    ),
    "missing dependency named, not the module": (
        "import caruso_no_such_dependency\n", "{m}:X",
        "cannot import '{m}:X': module '{m}' needs 'caruso_no_such_dependency', which is not installed "
        "(No module named 'caruso_no_such_dependency')",
    ),
    "module raising at import time": (
        "raise RuntimeError('no licence key')\n", "{m}:X",
        "cannot import '{m}:X': importing module '{m}' raised RuntimeError: no licence key",
    ),
}


@pytest.mark.parametrize(("source", "path", "message"), FOLDER_IMPORT_PROBLEMS.values(), ids=FOLDER_IMPORT_PROBLEMS)
def test_import_object_from_a_broken_plugin_folder(tmp_path, module_name, source, path, message):
    """A module in a plugin folder that is missing or fails: the cause is named."""
    (tmp_path / f"{module_name}.py").write_text(source, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        import_object(path.format(m=module_name), search_paths=[tmp_path])

    assert [Problem(None, None, message.format(m=module_name, folder=tmp_path))] == caught.value.problems


def test_import_object_module_with_a_syntax_error(tmp_path, module_name):
    """A syntax error in the module is reported at its own file and line."""
    module_file = tmp_path / f"{module_name}.py"
    module_file.write_text("X = 1\ndef broken(:\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        import_object(f"{module_name}:X", search_paths=[tmp_path])

    [problem] = caught.value.problems
    assert (str(module_file), 2) == (problem.file, problem.line)
    assert problem.message.startswith(f"cannot import '{module_name}:X': SyntaxError: ")


# --- the line locator --------------------------------------------------------------------


LOCATOR_DOC = '''\
title = """
x = 1
[fake]
"""
list = [
  "a = b",
  [1, 2],
]
[services."my.svc"]
ranking = 1
dotted.key = 2
inline = { p = 1, q = [1, 2] }
[[items]]
n = 1
[[items]]
n = 2
[items.sub]
m = 3
[only.sub]
'''


@pytest.mark.parametrize(
    ("key_path", "line"),
    [
        ("title", 1),
        ("x", None),
        ("fake", None),
        ("list[1]", 5),
        ('services."my.svc"', 9),
        ('services."my.svc".ranking', 10),
        ('services."my.svc".dotted.key', 11),
        ('services."my.svc".inline.q[1]', 12),
        ('services."my.svc".absent', 9),
        (("items", 0, "n"), 14),
        (("items", 1, "n"), 16),
        (("items", 1, "sub", "m"), 18),
        ("only", 19),
        ("nowhere.at.all", None),
    ],
)
def test_locate_key(key_path, line):
    """Headers, key lines, dotted keys, inline tables, arrays of tables; strings are skipped."""
    assert line == locate_key(LOCATOR_DOC, key_path)


def test_locate_key_reads_a_file(tmp_path):
    """Given a Path, locate_key reads the file; a missing file gives None."""
    path = write_descriptor(tmp_path, FULL)

    assert (12, None) == (locate_key(path, "services.billing"), locate_key(tmp_path / "nope.toml", "x"))


_BARE = st.text(alphabet="abcxyz_-019", min_size=1, max_size=6)
_QUOTED = st.text(alphabet='ab .=[]#"\'\\', min_size=1, max_size=6)
_KEY = st.one_of(_BARE, _QUOTED)
_MULTILINE = st.text(alphabet="ab =[]#.{}'\n", max_size=20).map(lambda s: s.lstrip("\n"))
_LEAF = st.one_of(
    st.integers(-5, 5),
    st.text(alphabet="ab =[]#{}'", max_size=8),
    _MULTILINE.map(lambda s: ("multi", s)),
    st.lists(st.integers(0, 9), max_size=3).map(lambda items: ("array", items)),
)
_TREE = st.recursive(
    st.dictionaries(_KEY, _LEAF, max_size=3),
    lambda children: st.dictionaries(_KEY, st.one_of(_LEAF, children, children.map(lambda t: ("inline", t))),
                                     max_size=3),
    max_leaves=10,
)


def _toml_key(key: str) -> str:
    return key if all(c in "abcxyz_-019" for c in key) else json.dumps(key)


def _render(tree: dict) -> tuple[str, dict, dict[tuple, int]]:
    """TOML text for a generated tree, the data tomllib should read, and each key's line."""
    lines: list[str] = []
    expected: dict[tuple, int] = {}

    def value(leaf, at: tuple) -> tuple[str, object]:
        if isinstance(leaf, tuple) and leaf[0] == "multi":
            return '"""' + leaf[1] + '"""', leaf[1]
        if isinstance(leaf, tuple) and leaf[0] == "array":
            return "[\n" + "".join(f"  {i},\n" for i in leaf[1]) + "]", leaf[1]
        if isinstance(leaf, tuple) and leaf[0] == "inline":
            parts, data = [], {}
            for key, child in leaf[1].items():
                if isinstance(child, dict) or (isinstance(child, tuple) and child[0] in ("multi", "array", "inline")):
                    continue  # keep inline tables to plain one-line values
                text, data[key] = value(child, (*at, key))
                parts.append(f"{_toml_key(key)} = {text}")
                expected[(*at, key)] = expected[at]
            return "{ " + ", ".join(parts) + " }", data
        return json.dumps(leaf), leaf

    def table(node: dict, at: tuple) -> dict:
        data = {}
        for key, child in node.items():
            if not isinstance(child, dict):
                expected[(*at, key)] = len(lines) + 1
                text, data[key] = value(child, (*at, key))
                lines.extend(f"{_toml_key(key)} = {text}".split("\n"))
        for key, child in node.items():
            if isinstance(child, dict):
                header = ".".join(_toml_key(k) for k in (*at, key))
                lines.append(f"[{header}]")
                expected[(*at, key)] = len(lines)
                data[key] = table(child, (*at, key))
        return data

    data = table(tree, ())
    return "\n".join(lines) + "\n", data, expected


@given(tree=_TREE)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_locator_finds_every_key_of_a_generated_document(tree):
    """For any generated document, every key path is located on the line that defines it."""
    text, data, expected = _render(tree)
    assert data == tomllib.loads(text)  # the generator writes valid TOML

    found = {key_path: locate_key(text, key_path) for key_path in expected}

    assert expected == found
