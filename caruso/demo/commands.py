"""``caruso new`` and ``caruso demo``: an application from a vertical template, and the
one-command demo of one (docs/demo.md)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Any

import click

from caruso.cli import _load, _print_table, stop_signals, wait_for
from caruso.demo.templates import TEMPLATES, create, demo_module
from caruso.errors import TemplateError, WebError

__all__ = ["demo", "new"]


@click.command()
@click.argument("name", type=click.Path(path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), required=True, help="The vertical to start from.")
def new(name: Path, template: str) -> None:
    """Create a new application folder NAME from a vertical template (never overwrites)."""
    folder = create(template, name)
    click.echo(f"Created {folder} from the {template} template.")
    click.echo(f"Next: caruso check {folder}  then  caruso db upgrade {folder}  and  caruso run {folder}")


@click.command()
@click.argument("template", type=click.Choice(TEMPLATES))
@click.option("--customers", default=1000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many demo customers to generate.")
@click.option("--port", default=8900, show_default=True, type=click.IntRange(0, 65535),
              help="Where the front office listens (0: a free port).")
@click.option("--speed", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="How many times faster than the traffic profile contacts arrive and are handled.")
@click.option("--folder", type=click.Path(path_type=Path), default=None,
              help="Create the demo application here (it must not exist) instead of in a temporary folder.")
@click.option("--seed", default=1, show_default=True, help="The seed of the demo data and the traffic.")
@click.option("--seconds", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds instead of at Ctrl-C.")
def demo(template: str, customers: int, port: int, speed: float, folder: Path | None, seed: int,
         seconds: float | None) -> None:
    """Run a vertical template with demo data, synthetic traffic and the front office."""
    _refuse_taken_port(port)
    folder = folder or Path(tempfile.mkdtemp(prefix=f"caruso-demo-{template}-")) / template
    create(template, folder)
    click.echo(f"Demo application: {folder}")
    app = _load(folder)
    with app:
        app.services.get("storage").upgrade()
        module = demo_module(folder)
        written = _generate(module, app, customers, seed)
        click.echo("Generated " + ", ".join(f"{count:,} {name}" for name, count in written.items()))
        users = _add_users(app, module.DEMO_USERS)
        from caruso.demo.traffic import LiveTraffic

        humans = {fields.get("agent") for _, _, _, fields in module.DEMO_USERS}
        robots = [agent.name for agent in app.services.get("communication").agent_views() if agent.name not in humans]
        traffic = LiveTraffic(app, robots=robots, speed=speed, seed=seed)
        traffic.start()
        try:
            with stop_signals() as stop:
                try:
                    url = app.services.get("web").listen(port=port)
                except WebError as exc:
                    raise WebError(f"{exc} (is a demo running already? start this one with --port)") from None
                click.echo(f"\nFront office: {url}")
                _print_table(("LOGIN", "PASSWORD", "ROLES", "LANDS ON"), users)
                click.echo(f"\n{len(robots)} simulated agents answer the traffic at {speed:g}x speed; "
                           "press Ctrl-C to stop.")
                wait_for(stop, seconds)
        finally:
            traffic.stop()
        counts = traffic.counts
        click.echo(f"Stopping: {counts.offered} contacts offered, {counts.handled_by_robots} handled by the "
                   f"simulated agents, {counts.abandoned} abandoned, {counts.self_service} self-service sessions.")
    click.echo(f"Stopped. The demo application stays in {folder}.")


def _refuse_taken_port(port: int) -> None:
    """Fail before generating anything when the port is taken (a demo already running)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise TemplateError(f"port {port} is in use: is a demo running already? Open http://127.0.0.1:{port},"
                                " or start this one with --port (0 for a free one)") from None


def _generate(module: Any, app: Any, customers: int, seed: int) -> dict[str, int]:
    """The template's generator with a progress bar (it reports done/total as it goes)."""
    bar: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(click.progressbar(length=total, label="Demo data"))
            bar[0].__enter__()
        bar[0].update(done - bar[0].pos)

    try:
        return module.generate(app, customers=customers, seed=seed, progress=progress)
    finally:
        if bar:
            bar[0].__exit__(None, None, None)


def _add_users(app: Any, demo_users: Any) -> list[tuple[str, str, str, str]]:
    web = app.services.get("web")
    shown = []
    for name, password, roles, fields in demo_users:
        web.users.add(name, password, roles=list(roles), **fields)
        portal = next((web.roles[r].portal for r in roles if r in web.roles), "/")
        shown.append((name, password, ", ".join(roles), portal))
    return shown
