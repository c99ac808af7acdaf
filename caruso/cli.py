"""The ``caruso`` command line.

Every command that works on an application takes its folder (default: the
current folder) and loads it through ``Application.from_folder``, the same
path Python code takes. Errors a user can fix are printed as one line per
problem (``file:line: message``) with exit code 1 (2 for a bad descriptor);
tracebacks are for programmer mistakes only.

Plugins add commands through the ``register_commands`` hook; the built-in
components' commands (``db``, ``bom``) arrive the same way.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from caruso import __version__
from caruso.errors import CarusoError
from caruso.plugins import describe_plugins, installed_plugins, make_plugin_manager, load_plugins

folder_argument = click.argument(
    "folder", default=".", type=click.Path(file_okay=True, dir_okay=True, path_type=Path)
)


class CarusoGroup(click.Group):
    """Prints Caruso errors as messages with their exit code instead of tracebacks."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CarusoError as exc:
            for line in _error_lines(exc):
                click.echo(line, err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=CarusoGroup)
@click.version_option(__version__, prog_name="caruso")
@click.option("-v", "--verbose", is_flag=True, help="Log what the services do.")
def cli(verbose: bool) -> None:
    """Caruso: compose a CRM front office from swappable services."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@cli.command()
@folder_argument
def check(folder: Path) -> None:
    """Validate the descriptor and everything it references, without starting anything."""

    try:
        app = _load(folder)
    except CarusoError as exc:
        located = getattr(exc, "problems", None)
        for line in _error_lines(exc) if located else [f"{_descriptor_path(folder)}: {exc}"]:
            click.echo(line)
        sys.exit(1)
    problems = app.check()
    for problem in problems:
        click.echo(str(problem))
    if problems:
        sys.exit(1)
    click.echo(f"{app.config.path}: ok ({len(app.services)} services)")


@cli.command()
@folder_argument
@click.option("--health", is_flag=True, help="Start the services to ask each for its health, then stop.")
def services(folder: Path, health: bool) -> None:
    """List the application's services: name, state, interfaces, implementation, plugin."""

    app = _load(folder)
    if health:
        with app:
            _print_services(app)
    else:
        _print_services(app)


@cli.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path))
def plugins(folder: Path | None) -> None:
    """List the plugins: built-in, installed (enabled or not) and from plugin folders."""

    if folder is not None:
        pm = _load(folder).plugin_manager
    else:
        pm = make_plugin_manager()
        load_plugins(pm)
    rows = [
        (p.name, p.source, "yes" if p.enabled else "no", ", ".join(p.hooks), p.location)
        for p in describe_plugins(pm)
    ]
    _print_table(("PLUGIN", "SOURCE", "ENABLED", "HOOKS", "LOCATION"), rows)


@cli.command()
@folder_argument
def run(folder: Path) -> None:
    """Start the application and serve until Ctrl-C (or SIGTERM), then stop cleanly."""

    app = _load(folder)
    with stop_signals() as stop, app:
        _print_services(app)
        if "web" in app.services:
            click.echo(f"Front office: {app.services.get('web').listen()}")
        click.echo(f"Caruso application {app.name!r} is running; press Ctrl-C to stop.")
        wait_for(stop)
        click.echo("Stopping...")
    click.echo("Stopped.")


@contextlib.contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """While the block runs, Ctrl-C and SIGTERM set the event yielded instead of interrupting,
    so the caller stops its application cleanly instead of dying with a traceback. Installed
    before anything starts: a signal that comes early is kept, not lost."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for(stop: threading.Event, seconds: float | None = None) -> None:
    """Block until ``stop`` is set (or ``seconds`` have passed)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stop.wait(0.5):
        if deadline is not None and time.monotonic() >= deadline:
            return


def _load(folder: Path):
    """The application in ``folder``; imported here so that commands needing none start fast."""
    from caruso.app import Application

    return Application.from_folder(folder)


def _print_services(app) -> None:
    rows = [
        (
            info.name,
            info.state,
            info.health.status + (f" ({info.health.detail})" if info.health.detail else ""),
            ", ".join(i.__name__ for i in info.interfaces) or "-",
            info.implementation,
            info.version or "-",
            info.plugin or "-",
        )
        for info in app.services
    ]
    _print_table(("SERVICE", "STATE", "HEALTH", "PROVIDES", "IMPLEMENTATION", "VERSION", "PLUGIN"), rows)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    for row in (headers, *rows):
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _error_lines(exc: CarusoError) -> list[str]:
    """One line per located problem for errors that carry them, else the message."""
    problems = getattr(exc, "problems", None)
    if problems:
        return [str(problem) for problem in problems]
    return [f"Error: {exc}"]


def _descriptor_path(folder: Path) -> Path:
    return folder / "caruso.toml" if folder.is_dir() else folder


_plugin_commands_added = False


def command_line() -> click.Group:
    """The ``caruso`` group with the commands of the built-in and installed plugins.

    A broken installed plugin must not take the whole command line down with it:
    its error is printed and the remaining commands still work.
    """
    global _plugin_commands_added
    if not _plugin_commands_added:
        _plugin_commands_added = True
        _add_plugin_commands(cli)
    return cli


def _add_plugin_commands(group: click.Group) -> None:
    pm = make_plugin_manager()
    load_plugins(pm)
    for name in installed_plugins():
        try:
            load_plugins(pm, enabled=(name,), defaults=())
        except CarusoError as exc:
            click.echo(f"warning: the commands of plugin {name!r} are unavailable: {exc}", err=True)
            if pm.has_plugin(name):
                pm.unregister(name=name)
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=group)
        except Exception as exc:
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add its commands: {exc}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """The console-script entry point."""
    command_line().main(args=argv, prog_name="caruso")
