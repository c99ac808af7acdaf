"""KPI alerts: threshold rules on the live state, evaluated on the injected clock.

Rules are declared in the descriptor, under the monitor's settings::

    [[services.monitor.settings.alerts]]
    name = "billing-service-level"
    kpi = "service_level"        # over the last `window` seconds
    queue = "billing"
    below = 0.8
    window = 900
    channels = ["monitor", "email"]
    email = ["supervisor@example.com"]

A rule is about one **subject**: a queue (``queue = "billing"``), every queue
separately (``queue = "*"``), all queues together (no ``queue``), or, for
``away_time`` and ``state_time``, each agent (or the one ``agent`` named).
An alarm is **raised** the first time its subject breaks the threshold and
**cleared** the first evaluation it no longer does; each change is delivered
once on the rule's channels. Between the two nothing more is sent, however
long it lasts: a supervisor is told, not flooded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import attrs

from caruso.services.reporting.live import LiveState

__all__ = ["KPIS", "Alarm", "AlertEvaluator", "AlertRule"]

KPIS = {
    "waiting": "contacts waiting now",
    "longest_wait": "seconds the longest-waiting contact has waited",
    "service_level": "answered within target / settled, over the last `window` seconds",
    "abandon_rate": "abandoned / settled, over the last `window` seconds",
    "agents_ready": "agents ready now (not busy, not away)",
    "agents_logged_in": "agents logged in now",
    "away_time": "seconds an agent has been away",
    "state_time": "seconds an agent has been in the state `state`",
}
AGENT_KPIS = ("away_time", "state_time")
WINDOW_KPIS = ("service_level", "abandon_rate")


@attrs.frozen
class AlertRule:
    """One threshold rule (see the module docstring).

    Args:
        name: names the alarm in every message.
        kpi: one of ``KPIS``.
        above, below: the threshold; exactly one.
        queue: a queue, ``"*"`` for each queue, or None for all together.
        agent: for agent KPIs, one agent (default: each).
        state: for ``state_time``, the agent state timed (``busy``, ``wrapup``, ...).
        window: seconds of recent contacts a window KPI is computed over.
        minimum: contacts a window KPI needs before it can alarm (two calls are no service level).
        channels: ``monitor``, ``email``, ``sms``.
        email: recipients for ``email``; sms: numbers for ``sms``.
    """

    name: str
    kpi: Literal["waiting", "longest_wait", "service_level", "abandon_rate", "agents_ready",
                 "agents_logged_in", "away_time", "state_time"]
    above: float | None = None
    below: float | None = None
    queue: str | None = None
    agent: str | None = None
    state: str = "busy"
    window: float = attrs.field(default=900.0, validator=attrs.validators.gt(0))
    minimum: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    channels: tuple[str, ...] = ("monitor",)
    email: tuple[str, ...] = ()
    sms: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"alert {self.name!r}: give exactly one of above = ... and below = ...")

    @property
    def threshold(self) -> float:
        return self.above if self.above is not None else self.below

    def breaks(self, value: float) -> bool:
        return value > self.above if self.above is not None else value < self.below

    def describe(self, subject: str, value: float) -> str:
        comparison = "above" if self.above is not None else "below"
        return f"{self.name}: {self.kpi} of {subject} is {_show(self.kpi, value)}, {comparison} {_show(self.kpi, self.threshold)}"


def _show(kpi: str, value: float) -> str:
    if kpi in ("service_level", "abandon_rate"):
        return f"{value:.1%}"
    if kpi in ("longest_wait", "away_time", "state_time"):
        return f"{value:.0f} s"
    return f"{value:g}"


@attrs.frozen
class Alarm:
    """An open (or just cleared) alarm: which rule, about what, the value that broke it, since when."""

    rule: str
    subject: str
    kpi: str
    value: float
    threshold: float
    since: float
    message: str

    def to_dict(self) -> dict:
        return attrs.asdict(self)


class AlertEvaluator:
    """Evaluates rules against a ``LiveState``; remembers which alarms are open."""

    def __init__(self, rules: Sequence[AlertRule]):
        self.rules = tuple(rules)
        self.open: dict[tuple[str, str], Alarm] = {}

    def evaluate(self, state: LiveState, now: float) -> tuple[list[tuple[AlertRule, Alarm]], list[tuple[AlertRule, Alarm]]]:
        """(raised, cleared): the alarms that opened and closed since the last evaluation."""
        raised, cleared = [], []
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            for subject, value in self._values(rule, state, now):
                key = (rule.name, subject)
                if value is None or not rule.breaks(value):
                    continue
                seen.add(key)
                if key not in self.open:
                    alarm = Alarm(rule.name, subject, rule.kpi, round(value, 4), rule.threshold, now,
                                  rule.describe(subject, value))
                    self.open[key] = alarm
                    raised.append((rule, alarm))
        rules = {rule.name: rule for rule in self.rules}
        for key in [k for k in self.open if k not in seen]:
            alarm = self.open.pop(key)
            cleared.append((rules[key[0]], alarm))
        return raised, cleared

    def _values(self, rule: AlertRule, state: LiveState, now: float) -> Iterator[tuple[str, float | None]]:
        if rule.kpi in AGENT_KPIS:
            wanted = "away" if rule.kpi == "away_time" else rule.state
            for agent in state.agent_statuses(now):
                if (rule.agent is None or agent.name == rule.agent) and agent.state == wanted:
                    yield agent.name, agent.in_state
            return
        if rule.kpi in ("agents_ready", "agents_logged_in"):
            agents = state.agent_statuses(now)
            if rule.kpi == "agents_ready":
                yield "all", float(sum(1 for a in agents if a.state == "ready"))
            else:
                yield "all", float(sum(1 for a in agents if a.state != "logged-out"))
            return
        queues = state.queue_statuses(now)
        if rule.queue == "*":
            subjects = [(q.name, [q.name]) for q in queues]
        elif rule.queue is not None:
            subjects = [(rule.queue, [rule.queue])]
        else:
            subjects = [("all queues", [q.name for q in queues])]
        by_name = {q.name: q for q in queues}
        for subject, names in subjects:
            mine = [by_name[n] for n in names if n in by_name]
            if rule.kpi == "waiting":
                yield subject, float(sum(q.waiting for q in mine))
            elif rule.kpi == "longest_wait":
                yield subject, max((q.longest_wait for q in mine), default=0.0)
            else:
                outcomes = [s for name in names for s in state.recent_outcomes(now - rule.window, name)]
                if len(outcomes) < rule.minimum:
                    yield subject, None
                elif rule.kpi == "service_level":
                    yield subject, sum(s.within for s in outcomes) / len(outcomes)
                else:
                    yield subject, sum(s.abandoned for s in outcomes) / len(outcomes)
