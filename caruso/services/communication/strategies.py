"""Routing strategies: which of the agents that may take a contact gets it.

A strategy is a class with a ``name``; the server makes one instance per queue
that names it (so a strategy may remember things per queue, as round robin
does). Plugins add strategies through the ``register_routing_strategies`` hook;
the built-in ones are the strategies Asterisk's ``app_queue`` users know, plus
best skill match:

================= ===================== ===========================================
name              Asterisk              offers the contact to
================= ===================== ===========================================
``ring-all``      ringall               every available agent at once; the first
                                        to accept takes it
``longest-idle``  leastrecent           the agent whose last contact ended longest ago
``fewest-handled`` fewestcalls          the agent who took fewest from this queue
``random``        random                an agent chosen at random
``round-robin``   rrmemory              the next agent after the one offered last
``linear``        linear                the first agent in configuration order
``weighted-random`` wrandom             random, weighted by penalty (lower is likelier)
``best-skill``    -                     the agent with the highest levels in the skills
                                        the queue requires; ties: longest idle
================= ===================== ===========================================

Penalties (``[queues] penalties``) come first for every strategy but
``weighted-random``: agents with a lower penalty are offered a contact before
any agent with a higher one, as in Asterisk.

**Ordered** strategies (``ordered = True``) give each agent a ``rank`` when the
agent becomes available; the router keeps available agents in a heap by
(penalty, rank), so choosing costs O(log n) however many agents there are.
The others (``ordered = False``) ``choose`` among the list of available
candidates, which costs O(n) in the agents available for that queue.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "BUILTIN_STRATEGIES",
    "BestSkill",
    "FewestHandled",
    "Linear",
    "LongestIdle",
    "Random",
    "RingAll",
    "RoundRobin",
    "RoutingStrategy",
    "WeightedRandom",
]


class RoutingStrategy:
    """The interface, and the default base class, of a routing strategy.

    Subclass it, give it a ``name``, and either implement ``rank`` (an ordered
    strategy: lower ranks are offered first) or set ``ordered = False`` and
    implement ``choose``. ``queue`` is the queue's ``QueueSettings``.

    Attributes:
        name: how queues name it in the descriptor (``strategy = "longest-idle"``).
        ordered: True when ``rank`` orders agents; False when ``choose`` picks.
        queue: the settings of the queue this instance serves (set by the server).
        rng: a ``random.Random`` (seeded in simulations, so runs repeat).
    """

    name: ClassVar[str] = ""
    ordered: ClassVar[bool] = True

    def __init__(self, queue: Any = None, rng: random.Random | None = None):
        self.queue = queue
        self.rng = rng or random.Random()

    def rank(self, agent: Any) -> Any:
        """A sortable key for an available agent; the lowest is offered first."""
        raise NotImplementedError(f"strategy {self.name!r} must implement rank() or set ordered = False")

    def choose(self, candidates: Sequence[tuple[int, Any]], interaction: Any) -> list[Any]:
        """The agents to offer ``interaction`` to, from (penalty, agent) pairs; one agent,
        or several to ring at once. Only called when ``ordered`` is False."""
        raise NotImplementedError(f"strategy {self.name!r} must implement choose() or set ordered = True")

    def routed(self, agent: Any) -> None:
        """Called after an offer of this queue went to ``agent`` (round robin remembers it)."""


def _lowest_penalty(candidates: Sequence[tuple[int, Any]]) -> list[Any]:
    lowest = min(penalty for penalty, _ in candidates)
    return [agent for penalty, agent in candidates if penalty == lowest]


class RingAll(RoutingStrategy):
    """Ring every available agent (of the lowest penalty); the first to accept takes it."""

    name = "ring-all"
    ordered = False

    def choose(self, candidates, interaction):
        return sorted(_lowest_penalty(candidates), key=lambda agent: agent.order)


class LongestIdle(RoutingStrategy):
    """The agent who has been without a contact longest (Asterisk's leastrecent)."""

    name = "longest-idle"

    def rank(self, agent):
        return (len(agent.interactions), agent.last_ended, agent.order)


class FewestHandled(RoutingStrategy):
    """The agent who has taken the fewest contacts from this queue (Asterisk's fewestcalls)."""

    name = "fewest-handled"

    def rank(self, agent):
        return (len(agent.interactions), agent.handled_by_queue.get(self.queue.name, 0), agent.order)


class Linear(RoutingStrategy):
    """Agents in the order the configuration lists them (Asterisk's linear)."""

    name = "linear"

    def rank(self, agent):
        return (len(agent.interactions), agent.order)


class BestSkill(RoutingStrategy):
    """The agent with the highest levels in the skills the queue names; ties: longest idle."""

    name = "best-skill"

    def __init__(self, queue: Any = None, rng: random.Random | None = None):
        super().__init__(queue, rng)
        self._skills: tuple[str, ...] | None = None

    def rank(self, agent):
        if self._skills is None:
            from caruso.services.communication.requirements import parse_requirement

            named: set[str] = set(parse_requirement(self.queue.requires).skills)
            for step in self.queue.steps:
                if step.requires:
                    named |= parse_requirement(step.requires).skills
            self._skills = tuple(sorted(named))
        score = sum(agent.skills.get(skill, 0) for skill in self._skills)
        return (len(agent.interactions), -score, agent.last_ended, agent.order)


class Random(RoutingStrategy):
    """An available agent (of the lowest penalty) chosen at random."""

    name = "random"
    ordered = False

    def choose(self, candidates, interaction):
        return [self.rng.choice(_lowest_penalty(candidates))]


class RoundRobin(RoutingStrategy):
    """The next agent in configuration order after the one offered last (Asterisk's rrmemory)."""

    name = "round-robin"
    ordered = False

    def __init__(self, queue: Any = None, rng: random.Random | None = None):
        super().__init__(queue, rng)
        self.last = -1

    def choose(self, candidates, interaction):
        agents = sorted(_lowest_penalty(candidates), key=lambda agent: agent.order)
        after = [agent for agent in agents if agent.order > self.last]
        return [(after or agents)[0]]

    def routed(self, agent):
        self.last = agent.order


class WeightedRandom(RoutingStrategy):
    """Random, with the penalty as a weight: metric = random * (penalty + 1), lowest wins
    (Asterisk's wrandom), so a lower penalty makes an agent likelier, not certain."""

    name = "weighted-random"
    ordered = False

    def choose(self, candidates, interaction):
        rng = self.rng
        return [min(candidates, key=lambda pair: rng.random() * (pair[0] + 1))[1]]


BUILTIN_STRATEGIES: tuple[type[RoutingStrategy], ...] = (
    RingAll, LongestIdle, FewestHandled, Linear, BestSkill, Random, RoundRobin, WeightedRandom,
)

