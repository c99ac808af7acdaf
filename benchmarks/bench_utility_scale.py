"""The utility template at scale on PostgreSQL: data generation, start-up, the 360-degree view, a day.

    python benchmarks/bench_utility_scale.py [--customers 1000000] [--activities-per-customer 10]
                                             [--database URL] [--agents 180] [--hours 8]
                                             [--occupancy 0.85] [--starts 3] [--views 200]

A copy of ``examples/utility`` in a temporary folder, its ``[storage] url`` pointed at the
database (and the metering stand-in on a free port, so that a running demo does not stop it):

1. Data generation: the template's own ``demo_data.generate`` for ``--customers`` customers
   (the tables created first, as ``caruso db upgrade`` does), then, when it wrote fewer
   ``Activity`` rows (the utility's contact history) than ``--activities-per-customer`` times
   the customers, the rest through ``bom.insert_many`` of ``Activity``, in batches of 20,000,
   spread at random over the customers and the last year. Printed: the rows of each object,
   the seconds spent in ``insert_many`` for it (building the rows and the commits are not in
   it) and rows per second, and the rows and rows per second of the whole run.
2. Start-up: the application stopped, then ``Application.from_folder(copy)`` + ``start()`` on
   the filled database, ``--starts`` times (what an operator waits for after ``caruso run``);
   the median and each.
3. The 360-degree view: the front office served by uvicorn (``web.listen(port=0)``, as ``caruso
   run`` serves it), an agent logged in through ``/login``, ``GET /v/customer-360/{key}`` for
   ``--views`` random customers one at a time after 20 requests of warm-up; every answer must
   be 200 and contain the customer's name. p50, p95, p99 and max.
4. A simulated day: the communication server with the template's queues, skills and
   languages, ``--agents`` agents made from the template's ten (agent n has the skills,
   languages, capacity and attributes of the template's agent n mod 10), and the template's
   traffic profile (voice in Dutch and English on billing, technical and moves; e-mail and
   chat on billing) scaled so that its offered work (arrivals x (handle time + the queue's
   wrap-up)) is ``--occupancy`` of the agents; ``--hours`` simulated hours after a quarter of
   an hour of warm-up, through the real router in virtual time
   (``caruso.services.communication.simulation``) with the event log on the same PostgreSQL
   database, after the application has stopped. Printed: offered, answered, abandoned, service
   level, ASA and AHT per queue and overall, occupancy, wall time, events and events per
   second; and the interactions per channel as the event log on the database counts them.

``--database``: a PostgreSQL (or other) server URL; the benchmark creates a database of its own
there (``caruso_bench_...``) and drops it at the end. Default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Quick run:

    python benchmarks/bench_utility_scale.py --customers 2000 --hours 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

TEMPLATE = Path(__file__).resolve().parent.parent / "examples" / "utility"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
USER, PASSWORD = "bench-agent", "bench-password"
PAGE = "/v/customer-360/"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOP_UP_BATCH = 20_000


# ---------------------------------------------------------------------------------------------
# The database and the application folder


@contextmanager
def database(url: str):
    """A new database on the server ``url`` names, dropped at the end; yields its URL."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        raise SystemExit("--database names a server (PostgreSQL, MariaDB): this benchmark is about a server")
    name = "caruso_bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            force = " WITH (FORCE)" if parsed.get_backend_name() == "postgresql" else ""
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_template(folder: Path, url: str) -> Path:
    """``examples/utility`` copied into ``folder``, its storage on ``url``, the metering stand-in
    (and the wrapper's url) on a free port."""
    target = folder / "utility"
    shutil.copytree(TEMPLATE, target, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    descriptor = target / "caruso.toml"
    text = descriptor.read_text(encoding="utf-8")
    port = free_port()
    for old, new in (('url = "sqlite:///utility.db"', f'url = "{url}"'),
                     ("port = 8911", f"port = {port}"),
                     ('url = "http://127.0.0.1:8911"', f'url = "http://127.0.0.1:{port}"')):
        if old not in text:
            raise SystemExit(f"{TEMPLATE / 'caruso.toml'} has no {old!r} any more: update bench_utility_scale.py")
        text = text.replace(old, new, 1)
    descriptor.write_text(text, encoding="utf-8")
    return target


def open_app(folder: Path) -> Any:
    from caruso.app import Application

    with prepended(folder):
        return Application.from_folder(folder).start()


@contextmanager
def prepended(folder: Path):
    """``demo_data`` importable, as the README's example runs it from the folder."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


# ---------------------------------------------------------------------------------------------
# 1. Data generation


@contextmanager
def timed_inserts():
    """Seconds spent in ``bom.insert_many`` per object while the block runs."""
    from caruso.bom.service import BomService

    seconds: Counter[str] = Counter()
    original = BomService.insert_many

    @functools.wraps(original)
    def insert_many(self, session, name, rows):
        began = time.perf_counter()
        try:
            return original(self, session, name, rows)
        finally:
            seconds[name if isinstance(name, str) else name.__name__] += time.perf_counter() - began

    BomService.insert_many = insert_many
    try:
        yield seconds
    finally:
        BomService.insert_many = original


def progress_line(what: str, began: float):
    def show(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - began, 1e-9)
        end = "\n" if done >= total else ""
        print(f"\r  {what}: {done:,} / {total:,} ({rate:,.0f}/s)", end=end, file=sys.stderr, flush=True)
    return show


def top_up_activities(app: Any, first_customer: int, customers: int, count: int, seed: int) -> int:
    """``count`` more ``Activity`` rows over customers first_customer.. through ``insert_many``."""
    bom = app.services.get("bom")
    rng = random.Random(seed)
    now = app.services.get("clock").now()
    kinds = ("call", "call", "call", "email", "web", "letter", "ivr", "note")
    subjects = ("Question about the bill", "Meter reading", "Moving house", "Payment arrangement",
                "Outage in the street", "Green tariff", "Change of IBAN", "Complaint about the advance")
    agents = ("anouk", "bas", "charlotte", "dylan", "fenna", "gijs", "hannah", "ivo", "jill", "sophie")
    show = progress_line("activities topped up", time.perf_counter())
    written = 0
    while written < count:
        size = min(TOP_UP_BATCH, count - written)
        rows = []
        for _ in range(size):
            kind = rng.choice(kinds)
            rows.append({"kind": kind, "occurred": now - dt.timedelta(seconds=rng.randint(3600, 365 * 86400)),
                         "subject": rng.choice(subjects), "notes": "Handled at once; customer satisfied.",
                         "agent": rng.choice(agents) if kind in ("call", "email", "note") else None,
                         "customer_id": first_customer + rng.randrange(customers)})
        with bom.unit_of_work(user="bench") as session:
            written += bom.insert_many(session, "Activity", rows)
        show(written, count)
    return written


def fill(app: Any, folder: Path, customers: int, activities_per_customer: int) -> dict[str, Any]:
    with prepended(folder):
        import demo_data
    storage = app.services.get("storage")
    began = time.perf_counter()
    with timed_inserts() as seconds:
        written = demo_data.generate(app, customers=customers, seed=1,
                                     progress=progress_line("customers (demo_data.generate)", began))
        generated = time.perf_counter() - began
        wanted = activities_per_customer * customers
        topped = 0
        top_up_began = time.perf_counter()
        if written.get("Activity", 0) < wanted:
            topped = top_up_activities(app, demo_data.FIRST_CUSTOMER, customers, wanted - written["Activity"], 7)
        top_up = time.perf_counter() - top_up_began
    analyze_began = time.perf_counter()
    with storage.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return {"written": written, "seconds": dict(seconds), "generated": generated, "topped": topped,
            "top_up": top_up, "analyze": time.perf_counter() - analyze_began,
            "total": time.perf_counter() - began, "first": demo_data.FIRST_CUSTOMER}


# ---------------------------------------------------------------------------------------------
# 3. The 360-degree view


def log_in(client: Any) -> None:
    form = client.get("/login")
    token = CSRF.search(form.text).group(1)
    answer = client.post("/login", data={"csrf_token": token, "name": USER, "password": PASSWORD})
    if answer.status_code != 303:
        raise SystemExit(f"logging in answered {answer.status_code}: {answer.text[:300]!r}")


def views(app: Any, first: int, customers: int, count: int) -> dict[str, Any]:
    import httpx
    from markupsafe import escape  # as jinja writes it: O&#39;Brien

    web = app.services.get("web")
    if web.users.get(USER) is None:
        web.users.add(USER, PASSWORD, roles=["agent"], agent="anouk")
    base = web.listen(port=0)
    rng = random.Random(3)
    keys = [first + rng.randrange(customers) for _ in range(count + 20)]
    customer = sa.table("customer", sa.column("id"), sa.column("name"))
    with app.services.get("storage").engine.connect() as connection:
        names = dict(connection.execute(sa.select(customer.c.id, customer.c.name)
                                        .where(customer.c.id.in_(set(keys)))).all())
    latencies, failures = [], []
    with httpx.Client(base_url=base, follow_redirects=False, timeout=60) as client:
        log_in(client)
        for n, key in enumerate(keys):
            began = time.perf_counter()
            answer = client.get(f"{PAGE}{key}")
            elapsed = time.perf_counter() - began
            if answer.status_code != 200 or key not in names or str(escape(names[key])) not in answer.text:
                failures.append((key, answer.status_code, answer.text[:200]))
            if n >= 20:
                latencies.append(elapsed * 1000)
            size = len(answer.content)
    latencies.sort()

    def at(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]

    return {"count": len(latencies), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": latencies[-1],
            "mean": statistics.fmean(latencies), "failures": failures, "bytes": size}


# ---------------------------------------------------------------------------------------------
# 4. A simulated day


def day_settings(app: Any, agents: int, occupancy: float) -> tuple[Any, float, float]:
    """The template's communication settings with ``agents`` agents and its traffic scaled to
    ``occupancy``; also the scale factor and the offered work in Erlangs."""
    import attrs

    from caruso.config import structure_settings
    from caruso.services.communication.settings import CommunicationSettings

    section = app.config.services["communication"]
    settings = structure_settings(CommunicationSettings, section.settings, config=app.config,
                                  service="communication")
    models = settings.agents
    people = tuple(attrs.evolve(models[n % len(models)], name=f"{models[n % len(models)].name}-{n // len(models):03d}",
                                endpoint=None)
                   for n in range(agents))
    streams = settings.traffic.streams
    wrapup = {q.name: q.wrapup or 0 for q in settings.queues}
    erlangs = sum(s.per_hour * (s.handle_time + wrapup[s.queue]) for s in streams) / 3600
    factor = occupancy * agents / erlangs
    scaled = tuple(attrs.evolve(s, per_hour=s.per_hour * factor) for s in streams)
    return (attrs.evolve(settings, agents=people, traffic=attrs.evolve(settings.traffic, streams=scaled)),
            factor, erlangs * factor)


def simulate(app: Any, url: str, agents: int, hours: float, occupancy: float) -> tuple[Any, Any, float, float]:
    from caruso.services.communication.simulation import Simulator

    settings, factor, erlangs = day_settings(app, agents, occupancy)
    result = Simulator(settings, database=url, seed=1, root=app.root).run(hours, warmup=0.25)
    return settings, result, factor, erlangs


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--activities-per-customer", type=int, default=10)
    parser.add_argument("--database", default=DEFAULT_SERVER,
                        help="the server to create the benchmark's database on (dropped at the end)")
    parser.add_argument("--agents", type=int, default=180)
    parser.add_argument("--hours", type=float, default=8.0, help="simulated hours that count")
    parser.add_argument("--occupancy", type=float, default=0.85,
                        help="offered work / agents the template's traffic profile is scaled to")
    parser.add_argument("--starts", type=int, default=3, help="start-ups timed (the median is shown)")
    parser.add_argument("--views", type=int, default=200, help="360-degree views requested")
    args = parser.parse_args(argv)

    with database(args.database) as url, tempfile.TemporaryDirectory(prefix="caruso-bench-utility-") as temp:
        folder = copy_template(Path(temp), url)
        print(f"{folder}: storage on {sa.make_url(url).render_as_string(hide_password=True)}", file=sys.stderr)
        app = open_app(folder)
        try:
            app.services.get("storage").upgrade()
            print(f"generating {args.customers:,} customers, {args.activities_per_customer} activities each",
                  file=sys.stderr)
            filled = fill(app, folder, args.customers, args.activities_per_customer)
        finally:
            app.stop()
        report_fill(args, filled)

        starts = []
        for n in range(args.starts):
            began = time.perf_counter()
            app = open_app(folder)
            starts.append(time.perf_counter() - began)
            if n < args.starts - 1:
                app.stop()
        try:
            print(f"\nstart-up (Application.from_folder + start), {len(starts)} times: median "
                  f"{statistics.median(starts):.2f} s ({', '.join(f'{s:.2f}' for s in starts)})", flush=True)
            seen = views(app, filled["first"], args.customers, args.views)
            report_views(seen)
        finally:
            app.stop()
        settings, result, factor, erlangs = simulate(app, url, args.agents, args.hours, args.occupancy)
        report_day(args, settings, result, factor, erlangs)
        report_channels(url)
        size = None
        if sa.make_url(url).get_backend_name() == "postgresql":
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                size = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
            engine.dispose()
        if size:
            print(f"\ndatabase size at the end: {size / 2**30:.2f} GiB")
    print(f"# Python {platform.python_version()}, SQLAlchemy {sa.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    return 1 if seen["failures"] else 0


def report_fill(args: Any, filled: dict[str, Any]) -> None:
    written, seconds = dict(filled["written"]), filled["seconds"]
    written["Activity"] = written.get("Activity", 0) + filled["topped"]
    print(f"\n## Data generation: {args.customers:,} customers, {written['Activity']:,} activities\n")
    print(f"demo_data.generate: {filled['generated']:.1f} s ({args.customers / filled['generated']:,.0f} "
          f"customers/s); Activity top-up ({filled['topped']:,} rows): {filled['top_up']:.1f} s; "
          f"ANALYZE: {filled['analyze']:.1f} s\n")
    print("| object | rows | s in insert_many | rows/s |")
    print("|---|---:|---:|---:|")
    for name, rows in sorted(written.items(), key=lambda item: -item[1]):
        spent = seconds.get(name, 0.0)
        print(f"| {name} | {rows:,} | {spent:.1f} | {rows / spent if spent else 0:,.0f} |")
    total = sum(written.values())
    print(f"| **all, whole run** | **{total:,}** | {filled['total']:.1f} (wall) | "
          f"**{total / filled['total']:,.0f}** |", flush=True)


def report_views(seen: dict[str, Any]) -> None:
    print(f"\n## 360-degree view: {seen['count']} customers one at a time (after 20 of warm-up), "
          f"uvicorn on loopback, page of {seen['bytes'] / 1024:.0f} KiB (last)\n")
    print(f"p50 {seen['p50']:.1f} ms, p95 {seen['p95']:.1f} ms, p99 {seen['p99']:.1f} ms, "
          f"max {seen['max']:.1f} ms, mean {seen['mean']:.1f} ms")
    if seen["failures"]:
        print(f"FAILED: {len(seen['failures'])} answers not 200 or without the customer's name, e.g. "
              f"{seen['failures'][0]}")
    else:
        print("every answer was 200 with the customer's name", flush=True)


def report_day(args: Any, settings: Any, result: Any, factor: float, erlangs: float) -> None:
    channels = Counter(s.channel for s in settings.traffic.streams)
    per_hour = sum(s.per_hour for s in settings.traffic.streams)
    print(f"\n## A simulated day: {result.agents} agents, {result.hours:g} h (after 0.25 h of warm-up), "
          f"template traffic x{factor:.1f} = {per_hour:,.0f} contacts/h, {erlangs:.0f} Erlangs offered "
          f"({dict(channels)} streams), event log on the benchmark's database\n")
    print("| queue | offered | answered | abandoned | service level | ASA s | AHT s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [(name, kpis) for name, kpis in result.queues.items() if kpis.offered] + [("**all**", result.total)]
    for name, k in rows:
        print(f"| {name} | {k.offered:,} | {k.answered:,} | {k.abandoned:,} | {k.service_level:.1%} | "
              f"{k.average_speed_of_answer:.1f} | {k.average_handle_time:.0f} |")
    print(f"\noccupancy {result.occupancy:.1%}; {result.events:,} events in {result.wall_seconds:.1f} s of wall "
          f"time: {result.events / result.wall_seconds:,.0f} events/s, {result.routed_per_second:,.0f} routed/s",
          flush=True)


def report_channels(url: str) -> None:
    """Interactions per channel as the event log on the database counts them (warm-up included)."""
    from caruso.services.communication.events import EVENT_TABLE

    events = sa.table(EVENT_TABLE, sa.column("kind"), sa.column("channel"), sa.column("interaction"))
    kinds = ("offered", "answered", "abandoned", "completed")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            counted = connection.execute(
                sa.select(events.c.channel, events.c.kind, sa.func.count(sa.distinct(events.c.interaction)))
                .where(events.c.kind.in_(kinds)).group_by(events.c.channel, events.c.kind)).all()
    finally:
        engine.dispose()
    table: dict[str, Counter[str]] = {}
    for channel, kind, count in counted:
        table.setdefault(channel or "-", Counter())[kind] = count
    print("\nper channel, from the event log (interactions, warm-up included):\n")
    print("| channel | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for channel, counts in sorted(table.items()):
        print(f"| {channel} | " + " | ".join(f"{counts[kind]:,}" for kind in kinds) + " |")


if __name__ == "__main__":
    sys.exit(main())
