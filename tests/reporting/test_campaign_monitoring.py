"""A real outbound campaign, watched by the monitor and counted by the campaign-results report."""

from __future__ import annotations

import datetime as dt
import textwrap

from caruso.services.reporting.following import load_state
from caruso.services.reporting.live import LiveState
from caruso.testing import make_app
from tests.communication.conftest import BASE

QUEUES = """
[[services.communication.settings.queues]]
name = "sales"

[[services.communication.settings.agents]]
name = "anna"

[[services.communication.settings.campaigns]]
name = "green"
queue = "sales"
mode = "progressive"
numbers = ["+31201000001", "+31201000002", "+31201000003"]
max_attempts = 1
"""


def test_campaign_progress_on_the_monitor_the_log_and_the_report(tmp_path):
    """Three numbers, one agent: +..01 answered, the others no answer. The monitor (the server's own
    counters), the state folded from the log (what `caruso monitor` shows) and the report agree:
    3 attempts, 1 reached, finished."""
    app = make_app(tmp_path / "app", BASE.format(url=f"sqlite:///{tmp_path / 'crm.db'}") + textwrap.dedent(QUEUES))
    app.start()
    try:
        server = app.services.get("communication")
        telephony = app.services.resolve("telephony")
        telephony.dial_results = lambda request: "answered" if request.number.endswith("01") else "no-answer"
        started = app.services.get("clock").now()
        server.login("anna")
        server.campaigns.start("green")
        for _ in range(20):
            server.scheduler.run_until(server.now() + 30)
            for view in server.agent_views():
                for interaction in view.interactions:
                    if server.interaction(interaction).state == "connected":
                        server.complete("anna", interaction, code="sale")
        server.tick()
        (live,) = app.services.get("monitor").snapshot().campaigns
        state = LiveState()
        load_state(app.services.get("storage"), state, server.epoch())
        (folded,) = state.campaign_statuses()
        assert [("green", "finished", 3, 1), ("green", "finished", 3, 1)] == [
            (c.name, c.state, c.attempts, c.reached) for c in (live, folded)]
        result = app.services.get("reports").run("campaign-results", started, started + dt.timedelta(hours=1),
                                                 "total")
        assert [("green", 3, 1, 2)] == [(row.dimensions[0], row.values["attempts"], row.values["reached"],
                                         row.values["no_answer"]) for row in result.rows]
    finally:
        app.stop()
