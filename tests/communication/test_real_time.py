"""Real time: the timers run on their own thread, or in the caller's asyncio loop; events stream."""

from __future__ import annotations

import asyncio
import time

from caruso.testing import make_app, run_cli
from tests.communication.conftest import QUEUES

REAL = """
[application]
name = "Real time"

[storage]
url = "sqlite:///{db}"

[services.communication.settings]
skills = ["billing", "technical", "moves"]
languages = ["nl", "en"]
offer_timeout = 0.3
real_time = {real_time}
"""


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_timers_run_on_their_own_thread(tmp_path):
    """With the system clock, an offer nobody accepts is taken back after offer_timeout seconds."""
    app = make_app(tmp_path / "app", REAL.format(db=tmp_path / "crm.db", real_time="true") + QUEUES).start()
    try:
        server = app.services.get("communication")
        server.login("anna")
        call = server.offer("voice", queue="billing")
        assert "offered" == call.state
        assert _wait_for(lambda: server.agent("anna").state == "away")
        assert "missed offer" == server.agent("anna").reason
        assert "waiting" == server.interaction(call.id).state
        assert _wait_for(lambda: server.event_log.pending == 0)  # written by the periodic flush
    finally:
        app.stop()


def test_serve_in_an_asyncio_loop_and_stream_events(tmp_path):
    """real_time = false: the application's own loop awaits serve(); events() streams every event."""
    app = make_app(tmp_path / "app", REAL.format(db=tmp_path / "crm.db", real_time="false") + QUEUES).start()
    server = app.services.get("communication")

    async def scenario():
        serving = asyncio.create_task(server.serve())
        seen = []

        async def listen():
            async for event in server.events():
                seen.append(event.kind)
                if event.kind == "unanswered":
                    return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.05)
        server.login("anna")
        server.offer("voice", queue="billing")
        await asyncio.wait_for(listener, 5)
        serving.cancel()
        return seen

    try:
        seen = asyncio.run(scenario())
        assert ["agent", "offered", "queued", "routed", "unanswered"] == seen[:5]
    finally:
        app.stop()


def test_caruso_check_reports_communication_problems(tmp_path):
    """`caruso check` lists the descriptor's communication problems at their lines, starting nothing."""
    broken = QUEUES.replace("requires = \"skills HAS 'technical'\"", "requires = \"skills HAS 'tecnical'\"")
    make_app(tmp_path / "app", REAL.format(db=tmp_path / "crm.db", real_time="false") + broken)
    result = run_cli("check", str(tmp_path / "app"))
    assert 1 == result.exit_code
    assert "caruso.toml:" in result.output
    assert "unknown skill 'tecnical' (did you mean 'technical'?)" in result.output
    assert not (tmp_path / "crm.db").exists()
