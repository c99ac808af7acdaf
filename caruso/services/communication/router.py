"""The ACD's indexes: who may take what, who is free, what waits - kept so a decision is cheap.

The router decides nothing about time or events (the server does); it answers
two questions fast, whatever the size of the call centre:

- a contact needs an agent: the best available agent that may take it;
- an agent became free: the contact waiting longest, at the highest priority,
  among those the agent may take.

Contacts wait in **targets**. A target is a queue narrowed to one medium, and
to the language and extra skills its contacts need (a queue whose contacts
come in Dutch and English has a target for each), or to one agent (a transfer
to a person). Each target has **levels**: level 0 is the queue's requirement,
each relaxation step opens the next level. When an agent logs in, the router
evaluates the requirements once and records, per target, the lowest level
that admits the agent (admitted once, admitted at every later level: a
relaxation only widens). A contact at level ``s`` may go to agents whose level
is at most ``s``; an agent at level ``L`` may take contacts at level ``L`` or
above.

Per target and level the router keeps the available agents in a heap by
(penalty, strategy rank) and the waiting contacts in a heap by
(-priority, arrival order). Entries are invalidated lazily by stamps, so a
change of state costs O(targets of that agent), not a scan.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from caruso.services.communication.model import Agent, Interaction
from caruso.services.communication.requirements import Requirement, parse_requirement
from caruso.services.communication.settings import QueueSettings
from caruso.services.communication.strategies import RoutingStrategy

__all__ = ["Level", "Queue", "Router", "Target"]


class Level:
    """What admits an agent at one level of a queue."""

    __slots__ = ("requirement", "max_penalty", "match_language")

    def __init__(self, requirement: Requirement, max_penalty: int | None, match_language: bool):
        self.requirement = requirement
        self.max_penalty = max_penalty
        self.match_language = match_language


class Queue:
    """A queue as the router runs it: its settings compiled into levels and a step schedule.

    ``schedule`` lists (after, level or None, move_to or None): at ``after``
    seconds in the queue a contact rises to ``level``, or moves to the queue
    ``move_to`` (an overflow; later steps do not apply).
    """

    def __init__(self, settings: QueueSettings, strategy: RoutingStrategy):
        self.settings = settings
        self.name = settings.name
        self.strategy = strategy
        self.ordered = strategy.ordered
        requirement = parse_requirement(settings.requires, where=f"queue {settings.name!r}")
        level = Level(requirement, settings.max_penalty, settings.match_language)
        self.levels = [level]
        self.schedule: list[tuple[float, int | None, str | None]] = []
        for step in settings.steps:
            if step.queue is not None:
                self.schedule.append((step.after, None, step.queue))
                break
            level = Level(
                parse_requirement(step.requires, where=f"queue {settings.name!r} step") if step.requires else level.requirement,
                step.max_penalty if step.max_penalty is not None else level.max_penalty,
                level.match_language if step.match_language is None else step.match_language,
            )
            self.levels.append(level)
            self.schedule.append((step.after, len(self.levels) - 1, None))
        self.waiting: dict[str, Interaction] = {}   # every contact waiting in this queue
        self.penalties = settings.penalties         # agent name -> penalty (default 0)
        self.uses_language = any(lv.match_language for lv in self.levels)

    def penalty(self, agent: Agent) -> int:
        return self.penalties.get(agent.name, 0)


_sequence = itertools.count()


class Target:
    """Where contacts wait: a queue, one medium, a language and skills, or one agent."""

    __slots__ = ("queue", "medium", "language", "skills", "agent", "ready", "agent_heaps",
                 "contact_heaps", "count", "members")

    def __init__(self, queue: Queue, medium: str, language: str | None, skills: tuple[str, ...],
                 agent: str | None):
        self.queue = queue
        self.medium = medium
        self.language = language
        self.skills = skills
        self.agent = agent
        levels = len(queue.levels)
        self.ready: list[dict[str, Agent]] = [{} for _ in range(levels)]
        self.agent_heaps: list[list] = [[] for _ in range(levels)]
        self.contact_heaps: list[list] = [[] for _ in range(levels)]
        self.count = 0          # contacts waiting here
        self.members = 0        # logged-in agents admitted at some level

    def level_of(self, agent: Agent) -> int | None:
        """The lowest level that admits ``agent``, or None."""
        if self.agent is not None:
            return 0 if agent.name == self.agent else None
        penalty = self.queue.penalty(agent)
        skills = agent.skills
        for index, level in enumerate(self.queue.levels):
            if level.max_penalty is not None and penalty > level.max_penalty:
                continue
            if self.language is not None and level.match_language and self.language not in agent.languages:
                continue
            if self.skills and any(skills.get(skill, 0) < 1 for skill in self.skills):
                return None
            if level.requirement.matches(agent.profile):
                return index
        return None

    # --- agents ---------------------------------------------------------------------

    def add_agent(self, agent: Agent, level: int) -> None:
        ready = self.ready[level]
        ready[agent.name] = agent
        queue = self.queue
        if queue.ordered:
            heap = self.agent_heaps[level]
            key = (queue.penalties.get(agent.name, 0), queue.strategy.rank(agent))
            heapq.heappush(heap, (key, next(_sequence), agent.stamp, agent))
            if len(heap) > 2 * len(ready) + 64:
                self._rebuild_agents(level)

    def best_agent(self, upto: int, exclude: set[str] | None) -> Agent | None:
        """The best available agent of levels 0..upto (ordered strategies)."""
        best = None
        best_key = None
        for level in range(upto + 1):
            heap = self.agent_heaps[level]
            ready = self.ready[level]
            skipped = None  # entries of excluded agents, put back after the search
            while heap:
                key, _, stamp, agent = heap[0]
                if stamp != agent.stamp or agent.name not in ready:
                    heapq.heappop(heap)
                    continue
                if exclude and agent.name in exclude:
                    if skipped is None:
                        skipped = []
                    skipped.append(heapq.heappop(heap))
                    continue
                if best_key is None or key < best_key:
                    best, best_key = agent, key
                break
            for entry in skipped or ():
                heapq.heappush(heap, entry)
        return best

    def candidates(self, upto: int, exclude: set[str] | None) -> list[tuple[int, Agent]]:
        """Every available agent of levels 0..upto, as (penalty, agent) pairs."""
        penalty = self.queue.penalty
        return [(penalty(agent), agent) for level in range(upto + 1)
                for agent in self.ready[level].values() if not exclude or agent.name not in exclude]

    def _rebuild_agents(self, level: int) -> None:
        queue = self.queue
        self.agent_heaps[level] = [
            ((queue.penalty(agent), queue.strategy.rank(agent)), next(_sequence), agent.stamp, agent)
            for agent in self.ready[level].values()
        ]
        heapq.heapify(self.agent_heaps[level])

    # --- contacts -------------------------------------------------------------------

    def push_contact(self, interaction: Interaction) -> None:
        interaction.stamp += 1
        level = min(interaction.step, len(self.contact_heaps) - 1)
        heap = self.contact_heaps[level]
        heapq.heappush(heap, (-interaction.priority, interaction.order, interaction.stamp, interaction))
        if len(heap) > 2 * self.count + 64:
            self._rebuild_contacts()

    def best_contact(self, from_level: int) -> tuple[tuple[int, int], Interaction] | None:
        """The first waiting contact of levels from_level.. : (key, interaction)."""
        best = None
        for level in range(from_level, len(self.contact_heaps)):
            heap = self.contact_heaps[level]
            while heap:
                priority, order, stamp, interaction = heap[0]
                if stamp != interaction.stamp or interaction.target is not self or interaction.state != "waiting":
                    heapq.heappop(heap)
                    continue
                if best is None or (priority, order) < best[0]:
                    best = ((priority, order), interaction)
                break
        return best

    def _rebuild_contacts(self) -> None:
        entries: dict[int, list] = {}
        for heap in self.contact_heaps:
            for entry in heap:
                interaction = entry[3]
                if entry[2] == interaction.stamp and interaction.target is self and interaction.state == "waiting":
                    entries.setdefault(min(interaction.step, len(self.contact_heaps) - 1), []).append(entry)
        for level in range(len(self.contact_heaps)):
            heap = entries.get(level, [])
            heapq.heapify(heap)
            self.contact_heaps[level] = heap


class Router:
    """Targets, and each agent's place in them."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.targets: dict[tuple, Target] = {}
        self.agents: dict[str, Agent] = {}   # logged-in agents
        self._order = itertools.count()

    def add_queue(self, queue: Queue) -> None:
        self.queues[queue.name] = queue

    def target(self, queue: Queue, interaction: Interaction, agent: str | None = None) -> Target:
        """The target ``interaction`` waits in within ``queue`` (made, and filled, on first use)."""
        language = interaction.language if queue.uses_language else None
        key = (queue.name, interaction.medium, language, interaction.skills, agent)
        found = self.targets.get(key)
        if found is None:
            found = self.targets[key] = Target(queue, interaction.medium, language, interaction.skills, agent)
            for member in self.agents.values():
                self._admit(found, member)
        return found

    # --- agents ---------------------------------------------------------------------

    def login(self, agent: Agent) -> None:
        self.agents[agent.name] = agent
        agent.eligibility = []
        for target in self.targets.values():
            self._admit(target, agent)

    def logout(self, agent: Agent) -> None:
        self.unavailable(agent)
        for target, _level in agent.eligibility:
            target.members -= 1
        agent.eligibility = []
        self.agents.pop(agent.name, None)

    def _admit(self, target: Target, agent: Agent) -> None:
        level = target.level_of(agent)
        if level is None:
            return
        agent.eligibility.append((target, level))
        target.members += 1
        if agent.can_take(target.medium):
            target.add_agent(agent, level)

    def available(self, agent: Agent) -> None:
        """Put ``agent`` in the ready sets of every target whose medium it can take now."""
        agent.stamp += 1
        room: dict[str, bool] = {}  # medium -> whether the agent can take one more now
        for target, level in agent.eligibility:
            medium = target.medium
            free = room.get(medium)
            if free is None:
                free = room[medium] = agent.can_take(medium)
            if free:
                target.add_agent(agent, level)
            else:
                target.ready[level].pop(agent.name, None)  # its heap entries go stale by the stamp

    def unavailable(self, agent: Agent) -> None:
        agent.stamp += 1  # its entries in the agent heaps go stale
        name = agent.name
        for target, level in agent.eligibility:
            target.ready[level].pop(name, None)

    def best_agents(self, interaction: Interaction) -> list[Agent]:
        """Who to offer ``interaction`` to now: one agent, several (ring all), or none."""
        target = interaction.target
        upto = min(interaction.step, len(target.queue.levels) - 1)
        queue = target.queue
        if queue.ordered:
            agent = target.best_agent(upto, interaction.declined)
            return [] if agent is None else [agent]
        candidates = target.candidates(upto, interaction.declined)
        if not candidates:
            return []
        return queue.strategy.choose(candidates, interaction)

    def next_contact(self, agent: Agent) -> Interaction | None:
        """The contact ``agent`` should be offered now, or None."""
        best = None
        room: dict[str, bool] = {}  # medium -> whether the agent can take one more now
        for target, level in agent.eligibility:
            if not target.count:
                continue
            medium = target.medium
            free = room.get(medium)
            if free is None:
                free = room[medium] = agent.can_take(medium)
            if not free:
                continue
            found = target.best_contact(level)
            if found is None:
                continue
            key, interaction = found
            if interaction.declined and agent.name in interaction.declined:
                found = self._next_not_declined(target, level, agent)
                if found is None:
                    continue
                key, interaction = found
            if best is None or key < best[0]:
                best = (key, interaction)
        return None if best is None else best[1]

    def _next_not_declined(self, target: Target, level: int, agent: Agent):
        candidates = [
            ((-ix.priority, ix.order), ix) for ix in target.queue.waiting.values()
            if ix.target is target and min(ix.step, len(target.queue.levels) - 1) >= level
            and not (ix.declined and agent.name in ix.declined)
        ]
        return min(candidates, key=lambda pair: pair[0]) if candidates else None

    def waiting_in(self, queue: str) -> Iterator[Interaction]:
        found = self.queues.get(queue)
        return iter(() if found is None else found.waiting.values())

    def admitted(self, interaction: Interaction) -> int:
        """How many logged-in agents could ever take ``interaction`` (at any level)."""
        return interaction.target.members if interaction.target is not None else 0
