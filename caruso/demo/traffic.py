"""Synthetic traffic on the real clock for ``caruso demo``: contacts arrive, robot agents take them.

The application's own traffic profile (``[services.communication.settings.traffic]``, the
streams ``caruso simulate`` runs in virtual time) drives arrivals here in real time, sped up
by ``speed``: each contact comes from a real demo customer (their phone number or e-mail
address, so the communication server identifies them and the desktop opens their 360-degree
view) and goes through the real router. Robot agents - the configured agents no demo user
logs in as - accept what is offered to them and complete it after a handle time; the demo's
human agents get their share of offers on the desktop. Every handled contact is written to
the contact history, and now and then a customer starts a self-service session, so the
reports, the monitor and the 360-degree view have something to show.

Robots call the server's public API from this module's own thread, never from inside an event
callback (the server calls subscribers with its lock held).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import CarusoError

__all__ = ["LiveTraffic", "TrafficCounts"]

log = logging.getLogger("caruso.demo")

SAMPLE = 5000
"""How many customers the traffic draws its callers from."""
ADDRESSED_BY = {"voice": "phone", "sms": "mobile", "callback": "phone", "email": "email", "chat": "email"}
WRAPUP_CODES = ("solved", "information", "follow-up", "complaint")


@attrs.define
class TrafficCounts:
    offered: int = 0
    handled_by_robots: int = 0
    abandoned: int = 0
    self_service: int = 0


class LiveTraffic:
    """The traffic thread; ``start()``, then ``stop()`` (also logs the robots out)."""

    def __init__(self, app: Any, *, robots: Sequence[str], speed: float = 10.0, seed: int = 1,
                 self_service_every: int = 5):
        self.server = app.services.get("communication")
        self.history = _optional(app, "history")
        self.scripts = _optional(app, "scripts")
        self.streams = tuple(self.server.config.traffic.streams)
        self.robots = frozenset(robots)
        self.speed = speed
        self.self_service_every = self_service_every
        self.counts = TrafficCounts()
        self._rng = random.Random(seed)
        self._customers = _callers(app)
        self._self_service = _self_service_scripts(self.scripts)
        self._due: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._routed: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: Any = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if not self.streams:
            log.warning("demo: the application has no traffic streams ([services.communication.settings.traffic])")
        if self.history is not None:
            self.history.open()  # its table now, not under the first contact's event-log writes
        for name in sorted(self.robots):
            self.server.login(name)
        self._subscription = self.server.subscribe(self._routed.put, kinds=("routed",))
        now = time.monotonic()
        for stream in self.streams:
            self._at(now + self._gap(stream), self._arrive, stream)
        self._thread = threading.Thread(target=self._run, name="caruso-demo-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._subscription is not None:
            self._subscription.close()
        for name in sorted(self.robots):
            try:
                self.server.logout(name, force=True)
            except CarusoError as exc:
                log.info("demo: could not log robot %s out: %s", name, exc)

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._take_routed()
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                _, _, action, args = heapq.heappop(self._due)
                try:
                    action(*args)
                except CarusoError as exc:  # the caller hung up first, the agent logged out: traffic goes on
                    log.info("demo: %s", exc)
                except Exception:  # a demo must not die of one bad contact; the log says why
                    log.exception("demo: a synthetic contact failed")
            wait = min(0.2, self._due[0][0] - now) if self._due else 0.2
            self._stop.wait(max(wait, 0.01))

    def _at(self, when: float, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._due, (when, next(self._order), action, args))

    def _gap(self, stream: Any) -> float:
        return self._rng.expovariate(stream.per_hour * self.speed / 3600.0)

    def _take_routed(self) -> None:
        while True:
            try:
                event = self._routed.get_nowait()
            except queue.Empty:
                return
            if event.agent in self.robots:
                pick_up = self._rng.uniform(2.0, 8.0) / self.speed  # seconds of the profile's time
                self._at(time.monotonic() + pick_up, self._accept, event.agent, event.interaction)

    # --- what happens ------------------------------------------------------------------

    def _arrive(self, stream: Any) -> None:
        self._at(time.monotonic() + self._gap(stream), self._arrive, stream)
        caller = self._rng.choice(self._customers) if self._customers else {}
        address = caller.get(ADDRESSED_BY.get(stream.channel, "phone")) or caller.get("phone")
        view = self.server.offer(stream.channel, queue=stream.queue, address=address, customer=caller.get("id"),
                                 subject=f"Demo {stream.channel} to {stream.queue}", language=stream.language,
                                 skills=stream.skills, priority=stream.priority)
        self.counts.offered += 1
        if stream.patience:
            patience = self._rng.expovariate(1.0 / stream.patience) / self.speed
            self._at(time.monotonic() + patience, self._give_up, view.id)
        if self._self_service and self.counts.offered % self.self_service_every == 0 and caller:
            self._start_self_service(caller)

    def _give_up(self, interaction_id: str) -> None:
        try:
            found = self.server.interaction(interaction_id)
        except CarusoError:
            return
        if found.state in ("waiting", "offered"):
            self.server.hangup(interaction_id, by="customer")
            self.counts.abandoned += 1

    def _accept(self, agent: str, interaction_id: str) -> None:
        accepted = self.server.accept(agent, interaction_id)
        stream = next((s for s in self.streams if s.queue == accepted.queue and s.channel == accepted.channel), None)
        mean = stream.handle_time if stream is not None else 180.0
        self._at(time.monotonic() + self._rng.expovariate(1.0 / mean) / self.speed, self._complete, agent,
                 interaction_id)

    def _complete(self, agent: str, interaction_id: str) -> None:
        view = self.server.interaction(interaction_id)
        self.server.complete(agent, interaction_id, self._rng.choice(WRAPUP_CODES))
        self.counts.handled_by_robots += 1
        if self.history is not None and view.customer is not None:
            self.history.record(channel=view.channel if view.channel != "voice" else "phone", direction="inbound",
                                customer=view.customer, address=view.address, agent=agent,
                                interaction=interaction_id, subject=view.subject)

    def _start_self_service(self, caller: dict[str, Any]) -> None:
        script = self._rng.choice(self._self_service)
        self.scripts.start_session(script, mode="self-service", customer=caller["id"], channel="web")
        self.counts.self_service += 1


def _optional(app: Any, name: str) -> Any:
    return app.services.get(name) if name in app.services else None


def _callers(app: Any) -> list[dict[str, Any]]:
    """Up to ``SAMPLE`` demo customers with what identifies them on each channel."""
    bom = _optional(app, "bom")
    if bom is None or "Customer" not in bom.model:
        return []
    customer = bom.model.Customer
    columns = [getattr(customer, name) for name in ("id", "phone", "mobile", "email") if hasattr(customer, name)]
    with bom.session() as session:
        rows = session.execute(sa.select(*columns).limit(SAMPLE)).mappings().all()
    return [dict(row) for row in rows]


def _self_service_scripts(scripts: Any) -> list[str]:
    """The scripts a demo customer may start on the web (every script but the fragments;
    steps meant for agents only are skipped in self-service by the engine)."""
    if scripts is None:
        return []
    return sorted(script_id for script_id, script in scripts.scripts.items() if not script.fragment)
