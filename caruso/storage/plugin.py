"""The storage component as a plugin: the ``storage`` service and the ``caruso db`` commands.

The command line imports every built-in plugin to collect its commands, so this
module imports the storage manager (and SQLAlchemy) only when it is used.

``caruso db status [DIR]``     how the database differs from the models
``caruso db upgrade [DIR]``    apply the additive changes (``--allow-destructive`` for the rest)
``caruso db transfer [DIR] --to URL``   copy everything to another database and verify it

Each command loads and starts the application in DIR, so the models the
``bom`` service registers with storage are the ones compared and copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from caruso.errors import SchemaChangeRefused
from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition

if TYPE_CHECKING:
    from caruso.storage.manager import StorageManager

folder_argument = click.argument(
    "folder", default=".", type=click.Path(file_okay=True, dir_okay=True, path_type=Path)
)


@hookimpl
def register_services(app):
    from caruso.storage.manager import StorageManager
    from caruso.storage.service import StorageService

    return [ServiceDefinition("storage", StorageService, provides=(StorageManager,))]


@hookimpl
def register_commands(cli):
    cli.add_command(db)


@contextmanager
def running_storage(folder: Path) -> Iterator[StorageManager]:
    """The started application in ``folder``, yielding its storage service."""
    from caruso.app import Application

    with Application.from_folder(folder) as app:
        yield app.services.get("storage")


@click.group()
def db() -> None:
    """The database: compare it with the models, upgrade it, move it."""


@db.command()
@folder_argument
def status(folder: Path) -> None:
    """Show how the database differs from the models (+ additive, ! destructive, x blocked)."""
    with running_storage(folder) as storage:
        diff = storage.status()
        click.echo(f"database: {storage.url}")
        click.echo(str(diff))
        if diff.up_to_date:
            return
        counts = []
        if diff.additive:
            counts.append(f"{len(diff.additive)} additive (run `caruso db upgrade`)")
        if diff.destructive:
            counts.append(f"{len(diff.destructive)} destructive (`caruso db upgrade --allow-destructive`)")
        if diff.blocked:
            counts.append(f"{len(diff.blocked)} blocked (fix the models)")
        click.echo("changes: " + ", ".join(counts))


@db.command()
@folder_argument
@click.option(
    "--allow-destructive",
    is_flag=True,
    help="Also drop columns, indexes and rules no model names, and change types (back up first).",
)
def upgrade(folder: Path, allow_destructive: bool) -> None:
    """Apply the models' additive changes to the database (new tables, columns, indexes)."""
    with running_storage(folder) as storage:
        try:
            applied = storage.upgrade(allow_destructive=allow_destructive)
        except SchemaChangeRefused:
            click.echo(f"database: {storage.url}", err=True)
            raise
        click.echo(f"database: {storage.url}")
        if applied.up_to_date:
            click.echo("already up to date")
            return
        click.echo(str(applied))
        click.echo(f"applied {len(applied.changes)} change(s)")


@db.command()
@folder_argument
@click.option("--to", "to_url", required=True, metavar="URL", help="The database to copy into.")
@click.option("--batch-size", default=None, type=click.IntRange(1),
              help="Rows per batch (one transaction each); default: the storage manager's.")
def transfer(folder: Path, to_url: str, batch_size: int) -> None:
    """Copy every business object to another database, then verify counts and checksums.

    Interrupted, it can be run again: it continues where it stopped, without duplicates.
    """
    with running_storage(folder) as storage:
        batch = {"batch_size": batch_size} if batch_size else {}
        report = storage.transfer(to_url, progress=ClickProgress(), **batch)
        click.echo(str(report))


class ClickProgress:
    """``TransferProgress`` drawn as a click progress bar, labelled with the current table."""

    def __init__(self) -> None:
        self._bar = None

    def begin(self, phase: str, total: int) -> None:
        label = {"copy": "copying", "verify": "verifying"}.get(phase, phase)
        self._bar = click.progressbar(
            length=max(total, 1), label=f"{label:<10}", show_pos=True, width=30,
            item_show_func=lambda table: table or "",
        )
        self._bar.__enter__()

    def advance(self, table: str, rows: int) -> None:
        if self._bar is not None and rows:
            self._bar.update(rows, current_item=table)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
