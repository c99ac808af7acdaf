"""The front office's 360-degree view page under concurrent clients, against a bare Starlette page.

    python benchmarks/bench_web_360.py [--customers 100000] [--activities 1000000] [--clients 32]
                                       [--seconds 20] [--rounds 2] [--database URL] [--load wrk|httpx]
                                       [--profile FILE]

``GET /v/customer-360/{key}`` of the ``web`` service (uvicorn on loopback, one process, as
``caruso run`` serves it), logged in as an agent with a session cookie from ``POST /login``,
random customer keys, ``--clients`` keep-alive connections for ``--seconds``. The data set:
``--customers`` customers (about 1.5 contacts, one address and a quarter of a task each,
through the bom service's ``insert_many``) and ``--activities`` entries of the contact
history (``caruso_history``, what the page shows as the customer's activities; Core
executemany, as the channels' group commit writes them), spread at random over the
customers.

The page is the declared composite view ``customer-360`` (plugins/caruso_customers/views):
the customer's fields, the first 20 of each of its collections and its latest 200 history
entries, read through ``Records`` (role and record rules) and rendered with jinja. Baseline in
the same run, served the same way: a minimal Starlette page running the same queries (the
customer by key, its contacts, addresses and tasks in the collections' order with the view's
limit, its latest history entries) with plain SQLAlchemy Core on the same database, returning
an HTML string built with f-strings - no view layer, no session or permission middleware, no
jinja.

The load client is ``wrk`` (a Lua script draws the keys and counts every answer that is
not 200) when it is installed, else an asyncio client with httpx in a process of its own.
Before measuring, both pages must answer 200 with the customer's name for a sample of keys.
Each page is measured ``--rounds`` times, the two taking turns, after a warm-up. Printed:
requests/s, p50 and p99 latency, errors, the server process's CPU time per request, the
ratios Caruso / baseline (medians of the rounds), and where
the time of one request goes (one request at a time, the page's parts timed inside the
server; ``--profile FILE`` adds a cProfile of each part).

``--database``: SQLite by default (a file in a temporary folder); a PostgreSQL or MariaDB
URL names a server and a database to connect to there: the benchmark creates a database
of its own beside it (``caruso_bench_...``) and drops it at the end. Quick run:

    python benchmarks/bench_web_360.py --customers 2000 --activities 20000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import html
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DESCRIPTOR = """
[application]
name = "360-degree view benchmark"

[storage]
url = "{url}"

[plugins]
enabled = ["customers"]

[services.web.settings.roles.agent]
portal = "/desktop"
read = ["*"]
write = ["*"]
actions = ["desktop"]
"""

USER, PASSWORD = "bench-agent", "bench-password"
VIEW = "customer-360"
PAGE = f"/v/{VIEW}/"
HISTORY_LIMIT, COLLECTION_LIMIT = 200, 20
"""What the 360-degree view shows when its definition cannot be read (its defaults)."""
COLLECTIONS = {"contacts": ("customer_contact", "name"), "addresses": ("customer_address", "kind"),
               "tasks": ("customer_task", "-created")}
"""The Customer object's collections: table and ORDER BY (checked against the model at start)."""
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
CHANNELS = ("email", "chat", "sms", "voice")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

WRK_SCRIPT = """
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  math.randomseed(id * 7919 + os.time())
end

function request()
  return wrk.format("GET", "%(page)s" .. math.random(%(low)d, %(high)d), {["Cookie"] = "%(cookie)s"})
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local not_ok = 0
  for _, thread in ipairs(threads) do not_ok = not_ok + thread:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    not_ok, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    latency.max, e.timeout, e.status))
end
"""


# ---------------------------------------------------------------------------------------------
# The database


@contextmanager
def database(url: str | None):
    """The URL to use: a new SQLite file, the given SQLite file, or a new database on the
    server the URL names (dropped at the end)."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="caruso-bench-360-") as folder:
            yield f"sqlite:///{Path(folder) / 'crm.db'}"
        return
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and Path(parsed.database).exists():
            raise SystemExit(f"{parsed.database} exists already: remove it or name a new file")
        yield url
        return
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


def progress(what: str, done: int, total: int, began: float) -> None:
    rate = done / max(time.perf_counter() - began, 1e-9)
    end = "\n" if done >= total else ""
    print(f"\r  {what}: {done:,} / {total:,} ({rate:,.0f}/s)", end=end, file=sys.stderr, flush=True)


def generate(app: Any, customers: int, activities: int) -> float:
    """The data set, in batches with a progress line; the seconds it took."""
    bom = app.services.get("bom")
    history = app.services.get("history")
    storage = app.services.get("storage")
    history.open()  # creates caruso_history, as the first channel to start does
    began = time.perf_counter()
    created = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    batch = 10_000
    for what, rows_of in (
        ("customers", lambda i: [{"number": f"C-{i:07d}", "kind": "person" if i % 5 else "organisation",
                                  "name": f"Customer {i} van Dijk", "segment": ("standard", "vip", "business")[i % 3],
                                  "phone": f"+3120{i:07d}", "email": f"customer{i}@example.com",
                                  "created": created}]),
        ("contacts", lambda i: [{"name": f"Contact {i}-{n}", "role": "buyer", "phone": f"+3130{i:07d}",
                                 "email": f"contact{i}-{n}@example.com", "customer_id": i}
                                for n in range(1 + i % 2)]),
        ("addresses", lambda i: [{"kind": "home", "street": f"Street {i}", "postcode": f"{1000 + i % 9000} AB",
                                  "city": "Utrecht", "customer_id": i}]),
        ("tasks", lambda i: [{"title": f"Call back customer {i}", "assignee": "backoffice",
                              "about": f"Customer {i}", "customer_id": i, "created": created}] if i % 4 == 0 else []),
    ):
        name = {"customers": "Customer", "contacts": "Contact", "addresses": "Address", "tasks": "Task"}[what]
        step = time.perf_counter()
        for first in range(1, customers + 1, batch):
            rows = [row for i in range(first, min(first + batch, customers + 1)) for row in rows_of(i)]
            with bom.unit_of_work(user="bench") as session:
                bom.insert_many(session, name, rows)
            progress(what if what == "customers" else f"{what}, by customer", min(first + batch - 1, customers),
                     customers, step)
    draw = random.Random(11).random
    table = history.table
    step = time.perf_counter()
    spread = 365 * 86400 / max(activities, 1)
    batch = 50_000
    for first in range(0, activities, batch):
        rows = []
        for i in range(first, min(first + batch, activities)):
            customer = 1 + int(draw() * customers)
            inbound = i % 2 == 0
            rows.append({
                "at": START + i * spread, "customer": str(customer), "address": f"customer{customer}@example.com",
                "channel": CHANNELS[i % 4], "direction": "inbound" if inbound else "outbound",
                "agent": None if inbound else f"agent-{i % 50}", "interaction": f"i-{i}",
                "subject": f"About order {i}", "summary": f"Message {i} about the order, its delivery and the bill.",
                "body": f"mail:{i}", "attachments": None, "data": None})
        with storage.transaction() as connection:
            connection.execute(table.insert(), rows)
        progress("history entries (activities)", min(first + batch, activities), activities, step)
    with storage.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return time.perf_counter() - began


# ---------------------------------------------------------------------------------------------
# The baseline: a bare Starlette page with the same queries


def view_limits(app: Any) -> tuple[int, int]:
    """How many records of each collection and history entries the ``customer-360`` view
    shows, from its definition (its defaults when the definition cannot be read)."""
    collections, history = COLLECTION_LIMIT, HISTORY_LIMIT
    try:
        for part in app.services.get("web").views.get(VIEW).parts:
            if part.kind == "collections":
                collections = part.limit
            elif part.kind == "history":
                history = part.limit
    except Exception as exc:  # noqa: BLE001 - a benchmark says so and goes on with the defaults
        print(f"  (the view {VIEW!r} could not be read: {exc}; using limits {collections}/{history})", file=sys.stderr)
    return collections, history


def baseline_app(url: str, collection_limit: int, history_limit: int) -> tuple[Any, Any, Any]:
    """The baseline's ASGI application, its engine (Caruso's engine defaults: the same pool
    and SQLite pragmas, so the comparison is the page, not the connection) and its queries
    as one function (key -> the rows)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    from caruso.storage.engine import create_engine

    engine = create_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine, only=["customer", "caruso_history", *(table for table, _ in COLLECTIONS.values())])
    customer = metadata.tables["customer"]
    by_key = sa.select(customer).where(customer.c.id == sa.bindparam("key"))
    collections = []
    for name, (table_name, order) in COLLECTIONS.items():
        table = metadata.tables[table_name]
        column = table.c[order.lstrip("-")]
        collections.append((name, sa.select(table).where(table.c.customer_id == sa.bindparam("key"))
                            .order_by(column.desc() if order.startswith("-") else column).limit(collection_limit)))
    history = metadata.tables["caruso_history"]
    latest = (sa.select(history).where(history.c.customer == sa.bindparam("customer"))
              .order_by(history.c.seq.desc()).limit(history_limit))

    def queries(key: int) -> tuple[Any, list[tuple[str, list[Any]]], list[Any]] | None:
        with engine.connect() as connection:
            found = connection.execute(by_key, {"key": key}).first()
            if found is None:
                return None
            related = [(name, connection.execute(statement, {"key": key}).all()) for name, statement in collections]
            entries = connection.execute(latest, {"customer": str(key)}).all()
        entries.reverse()
        return found, related, entries

    escape = html.escape

    def table_of(rows: list[Any]) -> str:
        return "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)

    def page(request):  # a plain def: Starlette runs it on its thread pool, as Caruso runs its queries
        try:
            key = int(request.path_params["key"])
        except ValueError:
            return PlainTextResponse("not found", status_code=404)
        rows = queries(key)
        if rows is None:
            return PlainTextResponse("not found", status_code=404)
        found, related, entries = rows
        parts = [f"<h1>{escape(found.name)}</h1><table>{table_of([found])}</table>"]
        parts.extend(f"<h2>{name} {len(items)}</h2><table>{table_of(items)}</table>" for name, items in related)
        parts.append(f"<h2>history {len(entries)}</h2><table>{table_of(entries)}</table>")
        return HTMLResponse(f"<!doctype html><title>{escape(found.name)}</title>{''.join(parts)}")

    return Starlette(routes=[Route(PAGE + "{key}", page)]), engine, queries


# ---------------------------------------------------------------------------------------------
# The load


def run_wrk(base: str, cookie: str, low: int, high: int, clients: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"page": PAGE, "low": low, "high": high, "cookie": cookie.replace('"', '\\"')})
    try:
        done = subprocess.run(
            ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "10s", "-s", script.name,
             base + "/"], capture_output=True, text=True, check=True, timeout=seconds + 60)
    finally:
        os.unlink(script.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    requests, duration_us, not_ok, socket_errors, p50, p99, worst, _timeouts, _status = map(int, line.split()[1:])
    return {"requests": requests, "seconds": duration_us / 1e6, "rps": requests / (duration_us / 1e6),
            "p50_ms": p50 / 1000, "p99_ms": p99 / 1000, "max_ms": worst / 1000,
            "not_200": not_ok, "socket_errors": socket_errors}


def httpx_load(base: str, cookie: str, low: int, high: int, clients: int, seconds: float) -> dict[str, float]:
    """An asyncio client with httpx (run in a process of its own): ``clients`` keep-alive
    connections, each sending its next request when the answer to the last one has arrived."""
    import httpx

    async def run() -> dict[str, float]:
        latencies: list[float] = []
        counts = {"not_200": 0, "socket_errors": 0}
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10, headers={"Cookie": cookie}) as client:
            deadline = time.perf_counter() + seconds

            async def worker(seed: int) -> None:
                draw = random.Random(seed).randint
                while time.perf_counter() < deadline:
                    began = time.perf_counter()
                    try:
                        answer = await client.get(f"{PAGE}{draw(low, high)}")
                    except httpx.HTTPError:
                        counts["socket_errors"] += 1
                        continue
                    latencies.append(time.perf_counter() - began)
                    if answer.status_code != 200:
                        counts["not_200"] += 1

            began = time.perf_counter()
            await asyncio.gather(*(worker(n) for n in range(clients)))
            elapsed = time.perf_counter() - began
        latencies.sort()

        def at(share: float) -> float:
            return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

        return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
                "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": latencies[-1] * 1000, **counts}

    return asyncio.run(run())


def load(kind: str, base: str, cookie: str, low: int, high: int, clients: int, seconds: float) -> dict[str, float]:
    if kind == "wrk":
        return run_wrk(base, cookie, low, high, clients, seconds)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(httpx_load, base, cookie, low, high, clients, seconds).result()


def check_pages(base: str, cookie: str, names: dict[int, str]) -> None:
    """Every sampled key answers 200 with the customer's name: the load measures real pages."""
    import httpx

    with httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30) as client:
        for key, name in names.items():
            answer = client.get(f"{PAGE}{key}")
            if answer.status_code != 200 or html.escape(name) not in answer.text:
                raise SystemExit(f"{base}{PAGE}{key} answered {answer.status_code} without "
                                 f"{name!r}: {answer.text[:300]!r}")


def log_in(base: str) -> str:
    """The session cookie of the agent, from the login form (as a browser gets it)."""
    import httpx

    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        form = client.get("/login")
        token = CSRF.search(form.text).group(1)
        answer = client.post("/login", data={"csrf_token": token, "name": USER, "password": PASSWORD})
        if answer.status_code != 303:
            raise SystemExit(f"logging in answered {answer.status_code}: {answer.text[:300]!r}")
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())



# ---------------------------------------------------------------------------------------------
# Where the time of one request goes


PARTS = (
    ("records", "caruso.web.records", "Records", "with_related",
     "Records.with_related: the customer and its collections (ORM, record rules)"),
    ("history", "caruso.web.pages.views", None, "_history", "the contact history (history.for_customer)"),
    ("render", "caruso.web.templating", "Templates", "render", "Templates.render: menu and jinja"),
)
"""The parts of the page timed inside the server: key, module, class (None: a module function),
attribute, what it is."""


@contextmanager
def timed_parts(profiles: dict[str, Any] | None):
    """Wrap the page's parts with timers (and profilers): yields key -> list of seconds. A part
    that is not where it was expected is left out (the code moved) and said so."""
    import functools
    import importlib

    times: dict[str, list[float]] = {}
    undo = []
    for key, module_name, class_name, attribute, _what in PARTS:
        try:
            owner = importlib.import_module(module_name)
            owner = getattr(owner, class_name) if class_name else owner
            original = owner.__dict__[attribute]
        except (ImportError, AttributeError, KeyError):
            print(f"  (no {module_name}.{class_name or ''}.{attribute}: that part is not timed)", file=sys.stderr)
            continue
        found = times[key] = []
        profiler = None
        if profiles is not None:
            import cProfile

            profiler = profiles[key] = cProfile.Profile()

        def wrapper(*args, __original=original, __found=found, __profiler=profiler, **kwargs):
            began = time.perf_counter()
            if __profiler is not None:
                __profiler.enable()
            try:
                return __original(*args, **kwargs)
            finally:
                if __profiler is not None:
                    __profiler.disable()
                __found.append(time.perf_counter() - began)

        setattr(owner, attribute, functools.wraps(original)(wrapper))
        undo.append((owner, attribute, original))
    try:
        yield times
    finally:
        for owner, attribute, original in undo:
            setattr(owner, attribute, original)


def breakdown(caruso_url: str, baseline_url: str, cookie: str, keys: list[int], queries: Any,
              profile_to: Path | None, passes: int = 3) -> dict[str, Any]:
    """Mean milliseconds of one request at a time over loopback, of the page's parts measured
    inside the server during those requests, and of the baseline's queries called directly;
    each the best of ``passes`` passes over ``keys`` (the machine is shared), taking turns."""
    import httpx

    def mean_ms(call) -> float:
        began = time.perf_counter()
        for key in keys:
            call(key)
        return (time.perf_counter() - began) / len(keys) * 1000

    found: dict[str, Any] = {"caruso_request": [], "baseline_request": [], "baseline_queries": [], "timed": []}
    with httpx.Client(base_url=caruso_url, headers={"Cookie": cookie}) as caruso, \
            httpx.Client(base_url=baseline_url) as baseline:
        for key in keys[:10]:  # warm: templates compiled, statements cached
            caruso.get(f"{PAGE}{key}")
            baseline.get(f"{PAGE}{key}")
        for _ in range(passes):
            found["caruso_request"].append(mean_ms(lambda key: caruso.get(f"{PAGE}{key}")))
            found["baseline_request"].append(mean_ms(lambda key: baseline.get(f"{PAGE}{key}")))
            found["baseline_queries"].append(mean_ms(queries))
            with timed_parts(None) as times:
                total = mean_ms(lambda key: caruso.get(f"{PAGE}{key}"))
            found["timed"].append((total, {key: sum(values) / len(keys) * 1000 for key, values in times.items()}))
        found["page_bytes"] = statistics.mean(len(caruso.get(f"{PAGE}{key}").content) for key in keys[:20])
        found["baseline_bytes"] = statistics.mean(len(baseline.get(f"{PAGE}{key}").content) for key in keys[:20])
        if profile_to is not None:
            profiles: dict[str, Any] = {}
            with timed_parts(profiles):
                for key in keys:
                    caruso.get(f"{PAGE}{key}")
            write_profiles(profiles, profile_to, len(keys))
    for name in ("caruso_request", "baseline_request", "baseline_queries"):
        found[name] = min(found[name])
    found["timed_request"], found["parts"] = min(found.pop("timed"), key=lambda pass_: pass_[0])
    found["entries"] = statistics.mean(len(queries(key)[2]) for key in keys)
    return found


def write_profiles(profiles: dict[str, Any], path: Path, requests: int) -> None:
    """Each part's cProfile, the 20 functions with the most time of their own."""
    import io
    import pstats

    with path.open("w") as out:
        for key, profiler in profiles.items():
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
            out.write(f"===== {key}, {requests} requests =====\n{text.getvalue()}\n")
    print(f"  cProfile of the page's parts written to {path}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="customers in the data set")
    parser.add_argument("--activities", type=int, default=1_000_000, help="contact history entries in the data set")
    parser.add_argument("--clients", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=20, help="seconds of each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each page, taking turns")
    parser.add_argument("--database", default=None,
                        help="database URL (default: a SQLite file in a temporary folder); a server URL such as"
                             " postgresql+psycopg://postgres@127.0.0.1:5432/test gets a database of its own")
    parser.add_argument("--load", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx",
                        help="the load client (default: wrk when installed)")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the page's parts here")
    args = parser.parse_args(argv)

    from caruso.services.channels.web import ServerThread
    from caruso.testing import make_app

    results: dict[str, list[dict[str, float]]] = {"caruso": [], "baseline": []}
    with database(args.database) as url, tempfile.TemporaryDirectory(prefix="caruso-bench-360-app-") as folder:
        app = make_app(Path(folder) / "app", textwrap.dedent(DESCRIPTOR).format(url=url))
        app.start()
        baseline_server = engine = None
        try:
            app.services.get("storage").upgrade()
            order = app.services.get("bom").model.Customer.__caruso__.collection_order
            if list(order) != list(COLLECTIONS):
                raise SystemExit(f"the Customer object's collections are {list(order)}, the baseline knows "
                                 f"{list(COLLECTIONS)}: update COLLECTIONS")
            backend = sa.make_url(url).get_backend_name()
            print(f"generating {args.customers:,} customers and {args.activities:,} activities ({backend})",
                  file=sys.stderr)
            generated = generate(app, args.customers, args.activities)
            print(f"  generated in {generated:.0f} s", file=sys.stderr)

            web = app.services.get("web")
            web.users.add(USER, PASSWORD, roles=["agent"], agent=USER)
            caruso_url = web.listen(port=0)
            cookie = log_in(caruso_url)
            collection_limit, history_limit = view_limits(app)
            asgi, engine, queries = baseline_app(url, collection_limit, history_limit)
            baseline_server = ServerThread(asgi, host="127.0.0.1", port=0, name="bench-baseline")
            baseline_server.start()
            baseline_url = f"http://127.0.0.1:{baseline_server.port}"

            sample = random.Random(5).sample(range(1, args.customers + 1), min(50, args.customers))
            with engine.connect() as connection:
                customer = sa.table("customer", sa.column("id"), sa.column("name"))
                names = dict(connection.execute(sa.select(customer.c.id, customer.c.name)
                                                .where(customer.c.id.in_(sample))).all())
            if len(names) != len(sample):
                raise SystemExit("the customers are not numbered 1..N: the keys drawn would not exist")
            check_pages(caruso_url, cookie, names)
            check_pages(baseline_url, "", names)
            print(f"  both pages answer 200 with the customer's name ({len(names)} customers checked)",
                  file=sys.stderr)

            parts = breakdown(caruso_url, baseline_url, cookie, sample, queries, args.profile)

            servers = {"caruso": (caruso_url, cookie), "baseline": (baseline_url, "")}
            for base, with_cookie in servers.values():  # warm-up, not counted
                load(args.load, base, with_cookie, 1, args.customers, args.clients, min(3.0, args.seconds))
            for round_number in range(1, args.rounds + 1):
                for name, (base, with_cookie) in servers.items():
                    print(f"  round {round_number}, {name}: {args.load}, {args.clients} clients, "
                          f"{args.seconds:g} s", file=sys.stderr)
                    cpu = time.process_time()  # the servers' threads: the load client is another process
                    result = load(args.load, base, with_cookie, 1, args.customers, args.clients, args.seconds)
                    result["cpu_ms"] = (time.process_time() - cpu) * 1000 / max(result["requests"], 1)
                    results[name].append(result)
        finally:
            if baseline_server is not None:
                baseline_server.stop()
            if engine is not None:
                engine.dispose()
            app.stop()

    report(args, backend, generated, results, parts, collection_limit, history_limit, len(sample))
    failed = sum(r["not_200"] + r["socket_errors"] for rounds in results.values() for r in rounds)
    print("every answer was 200" if not failed else f"ERRORS: {failed} requests failed or were not 200")
    return 0 if not failed else 1


def report(args: Any, backend: str, generated: float, results: dict[str, list[dict[str, float]]],
           parts: dict[str, Any], collection_limit: int, history_limit: int, sampled: int) -> None:
    import starlette
    import uvicorn

    print(f"\n# bench_web_360: Python {platform.python_version()}, SQLAlchemy {sa.__version__}, Starlette "
          f"{starlette.__version__}, uvicorn {uvicorn.__version__}, {backend}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"# {args.customers:,} customers, {args.activities:,} activities (generated in {generated:.0f} s); "
          f"page {PAGE}KEY (collections up to {collection_limit}, history up to {history_limit}); "
          f"{args.load}, {args.clients} clients, {args.seconds:g} s per measurement\n")
    print("| page | round | requests | requests/s | p50 ms | p99 ms | max ms | not 200 | socket errors "
          "| server CPU ms/request |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, label in (("caruso", f"Caruso `{PAGE}KEY`"), ("baseline", "bare Starlette (baseline)")):
        for number, r in enumerate(results[name], start=1):
            print(f"| {label} | {number} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | "
                  f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['not_200']} | {r['socket_errors']} | "
                  f"{r['cpu_ms']:.2f} |")
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    rps, p99 = (median("caruso", "rps"), median("baseline", "rps")), (median("caruso", "p99_ms"),
                                                                     median("baseline", "p99_ms"))
    print(f"\nCaruso / baseline, median of the rounds: requests/s {rps[0] / rps[1]:.2f} ({rps[0]:,.0f} / "
          f"{rps[1]:,.0f}), p99 {p99[0] / p99[1]:.2f} ({p99[0]:.1f} / {p99[1]:.1f} ms), "
          f"p50 {median('caruso', 'p50_ms') / median('baseline', 'p50_ms'):.2f}")
    print(f"\none request at a time, mean of {sampled} customers, best of 3 passes "
          f"({parts['entries']:.1f} history entries each; page {parts['page_bytes'] / 1024:.1f} KiB, "
          f"baseline {parts['baseline_bytes'] / 1024:.1f} KiB):")
    print(f"  Caruso page over loopback {parts['caruso_request']:8.2f} ms "
          f"(with the parts timed: {parts['timed_request']:.2f} ms, of which)")
    timed = 0.0
    for key, _module, _class, _attribute, what in PARTS:
        if key in parts["parts"]:
            timed += parts["parts"][key]
            print(f"    {parts['parts'][key]:8.2f} ms  {what}")
    print(f"    {parts['timed_request'] - timed:8.2f} ms  the rest: HTTP, routing, session and permissions, "
          f"thread hops, the client")
    print(f"  baseline page over loopback {parts['baseline_request']:6.2f} ms "
          f"(its queries called directly: {parts['baseline_queries']:.2f} ms)")


if __name__ == "__main__":
    sys.exit(main())
