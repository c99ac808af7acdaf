"""The Erlang C model of an M/M/c queue: what theory predicts for a staffed queue.

``caruso simulate`` prints this prediction beside the KPIs it simulated, and
the simulator's tests check themselves against it: with Poisson arrivals,
exponential handle times, no abandonment and first-come-first-served
routing, the simulated service level must converge to ``erlang_c``'s.

The formulas, with A the offered load in Erlangs (arrival rate times mean
handle time), c the agents and rho = A / c:

* Erlang B by its recursion, B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)):
  every term lies in (0, 1], so 2,000 agents cost 2,000 multiplications and
  nothing overflows (the textbook form, A^c / c! over a sum, overflows a float
  at c = 171);
* Erlang C, the probability that a call waits at all, C = B / (1 - rho (1 - B));
* service level P(W <= t) = 1 - C exp(-(c - A) t / handle time);
* average speed of answer E[W] = C handle time / (c - A).

An overloaded queue (A >= c) has no steady state: the queue grows for as
long as calls keep coming. ``erlang_c`` does not raise for it, because
simulating an understaffed day is a fair question: it returns the limit the
formulas tend to as c approaches A from above, every call waits
(``probability_of_wait`` 1.0), none within the target (``service_level``
0.0), the wait has no finite mean (``average_speed_of_answer`` infinity), and
``occupancy`` is above 1. ``stable`` tells the two apart; ``agents_needed``
says how many agents it takes.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["ErlangC", "agents_needed", "erlang_c"]


@attrs.frozen
class ErlangC:
    """The Erlang C prediction for one staffing level; times in seconds."""

    agents: int
    offered_load: float
    """Erlangs: the arrival rate times the mean handle time."""
    occupancy: float
    """offered_load / agents: the share of time agents talk (above 1 when overloaded)."""
    probability_of_wait: float
    """P(W > 0), the Erlang C formula: the share of calls that wait at all."""
    service_level: float
    """P(W <= target): the share of calls answered within the target."""
    average_speed_of_answer: float
    """E[W], seconds, over all calls, those answered at once included; infinite when overloaded."""
    target: float
    """The service-level threshold, seconds."""

    @property
    def stable(self) -> bool:
        """True when the agents keep up (load below agents), so the figures are a steady state."""
        return self.offered_load < self.agents


def _check(name: str, value: float, *, positive: bool = False) -> float:
    """The value as a float, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds or calls, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative, got {value}")
    return value


def _offered_load(calls_per_hour: float, handle_time: float) -> float:
    calls_per_hour = _check("calls_per_hour", calls_per_hour)
    handle_time = _check("handle_time", handle_time, positive=True)
    return calls_per_hour / 3600.0 * handle_time


def _predict(agents: int, load: float, blocking: float, handle_time: float, target: float) -> ErlangC:
    """The prediction from Erlang B for ``agents``; the saturated limit when overloaded."""
    if load >= agents:
        return ErlangC(agents, load, load / agents, 1.0, 0.0, math.inf, target)
    rho = load / agents
    wait = blocking / (1.0 - rho * (1.0 - blocking))
    spare = agents - load
    service_level = 1.0 - wait * math.exp(-spare * target / handle_time)
    speed = wait * handle_time / spare
    return ErlangC(agents, load, rho, wait, min(1.0, max(0.0, service_level)), speed, target)


def erlang_c(*, agents: int, calls_per_hour: float, handle_time: float, target: float = 20.0) -> ErlangC:
    """What Erlang C predicts for ``agents`` agents answering ``calls_per_hour`` calls.

    Args:
        agents: agents staffed, at least 1.
        calls_per_hour: the mean arrival rate (Poisson), 0 or more.
        handle_time: the mean handle time (exponential), seconds, more than 0.
        target: the service-level threshold, seconds, 0 or more.

    Returns:
        The prediction; the saturated limit (see the module) when the load is
        not below the agents.

    Raises:
        ValueError: an argument out of range (agents below 1, a negative rate,
            a handle time of 0, a negative target, NaN or infinity).
        TypeError: ``agents`` not an integer, or a rate not a number.
    """
    if isinstance(agents, bool) or not isinstance(agents, int):
        raise TypeError(f"agents must be an integer, not {type(agents).__name__}")
    if agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")
    load = _offered_load(calls_per_hour, handle_time)
    target = _check("target", target)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = load * blocking / (k + load * blocking)
    return _predict(agents, load, blocking, float(handle_time), target)


def agents_needed(*, calls_per_hour: float, handle_time: float, target: float, service_level: float) -> int:
    """The fewest agents whose predicted service level reaches ``service_level``.

    Erlang B is extended one agent at a time, so the search costs no more than
    one ``erlang_c`` for the answer.

    Args:
        calls_per_hour: the mean arrival rate, 0 or more.
        handle_time: the mean handle time, seconds, more than 0.
        target: the service-level threshold, seconds, 0 or more.
        service_level: the share of calls to answer within ``target``, from 0
            up to but excluding 1 (which no finite staff reaches).

    Raises:
        ValueError: an argument out of range.
    """
    load = _offered_load(calls_per_hour, handle_time)
    target = _check("target", target)
    wanted = _check("service_level", service_level)
    if wanted >= 1.0:
        raise ValueError(
            f"service_level must be below 1 (a share, 0.8 for 80%), got {service_level}: "
            "no finite number of agents answers every call within the target"
        )
    blocking = 1.0
    agents = 0
    while True:
        agents += 1
        blocking = load * blocking / (agents + load * blocking)
        if agents > load and _predict(agents, load, blocking, float(handle_time), target).service_level >= wanted:
            return agents
