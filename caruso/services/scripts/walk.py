"""Walking a script without an application: ``caruso script run``, and tests of scripts.

The walk runs the real interpreter over one script, printing each step as a
person would meet it - the prompt, the choices (with keypad digits in IVR
mode), the answer given, the reason a refused answer was refused, what the
script asked of other components, the outcome. Answers come from a
recording or, without one, from the person at the terminal.

A recording is either a list, consumed in order by the questions that stop,
or an object keyed by step id or variable; information items go on by
themselves. From a list, a refused answer uses up its entry, so a recording
can show the refusal and then the corrected answer.

Without a service manager or a bom, the actions that need them (``create``,
``update``, ``call``, ``email``) fail as they would in an application
without those services: the script's ``on-error`` step is taken, or the walk
stops with ``ActionFailed``. Bound business objects can be given as plain
mappings (``objects={"customer": {"name": "Ada"}}``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs

from caruso.clock import Clock
from caruso.services.scripts.actions import BUILTIN_ACTIONS, ActionDefinition
from caruso.services.scripts.interpreter import Interpreter, ObjectLoader
from caruso.services.scripts.model import Binding, Script
from caruso.services.scripts.views import SessionView

__all__ = ["WalkResult", "describe_view", "walk"]

_NO_ANSWER = object()


@attrs.frozen
class WalkResult:
    """How a walk ended: the last view, and why it stopped before an end (``stopped``)."""

    view: SessionView
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.view.status == "ended"


def walk(
    script: Script | Path | str,
    *,
    answers: Sequence[Any] | Mapping[str, Any] | None = None,
    ask: Callable[[SessionView], Any] | None = None,
    echo: Callable[[str], None] | None = None,
    mode: str = "agent",
    language: str | None = None,
    context: Mapping[str, Any] | None = None,
    known: Mapping[str, Any] | None = None,
    objects: Mapping[str, Any] | None = None,
    engine: Any = None,
    actions: Mapping[str, ActionDefinition] | None = None,
    services: Any = None,
    bom: Any = None,
    clock: Clock | None = None,
    max_refusals: int = 3,
) -> WalkResult:
    """Walk ``script`` from its start to an end, printing every step.

    Args:
        script: a read script, or the path of a script file (read and checked).
        answers: recorded answers (see the module docs); None asks instead.
        ask: asks the person for the answer to a view; default: a terminal prompt
            when there is no recording.
        echo: prints a line; default ``click.echo``.
        mode, language, context, known: as ``ScriptsService.start``.
        objects: what each ``<bind>`` gives, by binding name.
        engine: the expression engine; default a new ``ExpressionEngine``.
        actions: the actions by name; default the built-in ones.
        services, bom, clock: for actions, as in an application.
        max_refusals: refused answers in a row on one step before giving up.

    Raises:
        ScriptDefinitionError: the script file has problems (every one, file:line).
        ActionFailed, ScriptLoopError, ExpressionError: the script failed while walking.
    """
    if echo is None:
        import click

        echo = click.echo
    if engine is None:
        from caruso.services.scripts.expressions import ExpressionEngine

        engine = ExpressionEngine()
    if actions is None:
        actions = {a.name: a for a in BUILTIN_ACTIONS}
    if not isinstance(script, Script):
        script = _load(Path(script), engine, actions)
    if ask is None and answers is None:
        ask = _terminal_prompt
    interpreter = Interpreter(
        script, engine=engine, actions=actions, clock=clock, services=services, bom=bom,
        objects=_object_loader(objects),
    )
    live = interpreter.start(uuid.uuid4().hex, mode=mode, language=language, context=context, known=known)
    echo(f"script {script.id!r}: {script.title} (version {script.version}, mode {mode})")
    recording = _Recording(answers)
    shown_requests = 0
    refusals = 0
    error = None
    while True:
        view = interpreter.view(live, error=error)
        for request in view.requests[shown_requests:]:
            echo("  -> " + _describe_request(request))  # what the move to this step asked for
        shown_requests = len(view.requests)
        if error is None:
            echo(describe_view(view))
        if view.status != "active":
            return WalkResult(view)
        value = recording.next_for(view)
        if value is _NO_ANSWER:
            if ask is None:
                stopped = f"no recorded answer for step {view.step!r}"
                echo(f"stopped: {stopped}")
                return WalkResult(view, stopped)
            value = ask(view)
        if view.kind != "info":
            echo(f"  > {_show(value)}")
        error = interpreter.answer(live, value)
        if error is None:
            refusals = 0
            continue
        echo(f"  ! {error}")
        refusals += 1
        if refusals >= max_refusals or recording.by_key:
            stopped = f"answer refused on step {view.step!r}: {error}"
            echo(f"stopped: {stopped}")
            return WalkResult(interpreter.view(live, error=error), stopped)


def describe_view(view: SessionView) -> str:
    """A step as lines of text: ``[step] prompt``, then its choices or its outcome."""
    lines = [f"[{view.step}] {view.prompt}".rstrip()]
    if view.kind == "end":
        lines.append(f"  = {view.outcome}")
        return "\n".join(lines)
    if view.kind == "info":
        return "\n".join(lines)
    for choice in view.choices:
        key = f"{choice.dtmf}) " if choice.dtmf else ""
        label = f" - {choice.label}" if choice.label and choice.label != choice.value else ""
        lines.append(f"  {key}{choice.value}{label}")
    if view.value is not None:
        lines.append(f"  (known: {_show(view.value)}{'; confirm' if view.confirm else ''})")
    return "\n".join(lines)


class _Recording:
    """Recorded answers: a list consumed in order, or a mapping by step id or variable."""

    def __init__(self, answers: Sequence[Any] | Mapping[str, Any] | None):
        self.by_key = isinstance(answers, Mapping)
        self._mapping = answers if isinstance(answers, Mapping) else {}
        self._queue = list(answers) if answers is not None and not self.by_key else None

    def next_for(self, view: SessionView) -> Any:
        if self._queue is None and not self.by_key:
            return _NO_ANSWER  # no recording: ask
        if view.kind == "info":
            return None
        if self.by_key:
            for key in (view.step, view.variable):
                if key in self._mapping:
                    return self._mapping[key]
            return _NO_ANSWER
        if not self._queue:
            return _NO_ANSWER
        return self._queue.pop(0)


def _terminal_prompt(view: SessionView) -> Any:
    import click

    if view.kind == "info":
        click.prompt("  (enter to go on)", default="", show_default=False)
        return None
    default = _show(view.value) if view.value is not None else ""
    return click.prompt("  answer", default=default, show_default=bool(default))


def _object_loader(objects: Mapping[str, Any] | None) -> ObjectLoader | None:
    if objects is None:
        return None

    def load(binding: Binding, key: Any, match: Mapping[str, Any]) -> Any:
        return objects.get(binding.name, [] if binding.many else None)

    return load


def _load(path: Path, engine: Any, actions: Mapping[str, ActionDefinition]) -> Script:
    from caruso.errors import ScriptDefinitionError
    from caruso.services.scripts.check import check_script
    from caruso.services.scripts.reader import read_script

    script, problems = read_script(path)
    if script is not None and not problems:
        problems = check_script(script, engine=engine, actions=actions, objects=None)
    if problems:
        raise ScriptDefinitionError(problems)
    return script


def _show(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _describe_request(request: Mapping[str, Any]) -> str:
    details = ", ".join(f"{k}={_show(v)}" for k, v in request.items() if k not in ("kind", "step", "at"))
    return f"{request['kind']} ({details})" if details else str(request["kind"])
