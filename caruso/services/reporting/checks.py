"""Checks of reporting's configuration: every report file and every alert rule, without starting
anything (``caruso check``); the monitor runs the same rule checks before it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from caruso.config import locate_key, structure_settings
from caruso.errors import CarusoError, Problem, did_you_mean
from caruso.services.reporting.notifiers import CHANNELS

__all__ = ["alert_problems", "check_reports"]


def _settings(app: Any, name: str, cls: type) -> tuple[Any, list[Problem]]:
    """The service's structured settings (the defaults when it has none), or the problems."""
    section = app.config.services.get(name)
    if section is not None and not section.enabled:
        return None, []
    try:
        return structure_settings(cls, section.settings if section is not None else {}, config=app.config,
                                  service=name), []
    except CarusoError as exc:
        return None, list(getattr(exc, "problems", [Problem(str(app.config.path), None, str(exc))]))


def check_reports(app: Any) -> list[Problem]:
    """The problems of the report files (the application's and the plugins'), and of the alert rules."""
    from caruso.services.reporting.monitor import MonitorSettings
    from caruso.services.reporting.service import ReportsSettings, report_definitions, report_sources

    settings, problems = _settings(app, "reports", ReportsSettings)
    if settings is not None:
        try:
            report_definitions(app, settings, report_sources(app))
        except CarusoError as exc:
            problems.extend(getattr(exc, "problems", [Problem(None, None, str(exc))]))
    if "monitor" in app.services:
        monitor, found = _settings(app, "monitor", MonitorSettings)
        problems.extend(found)
        if monitor is not None:
            problems.extend(alert_problems(app, monitor, lambda name: name in app.services))
    return problems


def alert_problems(app: Any, settings: Any, registered: Callable[[str], bool]) -> list[Problem]:
    """What is wrong with the alert rules: unknown channels, queues, agents, a channel whose
    service is not registered, a channel without recipients. Located at their lines in caruso.toml."""
    problems: list[Problem] = []
    config = getattr(app, "config", None)
    queues, agents = set(), set()
    if config is not None:
        section = config.services.get("communication")
        raw = section.settings if section is not None else {}
        queues = {q.get("name") for q in raw.get("queues", ()) if isinstance(q, dict)}
        agents = {a.get("name") for a in raw.get("agents", ()) if isinstance(a, dict)}

    def problem(index: int, key: str, message: str) -> None:
        path = ("services", "monitor", "settings", "alerts", index, key)
        line = locate_key(config.text, path) if config is not None else None
        file = str(config.path) if config is not None else None
        problems.append(Problem(file, line, f"services.monitor.settings.alerts[{index}].{key}: {message}"))

    names: set[str] = set()
    for index, rule in enumerate(settings.alerts):
        if rule.name in names:
            problem(index, "name", f"a second alert named {rule.name!r}; alert names must be unique")
        names.add(rule.name)
        if rule.queue not in (None, "*") and queues and rule.queue not in queues:
            problem(index, "queue", f"no queue {rule.queue!r}{did_you_mean(rule.queue, queues)}")
        if rule.agent is not None and agents and rule.agent not in agents:
            problem(index, "agent", f"no agent {rule.agent!r}{did_you_mean(rule.agent, agents)}")
        for channel in rule.channels:
            if channel not in CHANNELS:
                problem(index, "channels", f"unknown channel {channel!r}{did_you_mean(channel, CHANNELS)}; "
                                           f"known: {', '.join(CHANNELS)}")
                continue
            service = CHANNELS[channel]
            if service is not None and not registered(service):
                problem(index, "channels", f"alert {rule.name!r} is to go out by {channel}, but no service "
                                           f"{service!r} is registered; enable the {channel} channel "
                                           f"([services.{service}]) or remove {channel!r} from channels")
            elif channel == "email" and not rule.email:
                problem(index, "email", f"alert {rule.name!r} goes out by e-mail to nobody; add email = [\"...\"]")
            elif channel == "sms" and not rule.sms:
                problem(index, "sms", f"alert {rule.name!r} goes out by SMS to nobody; add sms = [\"+31...\"]")
    return problems
