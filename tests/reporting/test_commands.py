"""``caruso report`` and ``caruso monitor`` on an application folder whose database holds a fixed log."""

from __future__ import annotations

import json
import textwrap

import pytest

from caruso.storage import Storage
from caruso.testing import make_app, run_cli
from tests.reporting.conftest import DESCRIPTOR, FixedLog


@pytest.fixture
def folder(tmp_path):
    """An application folder and its SQLite database with two contacts and an agent on 2 March."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    make_app(tmp_path / "app", textwrap.dedent(DESCRIPTOR).format(url=url))
    storage = Storage(url)
    log = FixedLog(storage)
    log.agent("anna", 0, "ready")
    log.contact("c1", "billing", 600, answer=610, agent="anna", end=710, complete=730)
    log.contact("c2", "billing", 700, abandon=760)
    log.flush()
    log.log.close()
    storage.close()
    return tmp_path / "app"


def test_report_as_csv(folder):
    """The period by hour on stdout, from the command line's ISO times."""
    result = run_cli("report", str(folder), "contact-statistics", "--from", "2026-03-02T08:00",
                     "--to", "2026-03-02T09:00", "--format", "csv")
    assert 0 == result.exit_code
    assert ["interval,queue,offered,answered,abandoned", "2026-03-02T08:00+00:00,billing,2,1,1"] == [
        ",".join(line.split(",")[:5]) for line in result.output.splitlines()]


def test_report_as_html_to_a_file(folder, tmp_path):
    """-o writes the page and says so on stderr."""
    target = tmp_path / "report.html"
    result = run_cli("report", str(folder), "agent-availability", "--from", "2026-03-02", "--to", "2026-03-03",
                     "-o", str(target))
    assert (0, f"wrote {target}: 1 rows\n") == (result.exit_code, result.output)
    page = target.read_text(encoding="utf-8")
    assert (1, 2) == (page.count("<figure"), page.count("<td>anna</td>"))  # her day and her total


def test_report_with_another_interval_as_json(folder):
    """--interval total --format json: one row for the whole period."""
    result = run_cli("report", str(folder), "contact-statistics", "--from", "2026-03-02", "--to", "2026-03-03",
                     "--interval", "total", "--format", "json")
    data = json.loads(result.output)
    assert ("total", [2]) == (data["interval"], [row["offered"] for row in data["rows"]])


def test_a_reversed_period_exits_2_with_the_message(folder):
    """No traceback: the message and exit code 2."""
    result = run_cli("report", str(folder), "contact-statistics", "--from", "2026-03-03", "--to", "2026-03-02")
    assert (2, "Error: the period is reversed: it ends (2026-03-02T00:00:00+00:00) before it starts "
               "(2026-03-03T00:00:00+00:00); swap --from and --to\n") == (result.exit_code, result.output)


def test_a_year_by_15_minutes_is_refused(folder):
    """Bounded before anything is read, with a message that says how to ask for less."""
    result = run_cli("report", str(folder), "contact-statistics", "--from", "2025-01-01", "--to", "2026-01-01",
                     "--interval", "15min", "--format", "csv")
    assert (2, "Error: 2025-01-01T00:00:00+00:00 to 2026-01-01T00:00:00+00:00 by 15min is 35,040 intervals, more "
               "than the limit of 10,000 (max_intervals in [services.reports.settings]); choose a longer interval "
               "or a shorter period\n") == (result.exit_code, result.output)


def test_list_the_reports(folder):
    """--list names each report, its source and its measures."""
    result = run_cli("report", str(folder), "--list")
    assert 0 == result.exit_code
    assert ["agent-availability", "campaign-outcomes", "campaign-results", "contact-statistics", "voicemail"] == [
        line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")]


def test_monitor_json_snapshot(folder):
    """--json prints the snapshot once; 2 March is not today, so only what is still open counts:
    anna's last presence (ready) is seeded from before today."""
    result = run_cli("monitor", str(folder), "--json")
    data = json.loads(result.output)
    assert (0, {"ready": 1, "logged-out": 1}) == (result.exit_code, data["agents_by_state"])
    assert [("billing", 0), ("technical", 0)] == [(q["name"], q["waiting"]) for q in data["queues"]]


def test_monitor_once_prints_the_tables(folder):
    """--once prints the status as text and exits (what a test or a cron job can run)."""
    result = run_cli("monitor", str(folder), "--once")
    lines = result.output.splitlines()
    assert 0 == result.exit_code
    assert ("Reporting test", "live status at") == (lines[0][:14], lines[0][17:31])
    assert "agents: 1 logged-out, 1 ready" == lines[1]
    assert ["anna", "ready"] == next(line.split()[:2] for line in lines if line.startswith("anna"))
