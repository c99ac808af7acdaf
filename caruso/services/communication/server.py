"""The ``communication`` service: every contact in one universal queue, routed to the best agent.

This module is the state machine; the parts it drives are elsewhere:
``router.py`` (who may take what, fast), ``strategies.py`` (who gets it),
``events.py`` (the log everything is appended to), ``scheduler.py`` (time),
``connectors.py`` (what channels and the telephone system are asked to do),
``ivr.py`` (dialogue scripts on the keypad), ``voicemail.py`` (recordings).

Every public method is one operation under one lock: it changes the state,
appends the events, and only then asks channels to act (ring an endpoint,
connect a call), so a connector that reports back at once finds a consistent
server. Nothing a customer sends is dropped: an interaction leaves only by a
terminal event (completed, abandoned, voicemail, callback), and after a crash
``_recover`` puts every interaction without one back in its queue, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from caruso.errors import (
    CommunicationError,
    ConfigError,
    EventLogUnavailable,
    InteractionStateError,
    ServiceStateError,
    UnknownName,
)
from caruso.services.base import DEGRADED, DOWN, Health, Service
from caruso.services.communication.connectors import DialRequest
from caruso.services.communication.events import KINDS, Event, EventLog
from caruso.services.communication.model import (
    AWAY,
    CHANNELS,
    CONNECTED,
    DONE,
    IVR,
    LOGGED_OUT,
    NEW,
    OFFERED,
    READY,
    WAITING,
    WRAPUP,
    Agent,
    AgentView,
    Interaction,
    InteractionView,
)
from caruso.services.communication.router import Queue, Router
from caruso.services.communication.scheduler import RealTimeDriver, Scheduler
from caruso.services.communication.settings import (
    AgentSettings,
    CommunicationSettings,
    settings_problems,
)

__all__ = ["CommunicationServer", "QueueStatus", "Subscription"]

log = logging.getLogger("caruso.communication")

RECORDING, DIALING = "recording", "dialing"   # a caller leaving a voicemail; an outbound call ringing
_REMEMBERED = 100_000  # finished interactions remembered, so an event arriving twice is recognised
_UNSET = object()


@attrs.frozen
class QueueStatus:
    """One queue right now: what waits, for how long, and who could take it."""

    name: str
    waiting: int
    longest_wait: float
    agents_logged_in: int
    agents_ready: int
    agents_busy: int


class Subscription:
    """A subscriber to the server's events (those of ``kinds``, or all when None);
    ``close()`` to stop receiving them."""

    def __init__(self, server: CommunicationServer, callback: Callable[[Event], None],
                 kinds: Iterable[str] | None = None):
        self._server = server
        self.callback = callback
        self.kinds = None if kinds is None else frozenset(kinds)

    def close(self) -> None:
        self._server._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class CommunicationServer(Service):
    """The default ``communication`` service (see the module docstring and docs/communication.md)."""

    requires = ("storage", "clock")
    Settings = CommunicationSettings

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._the_operation = _Operation(self)
        self._outbox: list[Callable[[], None]] = []
        self._subscribers: list[Subscription] = []
        self._listening: dict[str, tuple[Subscription, ...]] = {}  # kind -> who subscribed to it
        self._unfiltered: tuple[Subscription, ...] = ()            # who subscribed to every kind
        self.router = Router()
        self.agents: dict[str, Agent] = {}
        self.interactions: dict[str, Interaction] = {}
        self._done: OrderedDict[str, str] = OrderedDict()      # finished id -> its terminal kind
        self._external: OrderedDict[str, str] = OrderedDict()  # channel's id -> interaction id
        self._channels: dict[str, Any] = {}
        self.event_log: EventLog | None = None
        self.scheduler: Scheduler | None = None
        self.driver: RealTimeDriver | None = None
        self.rng = random.Random()
        self.dial_listeners: list[Callable[[Interaction, str], None]] = []
        self._agent_order = itertools.count()
        self._identifier: Any = None
        self._ivr: Any = None
        self._voicemail: Any = None
        self.campaigns: Any = None

    # --- lifecycle ------------------------------------------------------------------

    def on_start(self) -> None:
        from caruso.services.communication.identify import CustomerIdentifier
        from caruso.services.communication.ivr import IvrBridge
        from caruso.services.communication.voicemail import VoicemailBox

        settings = self.config = self._structured_settings()
        manager = self.context.manager
        app = self.context.app
        strategies = routing_strategies(app)
        scripts = manager.get("scripts") if "scripts" in manager else None
        known_scripts = getattr(scripts, "scripts", None) if scripts is not None else None
        problems = settings_problems(settings, config=getattr(app, "config", None),
                                     strategies=strategies, scripts=known_scripts, root=self.context.root)
        if problems:
            raise ConfigError(problems)
        # The clock itself, not a handle: it is read several times per event, and a
        # clock is not something to replace while contacts are being timed.
        self.clock = manager.resolve("clock")
        self.scheduler = Scheduler(self.clock)
        self._ids = _interaction_ids()
        self._epoch = self.clock.now().timestamp() - self.clock.monotonic()
        self.router = Router()
        for queue in settings.queues:
            self.router.add_queue(Queue(queue, strategies[queue.strategy](queue, self.rng)))
        self.default_queue = settings.default_queue or (settings.queues[0].name if settings.queues else None)
        self.agents = {}
        for agent in settings.agents:
            self._add_agent(agent)
        self._identifier = CustomerIdentifier.for_settings(settings.identify, manager)
        self._ivr = IvrBridge(self, scripts)
        self._voicemail = VoicemailBox(self._folder(settings.voicemail_folder))
        if not settings.queues:
            log.info("communication server: no queues are configured; it stays idle")
            return
        self.event_log = EventLog(manager.get("storage"), batch_size=settings.event_log.batch_size)
        self.event_log.open()
        from caruso.services.communication.campaigns import CampaignManager

        self.campaigns = CampaignManager(self, settings.campaigns)
        with self._operation():
            self._recover()
            self.event_log.flush()
        if settings.real_time:
            self.driver = RealTimeDriver(self.scheduler, self.tick, interval=settings.event_log.flush_interval)
            self.driver.start()

    def on_stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()
            self.driver = None
        if self.event_log is not None:
            with self._lock:
                if not self.event_log.flush():
                    log.error("communication server stopped with %d event(s) it could not write: %s",
                              self.event_log.pending, self.event_log.last_error)
            self.event_log.close()
            self.event_log = None

    def health(self) -> Health:
        if self.event_log is None:
            if getattr(self, "config", None) is not None and not self.config.queues:
                return Health(detail="idle: no queues are configured")
            return Health(DOWN, "not started")
        waiting = sum(len(q.waiting) for q in self.router.queues.values())
        detail = f"{len(self.router.agents)} agents logged in, {waiting} waiting"
        if self.event_log.last_error is not None:
            return Health(DEGRADED, f"{detail}; {self.event_log.pending} events not yet written: "
                                    f"{self.event_log.last_error}")
        return Health(detail=detail)

    def tick(self) -> None:
        """Run the timers that are due and write the event log: what a real-time driver calls."""
        with self._operation():
            self.scheduler.run_due()
            self.event_log.flush()

    async def serve(self) -> None:
        """Drive the timers from the running asyncio loop (with ``real_time = false``)."""
        driver = RealTimeDriver(self.scheduler, self.tick, interval=self.config.event_log.flush_interval)
        self.scheduler.on_earlier = driver.wake
        await driver.serve()

    # --- time and events ------------------------------------------------------------

    def now(self) -> float:
        """The clock's monotonic seconds (what every time inside the server is measured in)."""
        return self.clock.monotonic()

    def epoch(self, monotonic: float | None = None) -> float:
        """Seconds since 1970 (UTC) of a monotonic time (default: now), as the event log writes it."""
        return self._epoch + (self.clock.monotonic() if monotonic is None else monotonic)

    def _emit(self, kind: str, interaction: Interaction | None = None, *, agent: str | None = None,
              queue: str | None = None, data: Mapping[str, Any] | None = None,
              campaign: str | None = None, external: str | None = None) -> Event:
        event_log = self.event_log
        at = self._epoch + self.clock.monotonic()
        if interaction is not None:
            event = event_log.append(kind, at, interaction.id, interaction.channel, queue or interaction.queue,
                                     agent, campaign or interaction.campaign, external, data)
        else:
            event = event_log.append(kind, at, None, None, queue, agent, campaign, external, data)
        for subscription in self._listening.get(kind, self._unfiltered):
            try:
                subscription.callback(event)
            except Exception:  # one broken subscriber must not stop the call centre
                log.exception("communication server: an event subscriber failed")
        return event

    def subscribe(self, callback: Callable[[Event], None], *, kinds: Iterable[str] | None = None) -> Subscription:
        """Call ``callback(event)`` for every event from now on, or only for those of ``kinds``
        (names from ``events.KINDS``); keep it quick (it runs under the server's lock): put the
        event on a queue of your own.

        Raises:
            UnknownName: a kind that is not an event kind.
        """
        for kind in kinds or ():
            if kind not in KINDS:
                raise UnknownName("event kind", kind, KINDS)
        subscription = Subscription(self, callback, kinds)
        with self._lock:
            self._set_subscribers([*self._subscribers, subscription])
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._set_subscribers([s for s in self._subscribers if s is not subscription])

    def _set_subscribers(self, subscribers: list[Subscription]) -> None:
        """Replace the subscribers, and who listens to each kind (so an event nobody wants costs
        no call). The lists are replaced, never changed: an event being delivered is not disturbed."""
        self._subscribers = subscribers
        self._unfiltered = tuple(s for s in subscribers if s.kinds is None)
        self._listening = {kind: tuple(s for s in subscribers if s.kinds is None or kind in s.kinds)
                           for kind in KINDS}

    async def events(self, *, maxsize: int = 10_000) -> AsyncIterator[Event]:
        """The events as an async stream, for a web page (server-sent events, WebSocket).

        A consumer that falls more than ``maxsize`` events behind loses the oldest ones;
        the ``seq`` numbers show the gap, and ``event_log.read(after=seq)`` fills it.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

        def put(event: Event) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

        subscription = self.subscribe(lambda event: loop.call_soon_threadsafe(put, event))
        try:
            while True:
                yield await queue.get()
        finally:
            subscription.close()

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> Any:
        """Run ``callback(*args)`` at ``when`` (``now()`` seconds) on the server's clock, as one
        server operation (under its lock, like an API call): for components that watch the
        server - the monitor's alert rules, campaigns. Returns the timer (``cancel()``)."""
        return self.scheduler.at(when, self._timed, callback, args)

    def _timed(self, callback: Callable[..., None], args: tuple) -> None:
        with self._lock:
            self._depth += 1
            try:
                callback(*args)
            finally:
                self._depth -= 1
            if self._depth == 0 and self._outbox:
                self._drain()

    def _drain(self) -> None:
        while self._outbox:
            request = self._outbox.pop(0)
            try:
                request()
            except CommunicationError:
                raise
            except Exception:
                log.exception("communication server: a channel request failed")

    def _operation(self) -> _Operation:
        """One consistent step: under the lock; channels are asked to act once it is done.

        The context keeps no state of its own (the depth is the server's), so one serves
        every operation, nested ones too.
        """
        return self._the_operation

    def _later(self, channel: str, method: str, interaction: Interaction, agent: Agent | None = None,
               *more: Any) -> None:
        """Ask the channel's service to act once this operation is done, with snapshots of now."""
        service = self._channels.get(channel, _UNSET)
        if service is _UNSET:
            service = self._channel(channel)
        if service is None:  # no service for this channel (the simulator has none): no snapshots
            return
        function = getattr(service, method, None)
        if function is None:
            return
        now = self.clock.monotonic()
        args = (interaction.view(now),) if agent is None else (interaction.view(now), agent.view(now))
        self._outbox.append(lambda: function(*args, *more))

    def _channel(self, channel: str) -> Any:
        if channel in self._channels:
            return self._channels[channel]
        name = self.config.channels.get(channel)
        manager = self.context.manager
        found = manager.get(name) if name is not None and name in manager else None
        self._channels[channel] = found
        return found

    # --- contacts arriving ----------------------------------------------------------

    def offer(self, channel: str, *, queue: str | None = None, address: str | None = None,
              customer: Any = None, subject: str | None = None, priority: int = 0,
              skills: Iterable[str] = (), language: str | None = None,
              data: Mapping[str, Any] | None = None, external: str | None = None,
              direction: str = "inbound", parent: str | None = None, campaign: str | None = None,
              sla: float | None = None) -> InteractionView:
        """A contact arrives: identify the customer, answer it by IVR or queue it.

        Args:
            channel: one of ``CHANNELS``.
            queue: the queue it asks for; default the application's default queue.
            address: who it is from: a phone number, an e-mail address.
            customer: the customer's key when the channel knows it (a logged-in web user);
                otherwise looked up by ``address``.
            skills: skills it needs on top of the queue's requirement.
            language: the language it is in.
            data: what travels with it to the agent (JSON-like).
            external: the channel's own id (a call id, a Message-ID): a contact delivered
                twice with the same id is the same interaction.

        Returns the interaction as it is after arriving (waiting, offered, in the IVR).

        Raises:
            UnknownName: no such channel or queue.
            EventLogUnavailable: the database has been unreachable for too long.
        """
        with self._operation():
            arrived = self._offer(channel, queue=queue, address=address, customer=customer, subject=subject,
                                  priority=priority, skills=skills, language=language, data=data,
                                  external=external, direction=direction, parent=parent, campaign=campaign,
                                  sla=sla)
            if isinstance(arrived, InteractionView):  # delivered before
                return arrived
            return arrived.view(self.clock.monotonic())

    def _offer(self, channel: str, *, queue: str | None, address: str | None, customer: Any,
               subject: str | None, priority: int, skills: Iterable[str], language: str | None,
               data: Mapping[str, Any] | None, external: str | None, direction: str,
               parent: str | None, campaign: str | None, sla: float | None) -> Interaction | InteractionView:
        """``offer`` without the snapshot: the new interaction, or the view of the one a
        contact delivered again already is (inside an operation)."""
        if channel not in CHANNELS:
            raise UnknownName("channel", channel, CHANNELS)
        target_queue = self._queue(queue or self.default_queue)
        if target_queue.settings.channels and channel not in target_queue.settings.channels:
            raise InteractionStateError(
                f"queue {target_queue.name!r} takes {', '.join(target_queue.settings.channels)}, not {channel}")
        if external is not None:
            known = self._known_external(external)
            if known is not None:
                return known
        self._check_event_log()
        now = self.clock.monotonic()
        extra = 0
        if customer is None and address and self._identifier is not None:
            customer, extra = self._identifier.identify(channel, address)
        interaction = Interaction(
            next(self._ids), channel, direction=direction, customer=customer, address=address,
            subject=subject, queue=target_queue.name, priority=priority + extra,
            skills=tuple(sorted(skills)), language=language, sla=sla, data=dict(data or {}),
            external=external, parent=parent, campaign=campaign, created=now,
        )
        self._arrive(interaction)
        if self.config.event_log.durable_offers:
            self.event_log.flush()
        if target_queue.settings.ivr and channel == "voice" and direction == "inbound":
            self._ivr.start(interaction, target_queue)
        else:
            self._enqueue(interaction, target_queue, "arrival")
        return interaction

    def _arrive(self, interaction: Interaction) -> None:
        self.interactions[interaction.id] = interaction
        if interaction.external is not None:
            self._remember(self._external, interaction.external, interaction.id)
        self._emit("offered", interaction, external=interaction.external, data=interaction.describe())

    def _known_external(self, external: str) -> InteractionView | None:
        found = self._external.get(external) or self.event_log.find_external(external)
        if found is None:
            return None
        log.info("communication server: %r was delivered again; it is interaction %s", external, found)
        live = self.interactions.get(found)
        if live is not None:
            return live.view(self.clock.monotonic())
        return InteractionView(id=found, channel="?", direction="?", state=DONE, external=external)

    def _check_event_log(self) -> None:
        event_log = self.event_log
        if event_log.pending < self.config.event_log.max_buffered:
            return
        if event_log.flush():
            return
        raise EventLogUnavailable(
            f"the event log cannot be written ({event_log.last_error}); {event_log.pending} events wait"
            " in memory, so new interactions are refused until the database is back",
            buffered=event_log.pending,
        )

    def _queue(self, name: str) -> Queue:
        found = self.router.queues.get(name)
        if found is None:
            raise UnknownName("queue", name, self.router.queues)
        return found

    # --- queueing ---------------------------------------------------------------------

    def _enqueue(self, interaction: Interaction, queue: Queue, reason: str, *,
                 keep_order: bool = False, agent: str | None = None) -> None:
        settings = queue.settings
        hours = settings.hours
        if hours is not None and reason in ("arrival", "ivr") and not hours.is_open(self.clock.now()):
            if self._limit(interaction, queue, settings.out_of_hours, "closed", queued=False):
                return
        now = self.clock.monotonic()
        interaction.queue = queue.name
        interaction.state = WAITING
        interaction.queued_at = now
        if interaction.waiting_since is None:
            interaction.waiting_since = now
        if not keep_order:
            interaction.order = self.event_log._next_seq
        interaction.step = 0
        target = self.router.target(queue, interaction, agent)
        interaction.target = target
        target.count += 1
        queue.waiting[interaction.id] = interaction
        interaction.position = len(queue.waiting)
        data = {"reason": reason, "position": interaction.position}
        if interaction.priority:
            data["priority"] = interaction.priority
        if agent is not None:
            data["agent"] = agent
        self._emit("queued", interaction, data=data)
        timers = interaction.timers
        for index, (after, _level, _move) in enumerate(queue.schedule):
            timers.append(self.call_at(now + after, self._step, interaction, queue, index))
        if settings.max_wait is not None:
            timers.append(self.call_at(now + settings.max_wait, self._max_wait, interaction, queue))
        if not self._route(interaction):  # nobody free: it waits for an agent in the target's heap
            target.push_contact(interaction)

    def _dequeue(self, interaction: Interaction) -> None:
        target = interaction.target
        if target is None:
            return
        target.count -= 1
        target.queue.waiting.pop(interaction.id, None)
        interaction.target = None
        interaction.stamp += 1

    def _requeue(self, interaction: Interaction) -> None:
        """Back into its target at its old place (the head, for its priority and age)."""
        target = interaction.target
        interaction.state = WAITING
        target.count += 1
        target.queue.waiting[interaction.id] = interaction
        target.push_contact(interaction)

    def _leave_queue(self, interaction: Interaction) -> None:
        for timer in interaction.timers:
            timer.cancel()
        interaction.timers = []
        self._dequeue(interaction)

    def _step(self, interaction: Interaction, queue: Queue, index: int) -> None:
        if interaction.queue != queue.name or interaction.state not in (WAITING, OFFERED):
            return
        _after, level, move = queue.schedule[index]
        if move is not None:
            if interaction.state == WAITING:
                self._leave_queue(interaction)
                self._enqueue(interaction, self._queue(move), "overflow", keep_order=True)
            return
        interaction.step = level
        if interaction.state == WAITING:
            interaction.target.push_contact(interaction)
            self._route(interaction)

    def _max_wait(self, interaction: Interaction, queue: Queue) -> None:
        if interaction.queue == queue.name and interaction.state == WAITING:
            self._limit(interaction, queue, queue.settings.limit, "max wait")

    def _limit(self, interaction: Interaction, queue: Queue, action: str, why: str, *, queued: bool = True) -> bool:
        """Apply a queue's limit rule; False when the contact simply goes on waiting."""
        voice = interaction.channel == "voice"
        if action == "queue" and queue.settings.limit_queue is not None:
            if queued:
                self._leave_queue(interaction)
            self._enqueue(interaction, self._queue(queue.settings.limit_queue), "limit", keep_order=queued)
            return True
        if action == "voicemail" and voice and self._channel("voice") is not None:
            if queued:
                self._leave_queue(interaction)
            interaction.queue = queue.name
            interaction.state = RECORDING
            interaction.data["voicemail_reason"] = why
            self._later("voice", "record_voicemail", interaction)
            return True
        if action == "callback" and voice and self._channel("voice") is not None:
            self._later("voice", "offer_callback", interaction)
            return False  # the caller waits while deciding
        return False

    # --- routing ----------------------------------------------------------------------

    def _route(self, interaction: Interaction) -> bool:
        agents = self.router.best_agents(interaction)
        if not agents:
            return False
        self._offer_to(interaction, agents)
        return True

    def _offer_to(self, interaction: Interaction, agents: list[Agent]) -> None:
        target = interaction.target
        target.count -= 1
        target.queue.waiting.pop(interaction.id, None)
        interaction.stamp += 1
        interaction.state = OFFERED
        now = self.clock.monotonic()
        interaction.offered_at = now
        interaction.offered_to = [agent.name for agent in agents]
        strategy = target.queue.strategy
        router = self.router
        for agent in agents:
            agent.offered = interaction.id
            agent.interactions[interaction.id] = interaction
            agent.since = now
            router.unavailable(agent)
            strategy.routed(agent)
            self._emit("routed", interaction, agent=agent.name, data={"strategy": strategy.name})
            self._later(interaction.channel, "ring", interaction, agent)
        interaction.timers.append(self.call_at(now + self.config.offer_timeout, self._offer_expired,
                                                    interaction, interaction.stamp))

    def _offer_expired(self, interaction: Interaction, stamp: int) -> None:
        if interaction.state != OFFERED or interaction.stamp != stamp:
            return
        missed = [self.agents[name] for name in interaction.offered_to]
        self._take_back(interaction, "timeout")
        if not self.config.away_on_missed:  # they stay ready, but are not offered this one again
            interaction.declined = {*(interaction.declined or ()), *(agent.name for agent in missed)}
        for agent in missed:
            if self.config.away_on_missed and agent.presence == READY:
                self._set_presence(agent, AWAY, "missed offer")
        self._after_take_back(interaction)
        for agent in missed:
            self._look_for_work(agent)

    def _take_back(self, interaction: Interaction, reason: str, *, keep: str | None = None) -> None:
        """Withdraw the offer from every agent it went to (but ``keep``); agents stay as they are."""
        now = self.clock.monotonic()
        for name in interaction.offered_to:
            if name == keep:
                continue
            agent = self.agents[name]
            agent.offered = None
            agent.interactions.pop(interaction.id, None)
            agent.since = now
            self._emit("unanswered", interaction, agent=name,
                       data={"reason": reason, "ring": round(now - interaction.offered_at, 3)})
            self._later(interaction.channel, "withdraw", interaction, agent)
        interaction.offered_to = [keep] if keep else []

    def _after_take_back(self, interaction: Interaction) -> None:
        """The contact goes back to the head of its queue, and the agents freed look for work."""
        self._requeue(interaction)
        queue = interaction.target.queue
        max_wait = queue.settings.max_wait
        if max_wait is not None and self.clock.monotonic() - interaction.queued_at >= max_wait:
            if self._limit(interaction, queue, queue.settings.limit, "max wait"):
                return
        self._route(interaction)

    def _look_for_work(self, agent: Agent) -> None:
        """``agent`` may have room now: offer it the best waiting contact, or mark it available."""
        self.router.available(agent)
        if agent.presence != READY:
            return
        interaction = self.router.next_contact(agent)
        if interaction is not None:
            self._offer_to(interaction, [agent])

    # --- agents -----------------------------------------------------------------------

    def add_agent(self, settings: AgentSettings) -> AgentView:
        """Make an agent known at run time (from a user directory); they start logged out."""
        with self._operation():
            if settings.name in self.agents:
                raise InteractionStateError(f"agent {settings.name!r} exists already")
            return self._add_agent(settings).view(self.clock.monotonic())

    def _add_agent(self, settings: AgentSettings) -> Agent:
        agent = Agent(settings.name, skills=settings.skills, languages=settings.languages,
                      attributes=settings.attributes, capacity=settings.capacity,
                      endpoint=settings.endpoint, location=settings.location,
                      order=next(self._agent_order))
        self.agents[agent.name] = agent
        return agent

    def _agent(self, name: str) -> Agent:
        found = self.agents.get(name)
        if found is None:
            raise UnknownName("agent", name, self.agents)
        return found

    def login(self, name: str, *, ready: bool = True, endpoint: str | None = None,
              location: str | None = None) -> AgentView:
        """Log an agent in (ready at once unless ``ready=False``), at an endpoint of the day:
        a remote agent gives the number where they can be reached."""
        with self._operation():
            agent = self._agent(name)
            if endpoint is not None:
                agent.endpoint = endpoint
            if location is not None:
                agent.location = location
                agent.profile["location"] = location
            if agent.presence == LOGGED_OUT:
                self.router.login(agent)
                self._set_presence(agent, READY if ready else AWAY, None if ready else "logged in")
            return agent.view(self.clock.monotonic())

    def logout(self, name: str, *, force: bool = False) -> AgentView:
        """Log an agent out. An offer is taken back; an interaction in wrap-up is completed.

        Raises:
            InteractionStateError: the agent is connected to a customer; finish or
                transfer first, or pass ``force=True`` to put those contacts back at the
                head of their queues.
        """
        with self._operation():
            agent = self._agent(name)
            if agent.presence == LOGGED_OUT:
                return agent.view(self.clock.monotonic())
            connected = [ix for ix in agent.interactions.values() if ix.state == CONNECTED]
            if connected and not force:
                raise InteractionStateError(
                    f"agent {name!r} is connected to {', '.join(ix.id for ix in connected)}; complete or"
                    " transfer first, or log out with force=True to put them back in their queues")
            self.router.unavailable(agent)
            agent.presence = AWAY  # nothing new while leaving
            for interaction in list(agent.interactions.values()):
                if interaction.state == OFFERED:
                    self._take_back(interaction, "logout")
                    self._after_take_back(interaction)
                elif interaction.state == WRAPUP:
                    self._complete(interaction, agent, None, "agent logged out")
                elif interaction.state == CONNECTED:
                    self._give_back(interaction, agent, "agent logged out")
            self.router.logout(agent)
            self._set_presence(agent, LOGGED_OUT, None)
            return agent.view(self.clock.monotonic())

    def set_ready(self, name: str) -> AgentView:
        """The agent is ready for contacts."""
        with self._operation():
            agent = self._logged_in(name)
            if agent.presence != READY:
                self._set_presence(agent, READY, None)
            return agent.view(self.clock.monotonic())

    def set_away(self, name: str, reason: str = "away") -> AgentView:
        """The agent takes no new contacts (break, training, ...); an offer is taken back."""
        with self._operation():
            agent = self._logged_in(name)
            if agent.presence == AWAY and agent.reason == reason:
                return agent.view(self.clock.monotonic())
            self._set_presence(agent, AWAY, reason)
            if agent.offered is not None:
                interaction = self.interactions[agent.offered]
                if len(interaction.offered_to) > 1:
                    self._withdraw_one(interaction, agent, "away")
                else:
                    self._take_back(interaction, "away")
                    self._after_take_back(interaction)
            return agent.view(self.clock.monotonic())

    def _logged_in(self, name: str) -> Agent:
        agent = self._agent(name)
        if agent.presence == LOGGED_OUT:
            raise InteractionStateError(f"agent {name!r} is logged out; log in first")
        return agent

    def _set_presence(self, agent: Agent, presence: str, reason: str | None) -> None:
        previous = agent.state
        agent.presence = presence
        agent.reason = reason
        agent.since = self.clock.monotonic()
        data = {"state": presence, "previous": previous}
        if reason:
            data["reason"] = reason
        self._emit("agent", agent=agent.name, data=data)
        if presence == READY:
            self._look_for_work(agent)
        elif presence == AWAY:
            self.router.unavailable(agent)

    def _withdraw_one(self, interaction: Interaction, agent: Agent, reason: str) -> None:
        """Ring all: one of several ringing agents drops out; the others keep ringing."""
        now = self.clock.monotonic()
        interaction.offered_to.remove(agent.name)
        agent.offered = None
        agent.interactions.pop(interaction.id, None)
        self._emit("unanswered", interaction, agent=agent.name,
                   data={"reason": reason, "ring": round(now - interaction.offered_at, 3)})
        self._later(interaction.channel, "withdraw", interaction, agent)

    # --- handling an offer ------------------------------------------------------------

    def accept(self, name: str, interaction_id: str) -> InteractionView:
        """The agent takes the offered interaction; the customer is connected to their endpoint.

        Accepting twice is harmless. Raises InteractionStateError when the offer was taken
        back, went to another agent, or the customer left.
        """
        with self._operation():
            return self._accept(name, interaction_id).view(self.clock.monotonic())

    def _accept(self, name: str, interaction_id: str) -> Interaction:
        """``accept`` without the snapshot (inside an operation)."""
        agent = self._agent(name)
        interaction = self._live(interaction_id)
        if interaction.state in (CONNECTED, WRAPUP) and interaction.agent == name:
            return interaction
        offered_to = interaction.offered_to
        if interaction.state != OFFERED or name not in offered_to:
            raise InteractionStateError(self._not_offered(interaction, name))
        freed = []
        if len(offered_to) > 1:  # ring all: the others stop ringing
            freed = [self.agents[n] for n in offered_to if n != name]
            self._take_back(interaction, "answered elsewhere", keep=name)
        for timer in interaction.timers:
            timer.cancel()
        interaction.timers = []
        now = self.clock.monotonic()
        agent.offered = None
        interaction.state = CONNECTED
        interaction.agent = name
        interaction.answered_at = now
        agent.since = now
        queue = interaction.queue
        agent.handled_by_queue[queue] = agent.handled_by_queue.get(queue, 0) + 1
        self._emit("answered", interaction, agent=name, data={
            "wait": round(now - interaction.waiting_since, 3),
            "ring": round(now - interaction.offered_at, 3)})
        self._later(interaction.channel, "connect", interaction, agent)
        self._look_for_work(agent)
        for other in freed:
            self._look_for_work(other)
        return interaction

    def decline(self, name: str, interaction_id: str) -> InteractionView:
        """The agent refuses the offer; it goes to another agent (never back to this one)."""
        with self._operation():
            agent = self._agent(name)
            interaction = self._live(interaction_id)
            if interaction.state != OFFERED or name not in interaction.offered_to:
                raise InteractionStateError(self._not_offered(interaction, name))
            if interaction.declined is None:
                interaction.declined = set()
            interaction.declined.add(name)
            if len(interaction.offered_to) > 1:
                self._withdraw_one(interaction, agent, "declined")
            else:
                self._take_back(interaction, "declined")
                self._after_take_back(interaction)
            self._look_for_work(agent)
            return interaction.view(self.clock.monotonic())

    def _not_offered(self, interaction: Interaction, name: str) -> str:
        if interaction.state in (CONNECTED, WRAPUP):
            return f"interaction {interaction.id} was answered by {interaction.agent!r}"
        if interaction.state == OFFERED:
            return f"interaction {interaction.id} is offered to {', '.join(interaction.offered_to)}, not {name!r}"
        return f"interaction {interaction.id} is not offered to {name!r} (it is {interaction.state}); the offer was taken back"

    def _live(self, interaction_id: str) -> Interaction:
        found = self.interactions.get(interaction_id)
        if found is not None:
            return found
        if interaction_id in self._done:
            raise InteractionStateError(f"interaction {interaction_id} has ended ({self._done[interaction_id][0]})")
        raise UnknownName("interaction", interaction_id)

    # --- ending ---------------------------------------------------------------------

    def hangup(self, interaction_id: str, *, by: str = "customer") -> InteractionView | None:
        """The conversation ends (the customer hung up, closed the chat; or the agent ended it).

        While waiting, the contact is abandoned; while connected, the agent goes into
        wrap-up. A hang-up reported twice, or for an interaction already finished, is
        ignored (returns None).
        """
        with self._operation():
            interaction = self._hangup(interaction_id, by)
            return None if interaction is None else interaction.view(self.clock.monotonic())

    def _hangup(self, interaction_id: str, by: str) -> Interaction | None:
        """``hangup`` without the snapshot (inside an operation)."""
        interaction = self.interactions.get(interaction_id)
        if interaction is None:
            if interaction_id in self._done:
                return None
            raise UnknownName("interaction", interaction_id)
        state = interaction.state
        if state == CONNECTED:
            self._end_conversation(interaction, by)
        elif state in (WAITING, OFFERED, IVR, NEW, RECORDING, DIALING, "waiting-callback"):
            self._abandon(interaction, self.clock.monotonic())
        return interaction

    def _abandon(self, interaction: Interaction, now: float) -> None:
        state = interaction.state
        freed = []
        if state == OFFERED:
            freed = [self.agents[n] for n in interaction.offered_to]
            self._take_back(interaction, "abandoned")
        self._leave_queue(interaction)
        wait = now - interaction.waiting_since if interaction.waiting_since is not None else 0.0
        data = {"wait": round(wait, 3), "position": interaction.position, "in": state}
        self._emit("abandoned", interaction, data=data)
        self._finish(interaction, "abandoned")
        for agent in freed:
            self._look_for_work(agent)

    def _end_conversation(self, interaction: Interaction, by: str) -> None:
        now = self.clock.monotonic()
        interaction.state = WRAPUP
        interaction.ended_at = now
        agent = self.agents[interaction.agent]
        agent.since = now
        self._emit("wrapup", interaction, agent=agent.name,
                   data={"talk": round(now - interaction.answered_at, 3), "ended_by": by})
        self._later(interaction.channel, "release", interaction)
        wrapup = self.router.queues[interaction.queue].settings.wrapup
        if wrapup <= 0:
            self._complete(interaction, agent, interaction.code, None)
        else:
            interaction.timers.append(self.call_at(now + wrapup, self._wrapup_over, interaction))

    def _wrapup_over(self, interaction: Interaction) -> None:
        if interaction.state == WRAPUP:
            self._complete(interaction, self.agents[interaction.agent], interaction.code, None)

    def complete(self, name: str, interaction_id: str, code: str | None = None,
                 outcome: str | None = None) -> InteractionView:
        """The agent finishes the interaction, with a wrap-up code: ends the conversation if
        it still runs, ends the wrap-up, and frees the agent. Completing twice with the same
        code is harmless."""
        with self._operation():
            now = self.clock.monotonic()
            if interaction_id in self._done and interaction_id not in self.interactions:
                kind, done_code = self._done[interaction_id]
                if kind == "completed" and (code is None or code == done_code):
                    return InteractionView(id=interaction_id, channel="?", direction="?", state=DONE)
                raise InteractionStateError(
                    f"interaction {interaction_id} has ended ({kind}{', code ' + repr(done_code) if done_code else ''});"
                    " a code can no longer be given - give it with complete() before the wrap-up ends"
                    " (a queue's wrapup setting gives agents time for it)")
            interaction = self._live(interaction_id)
            if interaction.agent != name or interaction.state not in (CONNECTED, WRAPUP):
                raise InteractionStateError(
                    f"interaction {interaction_id} is not with agent {name!r} (it is {interaction.state}"
                    f"{', with ' + repr(interaction.agent) if interaction.agent else ''})")
            agent = self.agents[name]
            if interaction.state == CONNECTED:
                interaction.code = code
                interaction.state = WRAPUP
                interaction.ended_at = now
                self._emit("wrapup", interaction, agent=name,
                           data={"talk": round(now - interaction.answered_at, 3), "ended_by": "agent"})
                self._later(interaction.channel, "release", interaction)
            self._complete(interaction, agent, code, outcome)
            return interaction.view(now)

    def _complete(self, interaction: Interaction, agent: Agent, code: str | None, outcome: str | None) -> None:
        now = self.clock.monotonic()
        data: dict[str, Any] = {"handle": round(now - interaction.answered_at, 3)}
        if code is not None:
            data["code"] = code
        if outcome is not None:
            data["outcome"] = outcome
        self._emit("completed", interaction, agent=agent.name, data=data)
        agent.interactions.pop(interaction.id, None)
        agent.last_ended = now
        agent.handled += 1
        agent.since = now
        self._finish(interaction, "completed", code)
        self._look_for_work(agent)

    def _finish(self, interaction: Interaction, kind: str, code: str | None = None) -> None:
        for timer in interaction.timers:
            timer.cancel()
        interaction.timers = []
        interaction.state = DONE
        del self.interactions[interaction.id]
        self._remember(self._done, interaction.id, (kind, code))

    @staticmethod
    def _remember(store: OrderedDict, key: str, value: Any) -> None:
        store[key] = value
        if len(store) > _REMEMBERED:
            store.popitem(last=False)

    # --- transfers ------------------------------------------------------------------

    def transfer(self, name: str, interaction_id: str, *, queue: str | None = None,
                 to_agent: str | None = None, reason: str | None = None) -> InteractionView:
        """Move a connected interaction to a queue, or to one agent (who gets it when free)."""
        with self._operation():
            if (queue is None) == (to_agent is None):
                raise TypeError("transfer to a queue or to an agent: give exactly one of queue, to_agent")
            interaction = self._live(interaction_id)
            target_queue = self._queue(queue or interaction.queue)
            if to_agent is not None:
                self._agent(to_agent)
            if interaction.agent != name or interaction.state != CONNECTED:
                raise InteractionStateError(
                    f"interaction {interaction_id} is not connected to agent {name!r}; only the agent "
                    "talking to the customer can transfer")
            agent = self.agents[name]
            now = self.clock.monotonic()
            data: dict[str, Any] = {"talk": round(now - interaction.answered_at, 3),
                                    "wait": round(interaction.answered_at - interaction.waiting_since, 3)}
            data["to_queue" if queue is not None else "to_agent"] = queue or to_agent
            if reason:
                data["reason"] = reason
            self._emit("transferred", interaction, agent=name, data=data)
            self._later(interaction.channel, "withdraw", interaction, agent)
            self._detach(interaction, agent)
            interaction.transfers += 1
            interaction.waiting_since = None
            self._enqueue(interaction, target_queue, "transfer", agent=to_agent)
            self._look_for_work(agent)
            return interaction.view(now)

    def _give_back(self, interaction: Interaction, agent: Agent, reason: str) -> None:
        """A connected interaction whose agent leaves goes back to the head of its queue."""
        now = self.clock.monotonic()
        self._emit("transferred", interaction, agent=agent.name,
                   data={"to_queue": interaction.queue, "reason": reason,
                         "talk": round(now - interaction.answered_at, 3)})
        self._detach(interaction, agent)
        self._enqueue(interaction, self._queue(interaction.queue), "requeue", keep_order=True)

    def _detach(self, interaction: Interaction, agent: Agent) -> None:
        agent.interactions.pop(interaction.id, None)
        agent.last_ended = self.clock.monotonic()
        interaction.agent = None
        interaction.declined = None

    # --- voicemail and callbacks ------------------------------------------------------

    def voicemail_left(self, interaction_id: str, audio: bytes, *, duration: float | None = None,
                       format: str = "wav") -> InteractionView:
        """The caller left a message: store it, end the call, and queue the message to be
        called back (a ``voicemail`` interaction, routed like any other)."""
        with self._operation():
            interaction = self._live(interaction_id)
            if interaction.channel != "voice" or interaction.state in (CONNECTED, WRAPUP):
                raise InteractionStateError(f"interaction {interaction_id} cannot take a voicemail (it is {interaction.state})")
            path = self._voicemail.store(interaction.id, audio, format=format, when=self.clock.now())
            self._leave_queue(interaction)
            callback = self._follow_up(interaction, "voicemail", data={
                "recording": str(path), "duration": duration, "bytes": len(audio)})
            self._emit("voicemail", interaction, data={
                "recording": str(path), "callback": callback.id,
                "wait": round(self.clock.monotonic() - (interaction.waiting_since or interaction.created), 3)})
            self._finish(interaction, "voicemail")
            self._later("voice", "release", interaction)
            self._queue_follow_up(callback, interaction)
            return callback.view(self.clock.monotonic())

    def callback_accepted(self, interaction_id: str, *, number: str | None = None) -> InteractionView:
        """The caller accepted a call back: the call ends, a ``callback`` interaction waits instead."""
        with self._operation():
            interaction = self._live(interaction_id)
            if interaction.state in (CONNECTED, WRAPUP):
                raise InteractionStateError(f"interaction {interaction_id} is connected; no call back is needed")
            self._leave_queue(interaction)
            callback = self._follow_up(interaction, "callback", data={"number": number or interaction.address})
            if number:
                callback.address = number
            self._emit("callback", interaction, data={
                "callback": callback.id,
                "wait": round(self.clock.monotonic() - (interaction.waiting_since or interaction.created), 3)})
            self._finish(interaction, "callback")
            self._later("voice", "release", interaction)
            self._queue_follow_up(callback, interaction)
            return callback.view(self.clock.monotonic())

    def _follow_up(self, original: Interaction, channel: str, *, data: dict) -> Interaction:
        follow = Interaction(
            next(self._ids), channel, direction="outbound", customer=original.customer,
            address=original.address, subject=original.subject, queue=original.queue,
            priority=original.priority, skills=original.skills, language=original.language,
            data={**{k: v for k, v in original.data.items() if k == "ivr"}, **data},
            parent=original.id, created=self.clock.monotonic())
        self._arrive(follow)
        return follow

    def _queue_follow_up(self, follow: Interaction, original: Interaction) -> None:
        queue = self._queue(original.queue or self.default_queue)
        target = queue.settings.voicemail_queue if follow.channel == "voicemail" else None
        self._enqueue(follow, self._queue(target) if target else queue, "arrival")

    # --- IVR ----------------------------------------------------------------------

    def dtmf(self, interaction_id: str, digits: str) -> Any:
        """Keypad digits from a caller in the IVR; the next step's view (``SessionView``)."""
        with self._operation():
            interaction = self._live(interaction_id)
            if interaction.state != IVR:
                raise InteractionStateError(f"interaction {interaction_id} is not in the IVR (it is {interaction.state})")
            return self._ivr.answer(interaction, digits)

    # --- outbound -------------------------------------------------------------------

    def dial(self, number: str, *, queue: str | None = None, campaign: str | None = None,
             customer: Any = None, agent: str | None = None, data: Mapping[str, Any] | None = None,
             timeout: float = 25.0) -> InteractionView:
        """Place an outbound call through the telephony connector; the result comes back as
        ``dial_result``. With ``agent``, the agent is reserved for it (preview/progressive)."""
        with self._operation():
            self._check_event_log()
            target_queue = self._queue(queue or self.default_queue)
            interaction = Interaction(
                next(self._ids), "voice", direction="outbound", customer=customer, address=number,
                queue=target_queue.name, data=dict(data or {}), campaign=campaign,
                created=self.clock.monotonic())
            interaction.state = DIALING
            if agent is not None:
                reserved = self._logged_in(agent)
                interaction.agent = agent
                reserved.interactions[interaction.id] = interaction
                self.router.unavailable(reserved)
            self._arrive(interaction)
            request = DialRequest(interaction.id, number, campaign=campaign, agent=agent, timeout=timeout)
            connector = self._channel("voice")
            if connector is None:
                raise CommunicationError("no telephony connector is configured to dial out; register a "
                                         "'telephony' service (the built-in simulated one, or a PBX plugin)")
            self._outbox.append(lambda: connector.dial(request))
            return interaction.view(self.clock.monotonic())

    def dial_result(self, interaction_id: str, result: str) -> InteractionView | None:
        """The connector reports how an outbound call went: ``answered``, ``no-answer``,
        ``busy``, ``voicemail`` (a machine) or ``failed``. Reported twice: ignored."""
        with self._operation():
            interaction = self.interactions.get(interaction_id)
            if interaction is None or interaction.state != DIALING:
                if interaction is None and interaction_id not in self._done:
                    raise UnknownName("interaction", interaction_id)
                return None
            now = self.clock.monotonic()
            for listener in self.dial_listeners:
                listener(interaction, result)
            if interaction.state != DIALING:  # a listener took care of it
                return interaction.view(now)
            reserved = self.agents.get(interaction.agent) if interaction.agent else None
            if result != "answered":
                interaction.answered_at = now
                if reserved is not None:
                    reserved.interactions.pop(interaction.id, None)
                    self._emit("completed", interaction, agent=reserved.name, data={"outcome": result, "handle": 0.0})
                    self._finish(interaction, "completed")
                    self._look_for_work(reserved)
                else:
                    self._emit("completed", interaction, data={"outcome": result, "handle": 0.0})
                    self._finish(interaction, "completed")
                return interaction.view(now)
            if reserved is not None:
                interaction.state = CONNECTED
                interaction.answered_at = now
                interaction.waiting_since = now
                self._emit("answered", interaction, agent=reserved.name, data={"wait": 0.0, "ring": 0.0})
                self._later("voice", "connect", interaction, reserved)
            else:
                interaction.agent = None
                interaction.priority += 1000  # a customer on the line waits for nobody
                self._enqueue(interaction, self._queue(interaction.queue), "arrival")
            return interaction.view(now)

    # --- views ----------------------------------------------------------------------

    def interaction(self, interaction_id: str) -> InteractionView:
        """A live interaction.

        Raises:
            InteractionStateError: it has ended; UnknownName: no such interaction.
        """
        with self._lock:
            return self._live(interaction_id).view(self.clock.monotonic())

    def waiting(self, queue: str | None = None) -> list[InteractionView]:
        """The waiting interactions (of one queue), first to be served first."""
        with self._lock:
            now = self.clock.monotonic()
            queues = [self._queue(queue)] if queue is not None else list(self.router.queues.values())
            found = [ix for q in queues for ix in q.waiting.values()]
            found.sort(key=lambda ix: (-ix.priority, ix.order))
            return [ix.view(now) for ix in found]

    def agent(self, name: str) -> AgentView:
        with self._lock:
            return self._agent(name).view(self.clock.monotonic())

    def agent_views(self) -> list[AgentView]:
        with self._lock:
            now = self.clock.monotonic()
            return [agent.view(now) for agent in self.agents.values()]

    def queue_status(self) -> list[QueueStatus]:
        """Per queue: contacts waiting, the longest wait, and the agents who could take them."""
        with self._lock:
            now = self.clock.monotonic()
            found = []
            for queue in self.router.queues.values():
                longest = max((now - ix.waiting_since for ix in queue.waiting.values()
                               if ix.waiting_since is not None), default=0.0)
                admitted = [agent for agent in self.router.agents.values()
                             if any(level.requirement.matches(agent.profile) for level in queue.levels)]
                ready = sum(1 for a in admitted if a.state == READY)
                busy = sum(1 for a in admitted if a.interactions)
                found.append(QueueStatus(queue.name, len(queue.waiting), round(longest, 3),
                                         len(admitted), ready, busy))
            return found

    # --- recovery -------------------------------------------------------------------

    def _recover(self) -> None:
        """Put every interaction the log shows unfinished back in its queue, in its old order,
        and log out every agent the log shows logged in (nobody is at their desk after a crash)."""
        open_interactions = self.event_log.open_interactions()
        restored = 0
        for interaction_id, events in open_interactions.items():
            interaction = _rebuild(interaction_id, events, self.clock.monotonic())
            if interaction is None:
                log.warning("event log: interaction %s has no 'offered' event; it cannot be restored", interaction_id)
                continue
            queue_name = interaction.queue if interaction.queue in self.router.queues else self.default_queue
            self.interactions[interaction.id] = interaction
            if interaction.external is not None:
                self._remember(self._external, interaction.external, interaction.id)
            self._enqueue(interaction, self._queue(queue_name), "recovered", keep_order=interaction.order > 0)
            restored += 1
        for name, state in self.event_log.last_agent_states().items():
            if state != LOGGED_OUT:
                self._emit("agent", agent=name, data={"state": LOGGED_OUT, "previous": state, "reason": "restart"})
        if restored:
            log.warning("communication server: %d interaction(s) restored from the event log", restored)

    # --- settings -------------------------------------------------------------------

    def _structured_settings(self) -> CommunicationSettings:
        settings = self.context.settings
        if isinstance(settings, CommunicationSettings):
            return settings
        from caruso.config import _converter

        return _converter(self.context.root).structure(settings or {}, CommunicationSettings)

    def _folder(self, path: Path) -> Path:
        return path if path.is_absolute() else self.context.root / path


class _Operation:
    """The context of one server operation (a class, not a generator: it runs for every event)."""

    __slots__ = ("server",)

    def __init__(self, server: CommunicationServer):
        self.server = server

    def __enter__(self) -> None:
        server = self.server
        server._lock.acquire()
        if server.event_log is None:
            server._lock.release()
            raise ServiceStateError("the communication service is not running (not started, or no"
                                    " queues are configured in [services.communication.settings])")
        server._depth += 1

    def __exit__(self, *exc_info: Any) -> None:
        server = self.server
        try:
            server._depth -= 1
            if server._depth == 0 and server._outbox and exc_info[0] is None:
                server._drain()
        finally:
            server._lock.release()


def _interaction_ids() -> Iterator[str]:
    """Interaction ids: 32 hex digits that grow with time (milliseconds at start, a random part,
    a counter), so the event log's index on them appends instead of scattering writes."""
    prefix = f"{int(time.time() * 1000):012x}{random.getrandbits(16):04x}"
    return (f"{prefix}{n:016x}" for n in itertools.count(1))


def _rebuild(interaction_id: str, events: list[Event], now: float) -> Interaction | None:
    """An unfinished interaction, from its events (the ``offered`` one holds its description)."""
    first = events[0]
    if first.kind != "offered":
        return None
    described = dict(first.data or {})
    interaction = Interaction(
        interaction_id, first.channel or "voice", direction=described.get("direction", "inbound"),
        customer=described.get("customer"), address=described.get("address"),
        subject=described.get("subject"), queue=first.queue, priority=described.get("priority", 0),
        skills=tuple(described.get("skills", ())), language=described.get("language"),
        sla=described.get("sla"), data=described.get("data") or {}, external=first.external,
        parent=described.get("parent"), campaign=described.get("campaign"), created=now,
    )
    for event in events:
        if event.kind == "queued":
            interaction.queue = event.queue
            if event.data and "priority" in event.data:
                interaction.priority = event.data["priority"]
            if interaction.order == 0:
                interaction.order = event.seq
        elif event.kind == "ivr" and event.data:
            interaction.data["ivr"] = event.data
    interaction.data["recovered"] = True
    return interaction


def routing_strategies(app: Any) -> dict[str, type]:
    """Strategy name -> class: the built-ins, then every plugin's (a later one replaces an earlier)."""
    from caruso.services.communication.strategies import BUILTIN_STRATEGIES

    if app is None:
        return {strategy.name: strategy for strategy in BUILTIN_STRATEGIES}
    from caruso.errors import PluginError
    from caruso.plugins import call_each
    from caruso.services.communication.strategies import RoutingStrategy

    found: dict[str, type] = {}
    hook = app.plugin_manager.hook.register_routing_strategies
    for plugin, strategies in call_each(hook, app=app):  # built-ins (trylast) first
        for strategy in strategies:
            if not (isinstance(strategy, type) and issubclass(strategy, RoutingStrategy)) or not strategy.name:
                raise PluginError(plugin, f"register_routing_strategies returned {strategy!r}; expected "
                                          "RoutingStrategy subclasses with a name")
            found[strategy.name] = strategy
    return found
