"""The script development tool: ``caruso script check | run | graph``.

A business analyst edits a script in a text editor, then asks the tool: is it
valid and does it make sense (``check``: every finding as ``file:line:
message``, exit 1 when there is any), how does it go (``run``: walk it in the
terminal, or replay recorded answers), what does it look like (``graph``:
Mermaid or Graphviz source). Without ``--app`` the checks use Caruso's
built-in actions and skip the business-object checks; with ``--app DIR`` they
use that application's plugins and models.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import click

from caruso.errors import Problem
from caruso.services.scripts.actions import BUILTIN_ACTIONS, ActionDefinition, check_arguments
from caruso.services.scripts.check import (
    application_actions,
    application_objects,
    check_script,
    in_file_order,
)
from caruso.services.scripts.graph import FORMATS, graph
from caruso.services.scripts.model import MODES, Script
from caruso.services.scripts.reader import read_script, script_files

__all__ = ["script"]

SCRIPTS_PLUGIN = "caruso.services.scripts.plugin"
"""The built-in plugin whose ``register_actions`` gives the built-in actions."""

app_option = click.option(
    "--app", "app_folder", type=click.Path(exists=True, path_type=Path), default=None,
    help="Check against this application's actions and business objects (its folder or caruso.toml).",
)


@click.group()
def script() -> None:
    """Dialogue scripts: check them, walk through them, draw them."""


@script.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@app_option
def check(files: tuple[Path, ...], app_folder: Path | None) -> None:
    """Check script files (or folders of them): the DTD, then what the script means.

    Prints one ``file:line: message`` line per finding and exits with 1 when
    there is any; a clean file prints ``FILE: ok``.
    """
    paths, problems = script_files(files)
    actions, objects = _known_names(app_folder)
    engine = _engine()
    for path in paths:
        read, found = _checked(path, engine, actions, objects)
        problems.extend(found)
        if not found:
            what = "fragment" if read.fragment else "script"
            click.echo(f"{path}: ok ({what} {read.id!r}, {_count(len(read.steps), 'step')})")
    for problem in problems:
        click.echo(str(problem))
    if problems:
        sys.exit(1)


@script.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--answers", "answers_json", default=None, metavar="JSON",
              help="Recorded answers instead of asking: a JSON list (in the order questions come) or an"
                   " object by step id or variable; inline, or @FILE.")
@click.option("--language", default=None, help="The language of the prompts (default: the script's first).")
@click.option("--mode", type=click.Choice(MODES), default="agent", show_default=True,
              help="Where the dialogue runs; steps limited to other modes are skipped.")
@click.option("--context", "context_json", default=None, metavar="JSON",
              help='The contact\'s context as a JSON object, e.g. {"channel": "phone"}; inline, or @FILE.')
@click.option("--objects", "objects_json", default=None, metavar="JSON",
              help='What each <bind> gives, by binding name, e.g. {"customer": {"name": "Ada"}}; inline, or @FILE.')
def run(file: Path, answers_json: str | None, language: str | None, mode: str,
        context_json: str | None, objects_json: str | None) -> None:
    """Walk a script in the terminal, or from recorded answers, printing each step.

    Exits with 1 when the walk stops before an end (a recorded answer missing or refused).
    """
    from caruso.services.scripts.walk import walk

    answers = _json_option(answers_json, "--answers", (list, dict))
    context = _json_option(context_json, "--context", (dict,))
    objects = _json_option(objects_json, "--objects", (dict,))
    actions, _ = _known_names(None)
    engine = _engine()
    read, found = _checked(file, engine, actions, None)
    if found:
        _fail(found)
    result = walk(read, answers=answers, language=language, mode=mode, context=context, objects=objects,
                  engine=engine, actions=actions)
    if not result.complete:
        sys.exit(1)


@script.command(name="graph")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "format_", type=click.Choice(tuple(FORMATS)), default="mermaid", show_default=True,
              help="mermaid (renders in GitHub and most Markdown) or dot (Graphviz: dot -Tsvg).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of the standard output.")
def graph_command(file: Path, format_: str, output: Path | None) -> None:
    """Write the flow of a script as diagram source: steps, transitions and their conditions."""
    read, found = read_script(file)
    if found:
        _fail(found)
    text = graph(read, format_)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}: {format_}, {_count(len(read.steps), 'step')}")


def _checked(path: Path, engine: Any, actions: dict[str, ActionDefinition],
             objects: Mapping[str, Collection[str]] | None) -> tuple[Script | None, list[Problem]]:
    """The script at ``path`` with every problem: reading it, then (when it reads cleanly)
    what it means and the arguments of its actions, in file order."""
    read, problems = read_script(path)
    if read is None or problems:
        return read, problems
    found = check_script(read, engine=engine, actions=actions, objects=objects) + check_arguments(read, actions)
    return read, in_file_order(read, found)


def _fail(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    sys.exit(1)


def _known_names(app_folder: Path | None) -> tuple[dict[str, ActionDefinition], Mapping[str, Collection[str]] | None]:
    """The actions and business objects to check against: the application's, or the built-in
    actions and no model (a bare file needs no application, and starts fast)."""
    if app_folder is None:
        return {action.name: action for action in BUILTIN_ACTIONS}, None
    from caruso.app import Application

    app = Application.from_folder(app_folder)
    if app.plugin_manager.get_plugin(SCRIPTS_PLUGIN) is None:  # the built-in actions come from it
        import importlib

        app.plugin_manager.register(importlib.import_module(SCRIPTS_PLUGIN), name=SCRIPTS_PLUGIN)
    return application_actions(app), application_objects(app)


def _engine() -> Any:
    from caruso.services.scripts.expressions import ExpressionEngine

    return ExpressionEngine()


def _json_option(text: str | None, option: str, types: tuple[type, ...]) -> Any:
    """A JSON option's value, inline or read from ``@FILE``; a clear usage error when it is not JSON."""
    if text is None:
        return None
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {text[1:]}: {exc.strerror or exc}", param_hint=option) from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                 param_hint=option) from None
    if not isinstance(value, types):
        wanted = " or ".join({list: "a list", dict: "an object"}[t] for t in types)
        raise click.BadParameter(f"expected {wanted}, got {type(value).__name__}", param_hint=option)
    return value


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
