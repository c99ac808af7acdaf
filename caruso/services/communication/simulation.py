"""A discrete-event simulation: a day of synthetic traffic through the real routing code.

Nothing is mocked but the people: the real ``CommunicationServer`` routes, with
its event log on a real database, on a ``ManualClock`` that the scheduler moves
from one event to the next. Callers arrive as Poisson streams, agents accept
every offer at once and talk for an exponentially distributed time, callers
with a patience hang up when they have waited that long. The KPIs are counted
from the server's own events, as a report would count them.

What needs a telephone system is left out: there is no telephony connector, so
the IVR, voicemail and callback offers do not run (a queue's ``voicemail`` or
``callback`` limit becomes "keep waiting"), and business hours are ignored.

Used by ``caruso simulate`` and by the tests that hold the router to the
Erlang C formula (``erlang.py``) for an M/M/c queue.
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from caruso.clock import ManualClock
from caruso.services.communication.settings import (
    AgentSettings,
    CommunicationSettings,
    EventLogSettings,
    QueueSettings,
    ServiceLevel,
    TrafficStream,
)

__all__ = ["Kpis", "SimulationResult", "Simulator", "single_queue_settings"]


@attrs.define
class Kpis:
    """What the simulation counted, per queue or for all (``answered_within`` uses each queue's target).

    Only contacts that arrived after the warm-up count, each under the queue it arrived in
    (a contact that overflows to another queue still counts for the first).
    """

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within: int = 0
    total_wait: float = 0.0
    total_handle: float = 0.0
    completed: int = 0

    @property
    def average_speed_of_answer(self) -> float:
        return self.total_wait / self.answered if self.answered else 0.0

    @property
    def service_level(self) -> float:
        """Answered within the target, over the contacts answered or abandoned."""
        settled = self.answered + self.abandoned
        return self.answered_within / settled if settled else 1.0

    @property
    def average_handle_time(self) -> float:
        return self.total_handle / self.completed if self.completed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "average_speed_of_answer": round(self.average_speed_of_answer, 3),
            "service_level": round(self.service_level, 4),
            "average_handle_time": round(self.average_handle_time, 3),
        }


@attrs.frozen
class SimulationResult:
    """The KPIs of one run, and what it cost.

    Attributes:
        total: the KPIs over every queue.
        queues: per queue.
        occupancy: the share of the agents' logged-in time spent on contacts.
        agents: how many agents were logged in.
        hours: simulated hours (after the warm-up).
        events: events written to the log.
        wall_seconds: how long the run took.
    """

    total: Kpis
    queues: dict[str, Kpis]
    occupancy: float
    agents: int
    hours: float
    events: int
    wall_seconds: float

    @property
    def routed_per_second(self) -> float:
        """Interactions routed (answered) per second of wall time."""
        return self.total.answered / self.wall_seconds if self.wall_seconds else 0.0


def single_queue_settings(*, agents: int, calls_per_hour: float, handle_time: float,
                          target: float = 20.0, patience: float | None = None,
                          strategy: str = "longest-idle") -> CommunicationSettings:
    """One queue of ``agents`` identical agents and one Poisson stream: an M/M/c queue."""
    queue = QueueSettings(name="queue", strategy=strategy,
                          service_level=ServiceLevel(answer_within=target))
    return CommunicationSettings(
        queues=(queue,),
        agents=tuple(AgentSettings(name=f"agent-{n + 1:04d}") for n in range(agents)),
        traffic=attrs.evolve(CommunicationSettings().traffic, streams=(
            TrafficStream(queue="queue", per_hour=calls_per_hour, handle_time=handle_time, patience=patience),)),
    )


class Simulator:
    """Runs ``settings`` (queues, agents, traffic streams) in virtual time.

    Args:
        settings: the communication settings; ``traffic.streams`` drive the arrivals.
        database: the event log's database URL; default a temporary SQLite file.
        seed: makes the run repeat exactly.
        batch_size: events per write of the event log.
    """

    def __init__(self, settings: CommunicationSettings, *, database: str | None = None,
                 seed: int | None = None, batch_size: int = 5000, root: Path | None = None):
        if not settings.traffic.streams:
            raise ValueError("the traffic profile has no streams; add [[services.communication.settings."
                             "traffic.streams]] or give --agents, --rate and --aht")
        self.settings = attrs.evolve(
            settings, real_time=False,
            event_log=EventLogSettings(batch_size=batch_size, durable_offers=False, max_buffered=10_000_000),
            channels={}, identify=attrs.evolve(settings.identify, object=None),
            queues=tuple(attrs.evolve(q, ivr=None, hours=None) for q in settings.queues),
        )
        self.database = database
        self.rng = random.Random(seed)
        self.root = root

    def run(self, hours: float, *, warmup: float = 0.0) -> SimulationResult:
        """Simulate ``warmup`` hours, then ``hours`` hours that count; stop taking arrivals at
        the end and let what waits be served (so no contact is left in the middle)."""
        from caruso.services.communication.server import CommunicationServer
        from caruso.services.manager import ServiceManager
        from caruso.storage.service import StorageService

        with tempfile.TemporaryDirectory(prefix="caruso-simulate-") as folder:
            url = self.database or f"sqlite:///{Path(folder) / 'events.db'}"
            manager = ServiceManager(root=self.root or Path(folder))
            clock = ManualClock()
            manager.register("clock", clock)
            manager.register("storage", StorageService(), settings={"url": url})
            server = CommunicationServer()
            manager.register("communication", server, requires=("storage", "clock"), settings=self.settings)
            manager.start_all()
            if self.database is None:
                _unsynchronised(manager.resolve("storage").engine)
            # What exists before the run (modules, the application, the database engine) lives
            # on after it: frozen, the garbage collector does not scan it again at every full
            # collection during the run (those scans were about 8% of a 20-hour run).
            gc.freeze()
            try:
                return self._run(server, clock, hours, warmup)
            finally:
                gc.unfreeze()
                manager.stop_all()

    def _run(self, server: Any, clock: ManualClock, hours: float, warmup: float) -> SimulationResult:
        started = time.perf_counter()
        rng = self.rng
        scheduler = server.scheduler
        settings = self.settings
        targets = {q.name: q.service_level.answer_within for q in settings.queues}
        total = Kpis()
        per_queue = {name: Kpis() for name in targets}
        counted: dict[str, str] = {}  # interaction -> the queue it arrived in (per-queue KPIs)
        handle_means: dict[str, float] = {}
        busy = [0.0]
        begin = warmup * 3600.0
        end = begin + hours * 3600.0
        interactions = server.interactions
        expovariate = rng.expovariate
        # The people call the server's operations as its API does (one step under its lock,
        # channel requests after), without the snapshots the API returns: nobody reads them here.
        operation = server._operation()

        def accept(agent: str, interaction_id: str) -> None:
            with operation:
                server._accept(agent, interaction_id)

        def hangup(interaction_id: str, by: str) -> None:
            with operation:
                server._hangup(interaction_id, by)

        def routed(event: Any) -> None:  # the agent accepts at once (once this operation is over)
            scheduler.at(clock.monotonic(), accept, event.agent, event.interaction)

        def answered(event: Any) -> None:
            talk = expovariate(1.0 / handle_means[event.interaction])
            scheduler.at(clock.monotonic() + talk, talk_over, event.interaction)
            arrived = counted.get(event.interaction)
            if arrived is not None:
                wait = event.data["wait"]
                for kpis in (total, per_queue[arrived]):
                    kpis.answered += 1
                    kpis.total_wait += wait
                    if wait <= targets[arrived]:
                        kpis.answered_within += 1

        def abandoned(event: Any) -> None:
            handle_means.pop(event.interaction, None)
            arrived = counted.pop(event.interaction, None)
            if arrived is not None:
                for kpis in (total, per_queue[arrived]):
                    kpis.abandoned += 1

        def completed(event: Any) -> None:
            handle_means.pop(event.interaction, None)
            handle = event.data.get("handle", 0.0)
            now = clock.monotonic()
            busy[0] += max(0.0, min(now, end) - max(now - handle, begin))
            arrived = counted.pop(event.interaction, None)
            if arrived is not None:
                for kpis in (total, per_queue[arrived]):
                    kpis.completed += 1
                    kpis.total_handle += handle

        def talk_over(interaction_id: str) -> None:
            if interaction_id in interactions:
                hangup(interaction_id, "agent")

        def give_up(interaction_id: str) -> None:
            found = interactions.get(interaction_id)
            if found is not None and found.state in ("waiting", "offered"):
                hangup(interaction_id, "customer")

        def arrive(stream: TrafficStream, rate: float) -> None:
            now = clock.monotonic()
            if now >= end:
                return
            with operation:
                interaction = server._offer(
                    stream.channel, queue=stream.queue, language=stream.language, skills=stream.skills,
                    priority=stream.priority, address=None, customer=None, subject=None, data=None,
                    external=None, direction="inbound", parent=None, campaign=None, sla=None)
            handle_means[interaction.id] = stream.handle_time
            if now >= begin:
                counted[interaction.id] = stream.queue
                for kpis in (total, per_queue[stream.queue]):
                    kpis.offered += 1
            if stream.patience:
                scheduler.at(now + expovariate(1.0 / stream.patience), give_up, interaction.id)
            scheduler.at(now + expovariate(rate), arrive, stream, rate)

        # Only the events the people react to, or that count (the rest cost no call).
        subscriptions = [server.subscribe(callback, kinds=(kind,)) for kind, callback in (
            ("routed", routed), ("answered", answered), ("abandoned", abandoned), ("completed", completed))]
        try:
            for agent in settings.agents:
                server.login(agent.name)
            for stream in settings.traffic.streams:
                rate = stream.per_hour / 3600.0
                scheduler.at(expovariate(rate), arrive, stream, rate)
            scheduler.run_until(end)
            while scheduler.next_due() is not None and interactions:  # serve what still waits
                scheduler.run_until(scheduler.next_due())
        finally:
            for subscription in subscriptions:
                subscription.close()
        for agent in settings.agents:  # the day is over: a log the reports and the monitor read ends with nobody in
            server.logout(agent.name, force=True)
        server.event_log.flush()
        wall = time.perf_counter() - started
        agents = len(settings.agents)
        occupancy = busy[0] / (agents * (end - begin)) if agents and end > begin else 0.0
        return SimulationResult(total, per_queue, occupancy, agents, hours,
                                server.event_log.written, wall)


def erlang_prediction(settings: CommunicationSettings) -> Any | None:
    """The Erlang C prediction when the settings are one queue, one stream, no abandonment."""
    from caruso.services.communication.erlang import erlang_c

    streams: Sequence[TrafficStream] = settings.traffic.streams
    if len(settings.queues) != 1 or len(streams) != 1 or streams[0].patience:
        return None
    queue, stream = settings.queues[0], streams[0]
    if queue.steps or queue.max_wait is not None or queue.wrapup:
        return None
    return erlang_c(agents=len(settings.agents), calls_per_hour=stream.per_hour,
                    handle_time=stream.handle_time, target=queue.service_level.answer_within)


def _unsynchronised(engine: Any) -> None:
    """A throw-away SQLite file needs no fsync per commit (``PRAGMA synchronous=OFF``): what is
    measured is the server's work, not the disk's."""
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "connect")
    def _off(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    engine.dispose()
