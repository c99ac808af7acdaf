"""The contact-statistics figures against the simulator's own count of the same traffic.

The simulator (``caruso simulate``) counts offered, answered, abandoned contacts, the waits and
the service level from the server's events as they happen, in Python; the report computes
them afterwards in SQL from the log. Two implementations, one truth.
"""

from __future__ import annotations

import datetime as dt

from caruso.services.communication.simulation import Simulator, single_queue_settings
from caruso.services.reporting.definitions import read_definitions
from caruso.services.reporting.service import ReportsService, ReportsSettings, report_sources
from caruso.storage import Storage

DEFINITION = """<report name="simulated" title="Simulated" source="contacts" interval="total">
  <parameter name="short-abandon" value="0"/>
  <parameter name="answer-within" value="20"/>
  <measure name="offered"/>
  <measure name="answered"/>
  <measure name="abandoned"/>
  <measure name="short_abandoned"/>
  <measure name="service_level"/>
  <measure name="average_speed_of_answer"/>
  <measure name="average_handle_time"/>
</report>
"""


def test_the_report_counts_what_the_simulator_counted(tmp_path):
    """Four agents at 85% load with impatient callers for three hours (seed 3): every count equal,
    the service level and the averages equal to the millisecond the log rounds waits to."""
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    settings = single_queue_settings(agents=4, calls_per_hour=60, handle_time=204, patience=60)
    simulated = Simulator(settings, database=url, seed=3).run(3).total
    path = tmp_path / "simulated.xml"
    path.write_text(DEFINITION, encoding="utf-8")
    definition = read_definitions([path], report_sources(None))["simulated"]
    storage = Storage(url)
    try:
        reports = ReportsService().bind(None, storage, None, ReportsSettings())
        result = reports.run(definition, dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))
    finally:
        storage.close()
    totals = result.totals
    assert (simulated.offered, simulated.answered, simulated.abandoned, 0) == (
        totals["offered"], totals["answered"], totals["abandoned"], totals["short_abandoned"])
    assert (round(simulated.service_level, 3), round(simulated.average_speed_of_answer, 1),
            round(simulated.average_handle_time, 1)) == (
        round(totals["service_level"], 3), round(totals["average_speed_of_answer"], 1),
        round(totals["average_handle_time"], 1))
