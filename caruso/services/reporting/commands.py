"""``caruso report`` and ``caruso monitor``: reporting from the command line.

Both read the application's database only: they start no service, so they
run beside a live call centre (or on a copy of its database) without
disturbing it.

``caruso report [DIR] NAME --from --to --interval --format html|csv|json [-o FILE]``
computes one report; ``caruso report [DIR] --list`` lists the reports with
their measures.

``caruso monitor [DIR]`` follows the event log and redraws the live status in
place every ``--refresh`` seconds; ``--once`` prints it once, ``--json`` prints
the snapshot as JSON (both for scripts and tests). Alert rules are evaluated
for the display only: deliveries by e-mail and SMS are the running
application's monitor service's job, never a terminal's.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

__all__ = ["monitor", "report"]


def _open(folder: Path):
    """(application, read-only storage) of the folder: loaded, nothing started."""
    from caruso.app import Application
    from caruso.storage import Storage

    app = Application.from_folder(folder)
    return app, Storage(app.config.storage.url)


def _settings(app: Any, name: str, cls: type) -> Any:
    from caruso.config import structure_settings

    section = app.config.services.get(name)
    return structure_settings(cls, section.settings if section is not None else {}, config=app.config, service=name)


@click.command()
@click.argument("arguments", nargs=-1, metavar="[DIR] NAME")
@click.option("--from", "start", default="today", show_default=True,
              help="First moment included: 2026-03-01, 2026-03-01T08:00, today, yesterday.")
@click.option("--to", "end", default="now", show_default=True, help="First moment no longer included.")
@click.option("--interval", type=click.Choice(["15min", "30min", "hour", "day", "week", "month", "total"]),
              help="Group by this interval (default: the report's own).")
@click.option("--format", "format_", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.option("--list", "list_", is_flag=True, help="List the reports and what they show.")
def report(arguments: tuple[str, ...], start: str, end: str, interval: str | None, format_: str,
           output: Path | None, list_: bool) -> None:
    """Compute a report over a period from the event log: HTML with charts, CSV or JSON."""
    from caruso.clock import SystemClock
    from caruso.services.reporting.intervals import parse_time
    from caruso.services.reporting.render import to_csv, to_html, to_json
    from caruso.services.reporting.service import ReportsService, ReportsSettings

    if len(arguments) > 2 or (not arguments and not list_):
        raise click.UsageError("give the report's NAME, after the application folder if it is not the current one")
    folder = Path(arguments[0]) if len(arguments) == 2 or (list_ and arguments) else Path(".")
    name = arguments[-1] if arguments and not (list_ and len(arguments) == 1) else None
    app, storage = _open(folder)
    try:
        clock = SystemClock()
        reports = ReportsService().bind(app, storage, clock, _settings(app, "reports", ReportsSettings))
        if list_:
            for found in reports.names():
                definition = reports.definition(found)
                click.echo(f"{found:<24}{definition.title} (source {definition.source}, by {definition.interval})")
                click.echo(f"{'':<24}measures: {', '.join(m.name for m in definition.measures)}")
            return
        zone = ZoneInfo(reports.config.timezone)
        now = clock.now()
        result = reports.run(name, parse_time(start, zone=zone, now=now), parse_time(end, zone=zone, now=now), interval)
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            if format_ == "csv":
                to_csv(result, out)
            elif format_ == "json":
                out.write(json.dumps(to_json(result), indent=2) + "\n")
            else:
                out.write(to_html(result, application=app.name))
        finally:
            if output:
                out.close()
        if output:
            click.echo(f"wrote {output}: {len(result.rows)} rows", err=True)
        elif result.empty and format_ != "html":
            click.echo("(no data in this period)", err=True)
    finally:
        storage.close()


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("--once", is_flag=True, help="Print the status once and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON once and exit.")
@click.option("--refresh", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between two redraws.")
def monitor(folder: Path, once: bool, as_json: bool, refresh: float) -> None:
    """Show the live status: agents, queues, campaigns and alarms, redrawn in place."""
    from caruso.clock import SystemClock
    from caruso.services.reporting.alerts import AlertEvaluator
    from caruso.services.reporting.live import LiveState
    from caruso.services.reporting.following import follow, load_state
    from caruso.services.reporting.monitor import MonitorSettings, take_snapshot
    from caruso.services.reporting.sources import configured_agents, queue_targets
    from caruso.services.reporting.status import format_snapshot

    app, storage = _open(folder)
    try:
        settings = _settings(app, "monitor", MonitorSettings)
        zone = ZoneInfo(settings.timezone)
        targets = queue_targets(app)
        state = LiveState(targets=targets, queues=targets, agents=configured_agents(app), timezone=zone,
                          short_abandon=settings.short_abandon, window=max((r.window for r in settings.alerts), default=900.0))
        clock = SystemClock()
        reader = load_state(storage, state, clock.now().timestamp())
        evaluator = AlertEvaluator(settings.alerts)
        try:
            while True:
                follow(reader, state)
                now = clock.now().timestamp()
                evaluator.evaluate(state, now)
                snapshot = take_snapshot(state, evaluator.open.values(), now)
                if as_json:
                    click.echo(json.dumps(snapshot.to_dict(), indent=2))
                    return
                text = format_snapshot(snapshot, zone, title=app.name)
                if once:
                    click.echo(text)
                    return
                click.echo("\x1b[H\x1b[2J" + text + "\n(Ctrl-C to stop)", nl=False)
                time.sleep(refresh)
        except KeyboardInterrupt:
            click.echo("")
    finally:
        storage.close()
