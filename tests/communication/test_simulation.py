"""The simulator: the real router in virtual time, held to the Erlang C formula for M/M/c queues."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from caruso.services.communication.erlang import erlang_c
from caruso.services.communication.simulation import Simulator, single_queue_settings
from caruso.testing import run_cli

AGENTS, HANDLE = 8, 180.0

# Occupancy -> simulated hours. How long is long enough: for 8 agents the spread of the
# average speed of answer between seeded runs of 100,000 calls was measured (an independent
# M/M/c recurrence, 10 seeds) at 6.6% (occupancy 0.7), 7.1% (0.85) and 11.6% (0.95) of the
# Erlang value, and shrinks as 1/sqrt(calls). These lengths (about 700,000, 820,000 and
# 2,150,000 calls) bring it to about 2.5%, so the 5% tolerance is two standard deviations of
# the run's own noise: a disagreement means the router is wrong, not unlucky.
RUNS = {0.7: 6250, 0.85: 6000, 0.95: 14200}


def test_erlang_c_agreement_at_three_occupancies():
    """Service level and average speed of answer of seeded M/M/c runs through the real server
    agree with Erlang C within 5% relative at occupancies 0.7, 0.85 and 0.95 (three
    `caruso simulate` processes in parallel)."""
    processes = {}
    for occupancy, hours in RUNS.items():
        rate = occupancy * AGENTS * 3600 / HANDLE
        command = [sys.executable, "-m", "caruso", "simulate", "--agents", str(AGENTS), "--rate", str(rate),
                   "--aht", str(HANDLE), "--hours", str(hours), "--warmup", "50", "--seed", "7", "--json"]
        processes[occupancy] = (rate, subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    failures = []
    for occupancy, (rate, process) in processes.items():
        output, _ = process.communicate(timeout=1800)
        assert 0 == process.returncode
        figures = json.loads(output)
        expected = erlang_c(agents=AGENTS, calls_per_hour=rate, handle_time=HANDLE, target=20.0)
        assert 0 == figures["abandoned"]
        for name, simulated, predicted in (
            ("service level", figures["service_level"], expected.service_level),
            ("average speed of answer", figures["average_speed_of_answer"], expected.average_speed_of_answer),
            ("occupancy", figures["occupancy"], expected.occupancy),
        ):
            error = abs(simulated - predicted) / predicted
            print(f"occupancy {occupancy}: {name} {simulated} vs Erlang C {predicted:.4f} ({error:.1%})")
            if error > 0.05:
                failures.append(f"occupancy {occupancy}: {name} {simulated} vs {predicted:.4f} ({error:.1%})")
    assert [] == failures


def test_the_worked_case():
    """100 calls/hour, 180 s, 8 agents, 20 s: Erlang C gives 0.8801 and 10.04 s; a short
    simulation lands near them and reports every call answered."""
    expected = erlang_c(agents=8, calls_per_hour=100, handle_time=180, target=20)
    assert (0.8801, 10.04) == (round(expected.service_level, 4), round(expected.average_speed_of_answer, 2))
    result = Simulator(single_queue_settings(agents=8, calls_per_hour=100, handle_time=180), seed=3).run(50)
    assert result.total.offered == result.total.answered
    assert abs(result.total.service_level - expected.service_level) < 0.05
    assert result.events >= 6 * result.total.answered


def test_patience_makes_callers_abandon():
    """With a patience, an understaffed queue loses callers; every contact is answered or abandoned."""
    settings = single_queue_settings(agents=2, calls_per_hour=60, handle_time=180, patience=60)
    result = Simulator(settings, seed=1).run(20)
    total = result.total
    assert total.abandoned > 0
    assert total.offered == total.answered + total.abandoned


def test_a_simulated_day_ends_with_every_agent_logged_out(tmp_path):
    """The log a simulation leaves (for reports and the monitor) has nobody still logged in at its end."""
    from caruso.services.communication.events import EventLog
    from caruso.storage.manager import Storage

    url = f"sqlite:///{tmp_path / 'events.db'}"
    Simulator(single_queue_settings(agents=3, calls_per_hour=30, handle_time=120), database=url, seed=2).run(1)
    log = EventLog(Storage(url))
    log.open(create=False)
    assert {f"agent-{n:04d}": "logged-out" for n in (1, 2, 3)} == log.last_agent_states()


def test_simulate_command_prints_kpis_and_the_prediction():
    """`caruso simulate --agents --rate --aht` prints the KPI table with the Erlang C column."""
    result = run_cli("simulate", "--agents", "8", "--rate", "100", "--aht", "180", "--hours", "5", "--seed", "1")
    assert 0 == result.exit_code
    assert "Erlang C" in result.output
    assert "0.8801" in result.output
    assert "service level" in result.output


def test_simulate_command_refuses_half_the_options():
    """--agents without --rate and --aht is a usage error that says what to give."""
    result = run_cli("simulate", "--agents", "8")
    assert 2 == result.exit_code
    assert "give --agents, --rate and --aht together" in result.output


def test_simulate_an_application_traffic_profile(tmp_path):
    """Without options the application's own queues, agents and traffic streams are simulated."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "caruso.toml").write_text("""
[application]
name = "Sim"

[services.communication.settings]
skills = ["billing", "technical"]

[[services.communication.settings.queues]]
name = "billing"
requires = "skills HAS 'billing'"
[[services.communication.settings.queues]]
name = "technical"
requires = "skills HAS 'technical'"
steps = [{ after = 30, requires = "skills HAS 'billing'" }]

[[services.communication.settings.agents]]
name = "a"
skills = { billing = 5 }
[[services.communication.settings.agents]]
name = "b"
skills = { technical = 5, billing = 2 }

[services.communication.settings.traffic]
streams = [{ queue = "billing", per_hour = 10, handle_time = 120 },
           { queue = "technical", per_hour = 8, handle_time = 200, patience = 300 }]
""")
    result = run_cli("simulate", str(folder), "--hours", "10", "--seed", "2", "--json")
    assert 0 == result.exit_code, result.output
    figures = json.loads(result.output)
    assert {"billing", "technical"} == set(figures["queues"])
    assert figures["offered"] == figures["answered"] + figures["abandoned"]
    assert not (Path(folder) / "caruso.db").exists()  # the simulation never touches the application's data


def test_events_command_exports_queue_log(tmp_path):
    """`caruso events --format queue_log` writes Asterisk lines for a handled call, without starting anything."""
    from caruso.testing import make_app
    from tests.communication.conftest import BASE, QUEUES

    app = make_app(tmp_path / "app", BASE.format(url=f"sqlite:///{tmp_path / 'crm.db'}") + QUEUES).start()
    server = app.services.get("communication")
    server.login("anna")
    call = server.offer("voice", queue="billing", address="+31201234567")
    server.accept("anna", call.id)
    server.hangup(call.id, by="customer")
    app.stop()
    out = tmp_path / "queue_log"
    result = run_cli("events", str(tmp_path / "app"), "-o", str(out))
    assert 0 == result.exit_code, result.output
    events = [line.split("|")[4] for line in out.read_text().splitlines()]
    assert ["AGENTLOGIN", "ENTERQUEUE", "CONNECT", "COMPLETECALLER"] == [e for e in events if e != "UNPAUSEALL"][:4]
    jsonl = run_cli("events", str(tmp_path / "app"), "--format", "jsonl")
    assert 0 == jsonl.exit_code
    assert len(jsonl.output.splitlines()) >= 6


def test_the_call_centre_example_checks_and_simulates():
    """examples/callcentre passes `caruso check` and simulates a day: every contact answered or abandoned."""
    folder = Path(__file__).parents[2] / "examples" / "callcentre"
    assert 0 == run_cli("check", str(folder)).exit_code
    result = run_cli("simulate", str(folder), "--hours", "8", "--seed", "1", "--json")
    figures = json.loads(result.output)
    assert figures["offered"] == figures["answered"] + figures["abandoned"]
    for kpis in figures["queues"].values():
        assert kpis["offered"] == kpis["answered"] + kpis["abandoned"]
