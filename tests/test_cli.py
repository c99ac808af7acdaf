"""The caruso command line, run in-process and, for `run`, as a real process with signals."""

from __future__ import annotations

import signal
import subprocess
import sys

import caruso
from caruso.testing import make_app, run_cli

STOP_MARKER_PLUGIN = """
    from pathlib import Path
    from caruso import Service

    class Marker(Service):
        def on_start(self):
            Path(self.context.root, "started").write_text("yes")

        def on_stop(self):
            Path(self.context.root, "stopped").write_text("yes")
"""


def test_version():
    """caruso --version prints the package version."""
    result = run_cli("--version")
    assert (0, f"caruso, version {caruso.__version__}\n") == (result.exit_code, result.output)


def test_check_ok(tmp_path):
    """A valid application passes caruso check with exit code 0."""
    make_app(tmp_path, '[application]\nname = "fine"\n')
    result = run_cli("check", str(tmp_path))
    assert 0 == result.exit_code
    assert result.output.startswith(f"{tmp_path / 'caruso.toml'}: ok")


def test_check_reports_descriptor_errors_with_file_and_line(tmp_path):
    """Every descriptor problem is one file:line: message line; exit code 1."""
    (tmp_path / "caruso.toml").write_text('[application]\nname = "x"\n\n[servces.billing]\n')
    result = run_cli("check", str(tmp_path))
    assert 1 == result.exit_code
    assert result.output.startswith(f"{tmp_path / 'caruso.toml'}:4: ")
    assert "did you mean 'services'?" in result.output


def test_check_reports_toml_syntax_error(tmp_path):
    """A TOML syntax error is reported at its line."""
    (tmp_path / "caruso.toml").write_text('[application]\nname = "x\n')
    result = run_cli("check", str(tmp_path))
    assert 1 == result.exit_code
    assert result.output.startswith(f"{tmp_path / 'caruso.toml'}:2: ")


def test_check_reports_plugin_errors(tmp_path):
    """A plugin that fails to import makes caruso check fail, naming the plugin."""
    make_app(tmp_path, '[application]\nname = "x"\n', {})
    (tmp_path / "caruso.toml").write_text('[application]\nname = "x"\n[plugins]\nfolders = ["plugins"]\n')
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("import no_such_module\n")
    result = run_cli("check", str(tmp_path))
    assert 1 == result.exit_code
    assert "ModuleNotFoundError: No module named 'no_such_module'" in result.output


def test_check_without_descriptor(tmp_path):
    """Running in a folder without caruso.toml says where it looked."""
    result = run_cli("check", str(tmp_path))
    assert 1 == result.exit_code
    assert "caruso.toml" in result.output


def test_services_table(tmp_path):
    """caruso services lists each service with state, interfaces, implementation and plugin."""
    make_app(tmp_path, '[application]\nname = "x"\n')
    result = run_cli("services", str(tmp_path))
    header, *rows = result.output.splitlines()
    assert header.split() == ["SERVICE", "STATE", "HEALTH", "PROVIDES", "IMPLEMENTATION", "VERSION", "PLUGIN"]
    assert ["clock", "storage", "bom", "scripts", "telephony", "communication", "reports", "monitor",
            "history", "email", "chat", "sms", "web"] == [row.split()[0] for row in rows]
    clock = rows[0]
    assert ["clock", "active"] == clock.split()[:2]  # no lifecycle methods: always active
    assert "caruso.clock.SystemClock" in clock and clock.endswith("caruso.clock")


def test_services_with_health_starts_and_stops(tmp_path):
    """--health starts the services, shows their health, and stops them again."""
    make_app(
        tmp_path,
        '[application]\nname = "x"\n[plugins]\nfolders = ["plugins"]\n[services.marker]\nimplementation = "marker:Marker"\n',
        {"plugins/marker.py": STOP_MARKER_PLUGIN},
    )
    result = run_cli("services", "--health", str(tmp_path))
    marker = [line for line in result.output.splitlines() if line.startswith("marker")][0]
    assert ["marker", "active", "ok"] == marker.split()[:3]
    assert (tmp_path / "stopped").exists()


def test_plugins_lists_builtins(tmp_path):
    """caruso plugins shows the built-in plugins and their hooks."""
    result = run_cli("plugins")
    clock = [line for line in result.output.splitlines() if line.startswith("caruso.clock")][0]
    assert ["caruso.clock", "built-in", "yes", "register_services", "caruso.clock"] == clock.split()


def test_run_serves_until_interrupted(tmp_path):
    """caruso run starts the services, serves, and on SIGINT stops them cleanly (exit 0)."""
    make_app(
        tmp_path,
        '[application]\nname = "runner"\n[plugins]\nfolders = ["plugins"]\n[services.marker]\nimplementation = "marker:Marker"\n',
        {"plugins/marker.py": STOP_MARKER_PLUGIN},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "caruso", "run", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "is running" in line:
            break
    assert (tmp_path / "started").exists()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert (0, "") == (process.returncode, err)
    assert out.endswith("Stopping...\nStopped.\n")
    assert (tmp_path / "stopped").exists()


def test_run_refuses_a_broken_application(tmp_path):
    """caruso run on a bad descriptor prints the problem and exits non-zero without serving."""
    (tmp_path / "caruso.toml").write_text('[application]\nnam = "x"\n')
    result = run_cli("run", str(tmp_path))
    assert 2 == result.exit_code
