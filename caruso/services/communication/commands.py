"""``caruso simulate`` and ``caruso events``: the communication server from the command line.

``caruso simulate [DIR] --agents N --rate CALLS_PER_HOUR --aht SECONDS --hours H``
pushes synthetic traffic through the real routing code in virtual time and
prints the KPIs; with one queue and no abandonment, the Erlang C prediction
beside them. Without ``--agents``/``--rate``/``--aht`` it runs the
application's own queues, agents and traffic profile.

``caruso events [DIR] --format queue_log|jsonl [-o FILE]`` exports the event
log, in Asterisk's queue_log format for the reporting tools a call centre
already owns, or as JSON lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

__all__ = ["events", "simulate"]


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("--agents", type=click.IntRange(1), help="One queue of this many identical agents.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Arrivals per hour (Poisson).")
@click.option("--aht", type=click.FloatRange(min=0, min_open=True), help="Average handle time, seconds.")
@click.option("--target", default=20.0, show_default=True, type=click.FloatRange(min=0),
              help="Service-level threshold, seconds.")
@click.option("--patience", type=click.FloatRange(min=0, min_open=True),
              help="Callers hang up after this many seconds on average (default: never).")
@click.option("--hours", default=8.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Simulated hours that count.")
@click.option("--warmup", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Simulated hours before counting starts (the queues fill up).")
@click.option("--seed", type=int, help="Repeat a run exactly.")
@click.option("--database", metavar="URL", help="Keep the event log in this database (default: a temporary file).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def simulate(folder, agents, rate, aht, target, patience, hours, warmup, seed, database, as_json) -> None:
    """Push synthetic traffic through the real routing code and print the KPIs."""
    from caruso.services.communication.simulation import Simulator, erlang_prediction, single_queue_settings

    given = [agents is not None, rate is not None, aht is not None]
    if any(given) and not all(given):
        raise click.UsageError("give --agents, --rate and --aht together (one queue), or none of them"
                               " (the application's own queues and traffic)")
    if all(given):
        settings = single_queue_settings(agents=agents, calls_per_hour=rate, handle_time=aht,
                                         target=target, patience=patience)
        root = None
    else:
        settings, root = _application_settings(folder or Path("."))
    prediction = erlang_prediction(settings)
    result = Simulator(settings, database=database, seed=seed, root=root).run(hours, warmup=warmup)
    figures = {
        "agents": result.agents, "hours": hours, **result.total.as_dict(),
        "occupancy": round(result.occupancy, 4),
        "queues": {name: kpis.as_dict() for name, kpis in result.queues.items()},
        "events": result.events, "wall_seconds": round(result.wall_seconds, 3),
        "routed_per_second": round(result.routed_per_second),
    }
    if prediction is not None and prediction.stable:
        figures["erlang_c"] = {
            "service_level": round(prediction.service_level, 4),
            "average_speed_of_answer": round(prediction.average_speed_of_answer, 3),
            "occupancy": round(prediction.occupancy, 4),
        }
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    _print(figures)


def _application_settings(folder: Path):
    from caruso.app import Application
    from caruso.config import structure_settings
    from caruso.services.communication.settings import CommunicationSettings

    app = Application.from_folder(folder)
    section = app.config.services.get("communication")
    if section is None or not section.settings:
        raise click.UsageError(f"{app.config.path} has no [services.communication.settings]; give "
                               "--agents, --rate and --aht to simulate one queue")
    settings = structure_settings(CommunicationSettings, section.settings, config=app.config,
                                  service="communication")
    return settings, app.root


def _print(figures: dict) -> None:
    erlang = figures.get("erlang_c")
    rows = [
        ("offered", figures["offered"], None),
        ("answered", figures["answered"], None),
        ("abandoned", figures["abandoned"], None),
        ("average speed of answer (s)", figures["average_speed_of_answer"],
         erlang and erlang["average_speed_of_answer"]),
        ("service level", figures["service_level"], erlang and erlang["service_level"]),
        ("average handle time (s)", figures["average_handle_time"], None),
        ("occupancy", figures["occupancy"], erlang and erlang["occupancy"]),
    ]
    click.echo(f"{figures['agents']} agents, {figures['hours']:g} simulated hours")
    header = f"{'KPI':<30}{'simulated':>12}" + (f"{'Erlang C':>12}" if erlang else "")
    click.echo(header)
    for name, value, predicted in rows:
        line = f"{name:<30}{value:>12}"
        if erlang:
            line += f"{'' if predicted is None else predicted:>12}"
        click.echo(line)
    if len(figures["queues"]) > 1:
        click.echo("")
        click.echo(f"{'QUEUE':<20}{'offered':>9}{'answered':>10}{'abandoned':>10}{'ASA':>9}{'SL':>8}")
        for name, kpis in figures["queues"].items():
            click.echo(f"{name:<20}{kpis['offered']:>9}{kpis['answered']:>10}{kpis['abandoned']:>10}"
                       f"{kpis['average_speed_of_answer']:>9}{kpis['service_level']:>8}")
    click.echo(f"\n{figures['events']} events logged; {figures['wall_seconds']} s of wall time,"
               f" {figures['routed_per_second']} interactions routed per second")


@click.command()
@click.argument("folder", default=".", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option("--format", "format_", type=click.Choice(["queue_log", "jsonl"]), default="queue_log",
              show_default=True, help="Asterisk's queue_log, or one JSON object per line.")
@click.option("--after", default=0, type=click.IntRange(0), help="Only events after this sequence number.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def events(folder: Path, format_: str, after: int, output: Path | None) -> None:
    """Export the communication server's event log."""
    from caruso.config import load_config
    from caruso.services.communication.events import EventLog
    from caruso.services.communication.queue_log import write_queue_log
    from caruso.storage import Storage

    storage = Storage(load_config(folder).storage.url)  # read only: nothing is started or recovered
    try:
        log = EventLog(storage)
        log.open(create=False)
        try:
            stream = (event for event in log if event.seq > after)
            out = open(output, "w", encoding="utf-8", newline="\n") if output else sys.stdout
            try:
                if format_ == "queue_log":
                    count = write_queue_log(stream, out)
                else:
                    count = 0
                    for event in stream:
                        out.write(json.dumps(event.to_dict(), default=str) + "\n")
                        count += 1
            finally:
                if output:
                    out.close()
        finally:
            log.close()
    finally:
        storage.close()
    if output:
        click.echo(f"wrote {output}: {count} lines", err=True)
