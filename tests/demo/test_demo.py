"""`caruso new` and `caruso demo` on the real templates: a new folder is made without
overwriting anything, and the demo fills the template, runs traffic and serves the front office."""

from __future__ import annotations

import re
import socket

import sqlalchemy as sa

from caruso.testing import run_cli


def test_new_copies_a_template_that_passes_check_without_its_databases(tmp_path):
    result = run_cli("new", str(tmp_path / "crm"), "--template", "banking")
    assert 0 == result.exit_code, result.output
    assert (tmp_path / "crm" / "caruso.toml").is_file() and (tmp_path / "crm" / "demo_data.py").is_file()
    assert [] == list((tmp_path / "crm").rglob("*.db")) + list((tmp_path / "crm").rglob("__pycache__"))
    checked = run_cli("check", str(tmp_path / "crm"))
    assert 0 == checked.exit_code, checked.output


def test_new_refuses_a_folder_that_exists_and_writes_nothing(tmp_path):
    target = tmp_path / "crm"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run_cli("new", str(target), "--template", "utility")
    assert 1 == result.exit_code
    assert f"{target} exists already; caruso new creates a new folder and overwrites nothing" in result.output
    assert ["notes.txt"] == sorted(p.name for p in target.iterdir())
    assert ["crm"] == sorted(p.name for p in tmp_path.iterdir())  # no half-made copy left beside it


def test_an_unknown_template_is_refused_by_name(tmp_path):
    result = run_cli("new", str(tmp_path / "crm"), "--template", "utilty")
    assert 2 == result.exit_code and "'utilty' is not one of 'utility', 'banking'" in result.output


def test_the_demo_generates_data_runs_traffic_and_serves_the_front_office(tmp_path):
    folder = tmp_path / "demo"
    result = run_cli("demo", "utility", "--customers", "60", "--port", "0", "--speed", "60", "--seconds", "8",
                     "--folder", str(folder))
    assert 0 == result.exit_code, result.output
    assert re.search(r"Front office: http://127\.0\.0\.1:\d+", result.output)
    assert re.search(r"^klant\s+\S+\s+customer\s+/self-service$", result.output, re.M)
    offered = int(re.search(r"Stopping: (\d+) contacts offered", result.output).group(1))
    assert offered > 0
    engine = sa.create_engine(f"sqlite:///{folder / 'utility.db'}")
    with engine.connect() as connection:
        assert 60 == connection.scalar(sa.text("SELECT count(*) FROM customer"))
        assert connection.scalar(sa.text("SELECT count(*) FROM caruso_event")) > 0
    engine.dispose()


def test_a_second_demo_on_a_taken_port_says_so_before_generating_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("demo", "utility", "--port", str(port), "--folder", str(tmp_path / "demo"))
    assert 1 == result.exit_code
    assert f"port {port} is in use: is a demo running already?" in result.output
    assert not (tmp_path / "demo").exists()
