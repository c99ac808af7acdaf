"""Reporting's speed: a report over a million interactions, and the monitor snapshot.

    python benchmarks/bench_reporting.py [--interactions 1000000] [--database URL] [--rounds 3]

1. The contact-statistics report by hour over 1,000,000 interactions against one hand-written
   SQL GROUP BY query computing the same figures on the same database (the baseline, run in
   the same process, alternately with the report). The event log is made by the simulator:
   the real communication server routing Poisson traffic for 180 agents over three queues in
   virtual time (about six events per interaction), on a SQLite file kept at
   ``--database`` (default ``/tmp/caruso-bench-reporting.db``) and reused when it already
   holds the log. Printed: the median of each, the ratio, and whether every figure of every
   row is identical.
2. The monitor snapshot with 180 agents busy and 500 contacts waiting, in a running
   application (virtual time); baseline: the communication server's own views of the same
   state (``agent_views()``, ``queue_status()``, ``waiting()``). Printed: the medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

QUEUES = (("billing", 6000.0, 20), ("technical", 3000.0, 30), ("sales", 1000.0, 20))
"""Name, contacts per hour, service-level threshold."""

BASELINE = """
SELECT CAST(start / 3600 AS INTEGER) AS hour, queue,
       COUNT(*) AS offered,
       SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
       SUM(CASE WHEN answered_at IS NULL AND abandoned_at IS NOT NULL AND waited > 5 THEN 1 ELSE 0 END) AS abandoned,
       SUM(CASE WHEN answered_at IS NULL AND abandoned_at IS NOT NULL AND waited <= 5 THEN 1 ELSE 0 END) AS short_abandoned,
       SUM(CASE WHEN answered_at IS NOT NULL AND waited <= target THEN 1 ELSE 0 END) AS answered_within,
       1.0 * SUM(CASE WHEN answered_at IS NOT NULL AND waited <= target THEN 1 ELSE 0 END)
           / NULLIF(SUM(CASE WHEN answered_at IS NOT NULL
                             OR (abandoned_at IS NOT NULL AND waited > 5) THEN 1 ELSE 0 END)
                    + SUM(voicemail) + SUM(callback), 0) AS service_level,
       SUM(CASE WHEN answered_at IS NOT NULL THEN waited END)
           / NULLIF(SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS average_speed_of_answer,
       MAX(waited) AS longest_wait,
       SUM(CASE WHEN legs > 0 AND legs = legs_ended THEN talk END)
           / NULLIF(SUM(CASE WHEN legs > 0 AND legs = legs_ended THEN 1 ELSE 0 END), 0) AS average_talk_time,
       SUM(CASE WHEN legs > 0 AND legs = legs_ended AND completed_at IS NOT NULL
                THEN talk + completed_at - wrapup_at END)
           / NULLIF(SUM(CASE WHEN legs > 0 AND legs = legs_ended AND completed_at IS NOT NULL THEN 1 ELSE 0 END), 0)
           AS average_handle_time,
       SUM(transfers) AS transfers,
       SUM(voicemail) AS voicemails
FROM (
    SELECT *, waited_until - COALESCE(queued_at, waited_until) AS waited,
           CASE queue WHEN 'billing' THEN 20 WHEN 'technical' THEN 30 WHEN 'sales' THEN 20 ELSE 20 END AS target
    FROM (
        SELECT MIN(CASE WHEN kind = 'offered' THEN at END) AS start,
               MAX(CASE WHEN kind = 'offered' THEN queue END) AS queue,
               MAX(CASE WHEN kind = 'offered' THEN json_extract(data, '$.direction') END) AS direction,
               MIN(CASE WHEN kind = 'queued' THEN at END) AS queued_at,
               MIN(CASE WHEN kind = 'answered' THEN at END) AS answered_at,
               MIN(CASE WHEN kind IN ('answered', 'abandoned', 'voicemail', 'callback') THEN at END) AS waited_until,
               MAX(CASE WHEN kind = 'abandoned' THEN at END) AS abandoned_at,
               MAX(CASE WHEN kind = 'voicemail' THEN 1 ELSE 0 END) AS voicemail,
               MAX(CASE WHEN kind = 'callback' THEN 1 ELSE 0 END) AS callback,
               SUM(CASE WHEN kind = 'transferred' THEN 1 ELSE 0 END) AS transfers,
               SUM(CASE WHEN kind = 'answered' THEN 1 ELSE 0 END) AS legs,
               SUM(CASE WHEN kind IN ('wrapup', 'transferred') THEN 1 ELSE 0 END) AS legs_ended,
               COALESCE(SUM(CASE WHEN kind IN ('wrapup', 'transferred') THEN at END), 0.0)
                 - COALESCE(SUM(CASE WHEN kind = 'answered' THEN at END), 0.0) AS talk,
               MAX(CASE WHEN kind = 'wrapup' THEN at END) AS wrapup_at,
               MAX(CASE WHEN kind = 'completed' THEN at END) AS completed_at
        FROM caruso_event
        WHERE at >= :start AND at < :horizon AND interaction IS NOT NULL
          AND kind IN ('offered', 'queued', 'answered', 'wrapup', 'transferred', 'abandoned', 'voicemail',
                       'callback', 'completed')
        GROUP BY interaction
        HAVING MIN(CASE WHEN kind = 'offered' THEN at END) >= :start
           AND MIN(CASE WHEN kind = 'offered' THEN at END) < :end
    ) AS contacts
    WHERE direction = 'inbound'
) AS facts
GROUP BY CAST(start / 3600 AS INTEGER), queue
ORDER BY 1, 2
"""

MEASURES = ("offered", "answered", "abandoned", "short_abandoned", "answered_within", "service_level",
            "average_speed_of_answer", "longest_wait", "average_talk_time", "average_handle_time",
            "transfers", "voicemails")
DIGITS = {"service_level": 4, "average_speed_of_answer": 3, "longest_wait": 3, "average_talk_time": 3,
          "average_handle_time": 3}

DESCRIPTOR = """
[application]
name = "Reporting benchmark"

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.communication.settings]
real_time = false
offer_timeout = 600
{queues}
{agents}
"""


def _settings(agents: int):
    from caruso.services.communication.settings import (
        AgentSettings, CommunicationSettings, QueueSettings, ServiceLevel, TrafficSettings, TrafficStream)

    queues = tuple(QueueSettings(name=name, service_level=ServiceLevel(answer_within=target))
                   for name, _rate, target in QUEUES)
    streams = tuple(TrafficStream(queue=name, per_hour=rate, handle_time=60.0, patience=120.0)
                    for name, rate, _target in QUEUES)
    people = tuple(AgentSettings(name=f"agent-{n:04d}") for n in range(agents))
    return CommunicationSettings(queues=queues, agents=people, traffic=TrafficSettings(streams=streams))


def _app(folder: Path, url: str, agents: int):
    from caruso.testing import make_app

    queues = "".join(f'\n[[services.communication.settings.queues]]\nname = "{name}"\n'
                     f"service_level = {{ answer_within = {target}, target = 0.8 }}\n" for name, _r, target in QUEUES)
    people = "".join(f'\n[[services.communication.settings.agents]]\nname = "agent-{n:04d}"\n' for n in range(agents))
    return make_app(folder, textwrap.dedent(DESCRIPTOR).format(url=url, queues=queues, agents=people))


def _event_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("caruso_event"):
                return 0
            return connection.exec_driver_sql(
                "SELECT COUNT(*) FROM caruso_event WHERE kind = 'offered'").scalar()
    finally:
        engine.dispose()


def _generate(url: str, interactions: int) -> None:
    from caruso.services.communication.simulation import Simulator

    hours = interactions / sum(rate for _n, rate, _t in QUEUES)
    started = time.perf_counter()
    result = Simulator(_settings(180), database=url, seed=7).run(hours)
    print(f"generated: {result.total.offered:,} interactions, {result.events:,} events by the simulator "
          f"in {time.perf_counter() - started:.0f} s")


def _baseline(connection, start: float, end: float, horizon: float) -> list[tuple]:
    rows = connection.exec_driver_sql(
        BASELINE.replace(":start", "?").replace(":horizon", "?").replace(":end", "?"),
        (start, horizon, start, end)).all() if connection.dialect.name == "sqlite" else None
    found = []
    for row in rows:
        values = dict(zip(("hour", "queue", *MEASURES), row))
        found.append((dt.datetime.fromtimestamp(values["hour"] * 3600, dt.timezone.utc).isoformat(timespec="minutes"),
                      values["queue"], *(_rounded(name, values[name]) for name in MEASURES)))
    return found


def _rounded(name: str, value):
    if value is None:
        return None
    digits = DIGITS.get(name)
    return round(float(value), digits) if digits is not None else int(value)


def report_against_group_by(url: str, interactions: int, rounds: int) -> None:
    from caruso.services.reporting.service import ReportsService, ReportsSettings
    from caruso.storage import Storage

    if _event_count(url) < interactions * 0.98:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        _generate(url, interactions)
    with tempfile.TemporaryDirectory() as folder:
        app = _app(Path(folder) / "app", url, 0)
        storage = Storage(url)
        try:
            with storage.transaction() as connection:
                low, high, offered = connection.exec_driver_sql(
                    "SELECT MIN(at), MAX(at), COUNT(*) FROM caruso_event WHERE kind = 'offered'").one()
            start = dt.datetime.fromtimestamp(low, dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
            end = dt.datetime.fromtimestamp(high, dt.timezone.utc) + dt.timedelta(hours=1)
            end = end.replace(minute=0, second=0, microsecond=0)
            reports = ReportsService().bind(app, storage, None, ReportsSettings())
            print(f"## contact-statistics by hour over {offered:,} interactions "
                  f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}, {storage.engine.dialect.name})\n")
            report_times, baseline_times = [], []
            for _ in range(rounds):
                began = time.perf_counter()
                result = reports.run("contact-statistics", start, end, "hour")
                report_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                with storage.transaction() as connection:
                    expected = _baseline(connection, start.timestamp(), end.timestamp(),
                                         end.timestamp() + 7 * 86400)
                baseline_times.append(time.perf_counter() - began)
            actual = [(row.interval, *row.dimensions, *(row.values[m] for m in MEASURES)) for row in result.rows]
            report, baseline = statistics.median(report_times), statistics.median(baseline_times)
            print(f"report (caruso):           {report:8.3f} s median of {rounds}, {len(actual)} rows")
            print(f"hand-written GROUP BY:     {baseline:8.3f} s median of {rounds}, {len(expected)} rows")
            print(f"ratio report / baseline:   {report / baseline:8.3f}")
            differing = [(a, b) for a, b in zip(actual, expected) if a != b]
            print(f"identical figures:         {actual == expected} "
                  f"({len(differing)} rows differ{'; first: ' + repr(differing[0]) if differing else ''})\n")
        finally:
            storage.close()


def monitor_snapshot(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = _app(Path(folder) / "app", f"sqlite:///{Path(folder) / 'crm.db'}", 180).start()
        try:
            server = app.services.get("communication")
            monitor = app.services.get("monitor")
            offers = []
            with server.subscribe(lambda e: offers.append((e.agent, e.interaction)) if e.kind == "routed" else None):
                for n in range(180):
                    server.login(f"agent-{n:04d}")
                for n in range(680):
                    server.offer("voice", queue=QUEUES[n % 3][0])
            for agent, interaction in offers:
                server.accept(agent, interaction)
            server.scheduler.run_until(server.now() + 30)
            snapshot = monitor.snapshot()
            waiting = sum(q.waiting for q in snapshot.queues)
            busy = snapshot.agents_by_state.get("busy", 0)
            print(f"## monitor snapshot: {busy} agents busy, {waiting} contacts waiting\n")
            times, baseline = [], []
            for _ in range(rounds):
                began = time.perf_counter()
                monitor.snapshot()
                times.append(time.perf_counter() - began)
                began = time.perf_counter()
                server.agent_views(), server.queue_status(), server.waiting()
                baseline.append(time.perf_counter() - began)
            print(f"monitor.snapshot():                  {statistics.median(times) * 1000:8.3f} ms median of {rounds}")
            print(f"server agent_views+queue_status+waiting: {statistics.median(baseline) * 1000:8.3f} ms median")
        finally:
            app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--database", default="sqlite:////tmp/caruso-bench-reporting.db")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--snapshots", type=int, default=200)
    args = parser.parse_args()
    report_against_group_by(args.database, args.interactions, args.rounds)
    monitor_snapshot(args.snapshots)


if __name__ == "__main__":
    main()
