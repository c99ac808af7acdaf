"""The channels under load: e-mail over SMTP into the queue, and concurrent web chats.

    python benchmarks/bench_channels.py [--mails 2000] [--clients 8] [--chats 500] [--messages 5] [--think S ...]

1. E-mail: ``--mails`` messages sent over SMTP by ``--clients`` concurrent smtplib clients
   (each on one connection) to the e-mail channel of a real application (SQLite file, real
   clock): each message is stored, threaded, identified, offered to the universal queue,
   recorded in the history and acknowledged through the outbox to a relay on loopback.
   Checked: every message is exactly one interaction (one ``offered`` event per Message-ID).
   Printed: messages per second; the baseline in the same run is the same clients sending
   to a bare aiosmtpd server that only counts (what SMTP itself costs).
2. Chat: ``--chats`` customers connected at once over WebSockets, served by the chat channel
   on uvicorn; agent bots (100 agents, chat capacity 5) on the agents' WebSocket accept every
   offer and echo every message. Each customer sends ``--messages`` messages one after the
   other and waits for each echo - all at once, and again pausing ``--think`` seconds on
   average between messages, as people typing do. Checked: every echo arrives, in order. Printed: latency
   percentiles of a round trip customer -> agent -> customer (two history writes); the
   baseline is the same clients against a bare ``websockets`` echo server.
The chat clients run in a process of their own; the e-mail clients are threads of the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import smtplib
import statistics
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
import websockets
from aiosmtpd.controller import Controller

from caruso.services.channels.email.smtp import free_port
from caruso.testing import make_app

DESCRIPTOR = """
[application]
name = "Channels benchmark"

[storage]
url = "sqlite:///{folder}/crm.db"

[services.communication.settings]
offer_timeout = 600
away_on_missed = false

[[services.communication.settings.queues]]
name = "support"

{agents}

[services.email.settings]
addresses = ["support@example.com"]
smtp = {{ port = 0, max_message_size = 1000000 }}
relay = {{ host = "127.0.0.1", port = {relay} }}
flood = {{ messages = 0 }}

[services.chat.settings]
port = 0
flood = {{ messages = 0 }}
"""


class Counter:
    """An aiosmtpd handler that only counts: the baseline SMTP server, and the relay."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 OK"


def _messages(total: int) -> list[EmailMessage]:
    found = []
    for n in range(total):
        message = EmailMessage()
        message["From"] = f"customer{n % 200}@example.nl"
        message["To"] = "support@example.com"
        message["Subject"] = f"Question {n}"
        message["Message-ID"] = f"<bench-{n}@example.nl>"
        message.set_content(f"This is question {n}.\n" * 5)
        found.append(message)
    return found


def _send_all(port: int, messages: list[EmailMessage], clients: int) -> float:
    """Seconds for ``clients`` threads, one SMTP connection each, to send every message."""
    shares = [messages[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def client(share: list[EmailMessage]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                for message in share:
                    smtp.send_message(message)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def bench_email(total: int, clients: int) -> None:
    print(f"## E-mail: {total} messages over SMTP from {clients} concurrent clients\n")
    messages = _messages(total)
    baseline = Counter()
    controller = Controller(baseline, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        raw_seconds = _send_all(controller.port, messages, clients)
    finally:
        controller.stop()
    relay = Counter()
    relay_controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    relay_controller.start()
    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder) / "app", DESCRIPTOR.format(folder=folder, relay=relay_controller.port, agents=""))
        app.start()
        try:
            port = app.services.get("email").smtp_port
            seconds = _send_all(port, messages, clients)
            server = app.services.get("communication")
            server.event_log.flush()
            offered = [e.external for e in server.event_log.read(kinds=["offered"])]
            deadline = time.monotonic() + 120
            while relay.count < total and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            app.stop()
            relay_controller.stop()
    exact = len(offered) == total and len(set(offered)) == total
    print("| | messages | seconds | messages/s |")
    print("|---|---:|---:|---:|")
    print(f"| bare aiosmtpd server (baseline) | {total} | {raw_seconds:.2f} | {total / raw_seconds:,.0f} |")
    print(f"| Caruso e-mail channel | {total} | {seconds:.2f} | {total / seconds:,.0f} |")
    print(f"\nratio: the channel handles {total / seconds / (total / raw_seconds):.2f}x the bare server's rate; "
          f"interactions: {len(offered)} for {total} messages, each exactly once: {'yes' if exact else 'NO'}; "
          f"acknowledgements delivered to the relay: {relay.count}\n")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"{pick(0.5):.1f} | {pick(0.9):.1f} | {pick(0.99):.1f} | {ordered[-1] * 1000:.1f}"


async def _customers(url: str, chats: int, messages: int, *, caruso: bool, think: float = 0.0
                     ) -> tuple[list[float], int]:
    """Latencies of every round trip, and how many chats saw every echo in order; ``think``: the mean
    seconds a customer waits between messages (uniform 0.5x to 1.5x; 0: as fast as possible)."""
    import random

    latencies: list[float] = []
    in_order = 0
    rng = random.Random(7)

    async def customer(n: int) -> None:
        nonlocal in_order
        async with websockets.connect(url, open_timeout=60, max_queue=None) as ws:
            if caruso:
                await ws.send(json.dumps({"type": "start", "name": f"c{n}"}))
                while json.loads(await ws.recv())["type"] != "agent":
                    pass
            echoes = []
            for m in range(messages):
                if think:
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
                text = f"chat {n} message {m}"
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "message", "text": text}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") == "message" and frame.get("from") != "customer":
                        break
                latencies.append(time.perf_counter() - started)
                echoes.append(frame["text"])
            if echoes == [f"echo: chat {n} message {m}" for m in range(messages)]:
                in_order += 1
            if caruso:
                await ws.send(json.dumps({"type": "end"}))

    await asyncio.gather(*(customer(n) for n in range(chats)))
    return latencies, in_order


async def _agent_bots(url: str, names: list[str], stop: asyncio.Event) -> None:
    async def bot(name: str) -> None:
        async with websockets.connect(url.format(name), max_queue=None) as ws:
            await ws.send(json.dumps({"type": "login"}))
            while not stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except asyncio.TimeoutError:
                    continue
                if frame["type"] == "offer":
                    await ws.send(json.dumps({"type": "accept", "chat": frame["chat"]}))
                elif frame["type"] == "message" and frame["from"] == "customer":
                    await ws.send(json.dumps({"type": "message", "chat": frame["chat"], "text": "echo: " + frame["text"]}))

    await asyncio.gather(*(bot(name) for name in names))


async def _clients(url: str, agent_url: str | None, names: list[str], chats: int, messages: int,
                   think: float) -> tuple[list[float], int]:
    """The customers (and, for Caruso, the agent bots), all on one event loop."""
    if agent_url is None:
        return await _customers(url, chats, messages, caruso=False, think=think)
    stop = asyncio.Event()
    bots = asyncio.ensure_future(_agent_bots(agent_url, names, stop))
    await asyncio.sleep(1.0)
    try:
        return await _customers(url, chats, messages, caruso=True, think=think)
    finally:
        stop.set()
        await bots


def _client_process(url, agent_url, names, chats, messages, think, results) -> None:
    results.put(asyncio.run(_clients(url, agent_url, names, chats, messages, think)))


def _run_clients(url: str, agent_url: str | None, names: list[str], chats: int, messages: int, think: float
                 ) -> tuple[list[float], int, float]:
    """The clients in a process of their own, so the server's process is the server's alone."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_client_process,
                              args=(url, agent_url, names, chats, messages, think, results))
    started = time.perf_counter()
    process.start()
    latencies, in_order = results.get(timeout=600)
    process.join()
    return latencies, in_order, time.perf_counter() - started


class _EchoServer:
    """A bare ``websockets`` echo server on a thread: the baseline."""

    def __init__(self) -> None:
        self.port = free_port()
        self._stop: asyncio.Future | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        async def echo(ws):
            async for text in ws:
                frame = json.loads(text)
                await ws.send(json.dumps({"type": "message", "from": "agent", "text": "echo: " + frame["text"]}))

        self._stop = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        async with websockets.serve(echo, "127.0.0.1", self.port, max_queue=None):
            self._ready.set()
            await self._stop

    def __enter__(self) -> _EchoServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


def bench_chat(chats: int, messages: int, thinks: list[float]) -> None:
    print(f"## Chat: {chats} concurrent sessions, {messages} messages each, agents echo\n")
    names = [f"agent-{n:03d}" for n in range(100)]
    agents = "\n".join(f'[[services.communication.settings.agents]]\nname = "{name}"\n'
                       f"capacity = {{ chat = 5 }}\n" for name in names)
    rows = []
    for think in thinks:
        with _EchoServer() as echo:
            baseline, baseline_order, _ = _run_clients(f"ws://127.0.0.1:{echo.port}/", None, [], chats, messages,
                                                       think)
        with tempfile.TemporaryDirectory() as folder:
            app = make_app(Path(folder) / "app", DESCRIPTOR.format(folder=folder, relay=free_port(), agents=agents))
            app.start()
            try:
                port = app.services.get("chat").port
                latencies, in_order, seconds = _run_clients(
                    f"ws://127.0.0.1:{port}/ws", f"ws://127.0.0.1:{port}/agent?name={{}}", names, chats, messages,
                    think)
                history = app.services.get("history")
                with app.services.get("storage").transaction() as connection:
                    recorded = connection.execute(sa.select(sa.func.count()).select_from(history.table)).scalar()
            finally:
                app.stop()
        rows.append((think, baseline, baseline_order, latencies, in_order, seconds, recorded))
    print("| customers wait between messages | | round trips | p50 ms | p90 ms | p99 ms | max ms | chats in order |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for think, baseline, baseline_order, latencies, in_order, _seconds, _recorded in rows:
        wait = f"{think:g} s (0.5x-1.5x)" if think else "no (all at once)"
        print(f"| {wait} | bare websockets echo (baseline) | {len(baseline)} | {_percentiles(baseline)} "
              f"| {baseline_order}/{chats} |")
        print(f"| {wait} | Caruso chat via agent bots | {len(latencies)} | {_percentiles(latencies)} "
              f"| {in_order}/{chats} |")
    print()
    for think, baseline, _bo, latencies, _io, seconds, recorded in rows:
        print(f"- waiting {think:g} s: median round trip {statistics.median(latencies) / statistics.median(baseline):.1f}x "
              f"the bare echo's; {len(latencies)} round trips in {seconds:.1f} s including connecting and routing; "
              f"history entries written: {recorded} (two per round trip)")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--think", type=float, action="append",
                        help="mean seconds between a customer's messages (repeatable; default: 0 and 2)")
    args = parser.parse_args()
    if args.mails:
        bench_email(args.mails, args.clients)
    if args.chats:
        bench_chat(args.chats, args.messages, args.think or [0.0, 2.0])


if __name__ == "__main__":
    main()
