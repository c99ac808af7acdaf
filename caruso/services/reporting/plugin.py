"""Monitoring and reporting as a plugin: the ``monitor`` and ``reports`` services, the
built-in report sources and report files, checks of the report files for ``caruso check``,
and the commands ``caruso report`` and ``caruso monitor``.

Built in, but wired through the same hooks as any plugin: a plugin adds report
files (``register_reports``) and sources of facts (``register_report_sources``),
or replaces either service by configuration. Components are imported when used.
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


def _enabled(app, name: str) -> bool:
    section = app.config.services.get(name) if app is not None else None
    return section is None or section.enabled


@hookimpl
def register_services(app):
    from caruso.services.reporting.monitor import MonitorService
    from caruso.services.reporting.service import ReportsService

    found = [ServiceDefinition("reports", ReportsService, requires=("storage", "clock"))]
    if _enabled(app, "communication"):
        requires = ("storage", "clock", "communication", *_notifier_services(app))
        found.append(ServiceDefinition("monitor", MonitorService, requires=requires))
    return found


def _notifier_services(app) -> list[str]:
    """The channel services the alert rules deliver through, started before the monitor."""
    from caruso.services.reporting.notifiers import CHANNELS

    section = app.config.services.get("monitor") if app is not None else None
    alerts = section.settings.get("alerts", ()) if section is not None else ()
    wanted = {channel for rule in alerts if isinstance(rule, dict) for channel in rule.get("channels", ())}
    return sorted(CHANNELS[c] for c in wanted if CHANNELS.get(c) and _enabled(app, CHANNELS[c]))


@hookimpl(trylast=True)
def register_report_sources(app):
    from caruso.services.reporting.sources import BUILTIN_SOURCES

    return list(BUILTIN_SOURCES)


@hookimpl
def check_application(app):
    from caruso.services.reporting.checks import check_reports

    return check_reports(app)


@hookimpl
def register_commands(cli):
    from caruso.services.reporting.commands import monitor, report

    cli.add_command(report)
    cli.add_command(monitor)
