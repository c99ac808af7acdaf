"""The modeler as a plugin: the ``bom`` service, model checks for ``caruso check``, ``caruso bom``.

Built in, but wired through the same hooks as any plugin, so an application
can replace the service (``[services.bom] implementation = ...``). The command
line imports every built-in plugin to collect its commands, so the modeler
itself (and SQLAlchemy) is imported only when used.
"""

from __future__ import annotations

from pathlib import Path

import click

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.bom.service import BomService, BusinessObjects

    return [ServiceDefinition("bom", BomService, provides=(BusinessObjects,), requires=("storage",))]


@hookimpl
def check_application(app):
    from caruso.bom.service import check_application_models

    return check_application_models(app)


@hookimpl
def register_commands(cli):
    cli.add_command(bom)


@click.group()
def bom() -> None:
    """Business-object models: draft one from an existing database."""


@bom.command()
@click.argument("url")
@click.option("--table", "tables", multiple=True, metavar="NAME",
              help="A table to reflect (repeat for several); all tables by default.")
@click.option("--schema", default=None, help="The database schema to read (the default schema otherwise).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the model to this file instead of the standard output.")
def reflect(url: str, tables: tuple[str, ...], schema: str | None, output: Path | None) -> None:
    """Write a draft model for the tables of the database at URL, ready to edit.

    Every object is marked legacy="yes": Caruso maps those tables but never alters them.
    """
    from caruso.bom.reflect import reflect_database

    text = reflect_database(url, tables=tables, schema=schema)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    count = text.count("<object ")
    click.echo(f"wrote {output}: {count} object{'s' if count != 1 else ''} (review the names, then load it)")
