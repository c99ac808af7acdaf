"""What a script means: the checks a DTD cannot make, each finding as ``file:line: message``.

``check_script`` looks at a script that was read without problems and finds
what would go wrong when it runs: a ``<go>`` to a step that does not exist,
steps nobody reaches, steps from which no ``<end>`` can be reached, conditions
and prompts that do not parse, actions nobody registered, business-object
attributes that do not exist, duplicate ids and keypad digits, bounds that do
not fit the kind of question, prompts missing a language of the script.

Parsing expressions is the expression engine's business, so the checker asks
the engine it is given (``engine.syntax_error(source, kind)``); the checker
itself never evaluates anything. ``load_scripts`` is read + check in one call
for the ``scripts`` service, which refuses to start on any finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from caruso.errors import Problem, ScriptDefinitionError, did_you_mean
from caruso.patterns import Pattern
from caruso.services.scripts.actions import RESERVED_NAMES
from caruso.services.scripts.expressions import CONDITION, TEMPLATE, VALUE
from caruso.services.scripts.model import (
    ActionCall,
    End,
    Expr,
    Prompt,
    Question,
    Script,
    Step,
    Where,
    successors,
)
from caruso.services.scripts.reader import read_scripts

__all__ = [
    "SyntaxChecker",
    "application_actions",
    "application_objects",
    "check_script",
    "check_scripts",
    "in_file_order",
    "load_scripts",
]

DTMF_KEYS = frozenset("0123456789*#")
"""The keys of a telephone keypad: what a choice's ``dtmf`` may be."""


class SyntaxChecker(Protocol):
    """What the checker needs of an expression engine."""

    def syntax_error(self, source: str, kind: str) -> str | None:
        """Why ``source`` does not parse as a ``kind`` ("condition", "value", "template"), or None."""


def check_script(
    script: Script,
    *,
    engine: SyntaxChecker,
    actions: Collection[str] | None,
    objects: Mapping[str, Collection[str]] | None,
) -> list[Problem]:
    """Every finding in ``script``, in file order; empty when it is sound.

    Args:
        script: a script read without problems (``reader.read_script``).
        engine: parses expressions and templates (the expression engine).
        actions: the names of the registered actions; None skips that check
            (no application to ask).
        objects: business-object name -> its attribute names; None skips the
            checks of bindings against the model.
    """
    return _Checker(script, engine, actions, objects).run()


def check_scripts(
    scripts: Iterable[Script],
    *,
    engine: SyntaxChecker,
    actions: Collection[str] | None,
    objects: Mapping[str, Collection[str]] | None,
) -> list[Problem]:
    """Every finding in every script, plus script ids used twice."""
    problems: list[Problem] = []
    first: dict[str, Script] = {}
    for script in scripts:
        if script.id in first:
            problems.append(Problem(script.where.file, script.where.line, (
                f"script id {script.id!r} is already used by {first[script.id].where}; give each script its own id"
            )))
        else:
            first[script.id] = script
        problems.extend(check_script(script, engine=engine, actions=actions, objects=objects))
    return problems


def load_scripts(
    paths: Iterable[Path | str],
    *,
    engine: SyntaxChecker,
    actions: Collection[str] | None,
    objects: Mapping[str, Collection[str]] | None,
) -> dict[str, Script]:
    """Read and check every script under ``paths`` (files, or folders of ``*.xml``); scripts by id.

    Raises:
        ScriptDefinitionError: every problem found, reading or checking, each as file:line.
    """
    scripts, problems = read_scripts(paths)
    if not problems:
        problems = check_scripts(scripts, engine=engine, actions=actions, objects=objects)
    if problems:
        raise ScriptDefinitionError(problems)
    return {script.id: script for script in scripts}


def application_actions(app: Any) -> dict[str, Any]:
    """The actions the plugins of ``app`` register (``register_actions``), by name, without starting it.

    Plugins are asked in plugin order, so a later plugin's action replaces a
    built-in one of the same name, as in the running application.
    """
    from caruso.plugins import call_each

    found: dict[str, Any] = {}
    for _plugin, definitions in call_each(app.plugin_manager.hook.register_actions, app=app):
        found.update((definition.name, definition) for definition in definitions)
    return found


def application_objects(app: Any) -> dict[str, frozenset[str]]:
    """Business-object name -> the attributes a binding may match on, read from ``app``'s
    model files without starting anything (as ``caruso check`` does).

    The attributes are the model's attributes, references, collections and the
    references' key attributes (``customer_id``). Problems in the models
    themselves are ``caruso check``'s to report; objects that resolve are kept.
    """
    from caruso.bom.service import resolved_models

    resolved = resolved_models(app)
    return {
        name: frozenset(
            [*found.columns, *(r.name for r in found.definition.references),
             *(c.name for c in found.definition.collections)]
        )
        for name, found in resolved.items()
    }


def in_file_order(script: Script, problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` of ``script`` sorted as a reader meets them: the script's file, then its
    includes in the order merged; by line within a file (stable, so one line's findings keep
    their order)."""
    order = {file: index for index, file in enumerate([script.where.file, *script.includes])}
    return sorted(problems, key=lambda p: (order.get(p.file or "", len(order)), p.line or 0))


class _Checker:
    """One script's findings: the whole script first, then step by step, then the flow."""

    def __init__(self, script: Script, engine: SyntaxChecker, actions: Collection[str] | None,
                 objects: Mapping[str, Collection[str]] | None):
        self.script = script
        self.engine = engine
        self.actions = None if actions is None else frozenset(actions)
        self.objects = objects
        self.known_targets = set(script.steps) | set(script.exits)
        self.problems: list[Problem] = []
        self._parsed: dict[tuple[str, str], str | None] = {}

    def run(self) -> list[Problem]:
        self._start()
        self._duplicate_steps()
        self._bindings()
        self._names()
        for step in self.script.steps.values():
            self._step(step)
        if not self.script.fragment and self.script.start in self.script.steps:
            self._unreachable()  # from an unknown start everything would be: one mistake, one finding
        self._no_way_out()
        return in_file_order(self.script, self.problems)

    # --- the whole script -------------------------------------------------

    def _start(self) -> None:
        start = self.script.start
        if start not in self.script.steps:
            what = f"start {start!r} is no step of the script" if start else "the script has no steps"
            self._add(self.script.where, what + did_you_mean(start, self.script.steps))

    def _duplicate_steps(self) -> None:
        for step in self.script.duplicates:
            first = self.script.steps[step.id]
            self._add(step.where, f"step id {step.id!r} is already used at {first.where}; give each step its own id")

    def _bindings(self) -> None:
        seen: dict[str, Where] = {}
        for binding in self.script.bindings:
            label = f"binding {binding.name!r}"
            if binding.name in seen:
                self._add(binding.where, f"{label}: the name is already bound at {seen[binding.name]}")
            seen.setdefault(binding.name, binding.where)
            if binding.key is not None:
                self._expression(binding.key, VALUE, f"{label}: key")
            for attribute, expr in binding.match.items():
                self._expression(expr, VALUE, f"{label}: match {attribute!r}")
            if self.objects is None:
                continue
            if binding.object not in self.objects:
                self._add(binding.where, f"{label}: unknown business object {binding.object!r}"
                          + (did_you_mean(binding.object, self.objects) or _known(self.objects)))
                continue
            attributes = self.objects[binding.object]
            for attribute, expr in binding.match.items():
                if attribute not in attributes:
                    self._add(expr.where, f"{label}: {binding.object} has no attribute {attribute!r}"
                              + (did_you_mean(attribute, attributes) or _known(attributes)))

    def _unreachable(self) -> None:
        reached = self._reachable_from(self.script.start)
        for step in self.script.steps.values():
            if step.id not in reached:
                self._add(step.where, f"step {step.id!r} is never reached: no <go> or on-error from the"
                          f" start {self.script.start!r} leads to it")

    def _no_way_out(self) -> None:
        """Steps from which no end (or exit of a fragment) can be reached, whatever the answers."""
        leads_to: dict[str, list[str]] = {s.id: [t for t, _, _ in successors(s)] for s in self.script.steps.values()}
        came_from: dict[str, list[str]] = {}
        for source, targets in leads_to.items():
            for target in targets:
                came_from.setdefault(target, []).append(source)
        # Unknown targets are reported already; counting them as ways out keeps one mistake one finding.
        unknown = {t for targets in leads_to.values() for t in targets if t not in self.known_targets}
        done = {s.id for s in self.script.steps.values() if isinstance(s, End)} | set(self.script.exits) | unknown
        pending = list(done)
        while pending:
            for source in came_from.get(pending.pop(), ()):
                if source not in done:
                    done.add(source)
                    pending.append(source)
        for step in self.script.steps.values():
            if step.id in done:
                continue
            if not leads_to[step.id]:
                self._add(step.where, f"step {step.id!r} has no <go>: the dialogue cannot go on after it;"
                          " add a <go to=...> (or make it an <end>)")
            else:
                self._add(step.where, f"step {step.id!r} has no way out: every path from it loops without"
                          " reaching an <end>")

    def _reachable_from(self, start: str) -> set[str]:
        reached: set[str] = set()
        pending = [start]
        while pending:
            step_id = pending.pop()
            if step_id in reached or step_id not in self.script.steps:
                continue
            reached.add(step_id)
            pending.extend(target for target, _, _ in successors(self.script.steps[step_id]))
        return reached

    # --- one step ---------------------------------------------------------

    def _step(self, step: Step) -> None:
        label = f"step {step.id!r}"
        if step.prompt is not None:
            self._prompt(step.prompt, f"{label}: prompt")
        for action in step.on_enter:
            self._action(action, label)
        for target, how, where in successors(step):
            if target not in self.known_targets:
                via = f"on-error of action {how[len('error: '):]!r}" if how.startswith("error: ") else "<go>"
                self._add(where, f"{label}: {via} leads to {target!r}, which is no step of the script"
                          + did_you_mean(target, self.known_targets))
        self._transitions(step, label)
        if isinstance(step, Question):
            _QuestionChecker(self, step, label).run()

    def _transitions(self, step: Step, label: str) -> None:
        """Conditions parse; the last <go> catches every case; nothing hides behind an unconditional <go>."""
        transitions = getattr(step, "transitions", ())
        fallback = None
        for transition in transitions:
            if fallback is not None:
                self._add(transition.where, f"{label}: <go to={transition.target!r}> is never taken: the <go"
                          f" to={fallback.target!r}> before it has no condition")
            if transition.condition is not None:
                self._expression(transition.condition, CONDITION, f"{label}: <go to={transition.target!r}> if")
            elif fallback is None:
                fallback = transition
            for action in transition.actions:
                self._action(action, label)
        if transitions and fallback is None:
            self._add(transitions[-1].where, f"{label}: every <go> has a condition, so when none holds the"
                      " session stops with an error; make the last one a <go> without if")

    def _names(self) -> None:
        """Variables and bindings must not take the names the interpreter provides itself."""
        for binding in self.script.bindings:
            if binding.name in RESERVED_NAMES:
                self._add(binding.where, f"binding {binding.name!r}: the name is taken by the interpreter"
                          f" ({', '.join(sorted(RESERVED_NAMES))}); choose another")
        for step in self.script.steps.values():
            if isinstance(step, Question) and step.variable in RESERVED_NAMES:
                self._add(step.where, f"step {step.id!r}: variable {step.variable!r} is taken by the interpreter"
                          f" ({', '.join(sorted(RESERVED_NAMES))}); give the question a variable=\"...\"")

    def _action(self, action: ActionCall, label: str) -> None:
        what = f"{label}: action {action.name!r}"
        if self.actions is not None and action.name not in self.actions:
            self._add(action.where, f"{what} is not registered"
                      + (did_you_mean(action.name, self.actions) or _known(self.actions)))
        for name, expr in action.arguments.items():
            self._expression(expr, VALUE, f"{what}, argument {name!r}")

    def _prompt(self, prompt: Prompt, label: str) -> None:
        languages = self.script.languages
        for language, text in prompt.texts.items():
            if language not in languages:
                self._add(prompt.where, f"{label} in {language!r}, which is not a language of the script"
                          f" ({' '.join(languages)}){did_you_mean(language, languages)}")
            if not text:
                self._add(prompt.where, f"{label} in {language!r} is empty")
            else:
                self._expression(Expr(text, prompt.where), TEMPLATE, f"{label} in {language!r}")
        missing = [language for language in languages if language not in prompt.texts]
        if missing:
            self._add(prompt.where, f"{label} has no text in {', '.join(map(repr, missing))}"
                      f" (the script's languages: {' '.join(languages)})")

    # --- helpers ----------------------------------------------------------

    def _expression(self, expr: Expr, kind: str, label: str) -> None:
        key = (expr.source, kind)
        if key not in self._parsed:
            self._parsed[key] = self.engine.syntax_error(expr.source, kind)
        error = self._parsed[key]
        if error:
            shown = expr.source if len(expr.source) <= 80 else expr.source[:80] + "..."
            self._add(expr.where, f"{label} {shown!r}: {error}")

    def _add(self, where: Where, message: str) -> None:
        self.problems.append(Problem(where.file or None, where.line, message))



class _QuestionChecker:
    """The rules of one question: choices, keypad digits, bounds and pattern against its kind."""

    def __init__(self, checker: _Checker, question: Question, label: str):
        self.checker = checker
        self.question = question
        self.label = label

    def run(self) -> None:
        question = self.question
        if question.prefill is not None:
            self.checker._expression(question.prefill, VALUE, f"{self.label}: prefill")
        self._choices()
        self._bounds()
        self._pattern()

    def _choices(self) -> None:
        question = self.question
        takes_choices = question.kind in ("choice", "multichoice")
        if takes_choices and not question.choices:
            self._add(f"a {question.kind} question without <choice>s: add the answers it allows")
        elif question.choices and not takes_choices:
            self._add(f"kind {question.kind!r} offers no choices, so its <choice>s would never be shown;"
                      " use kind=\"choice\" or remove them")
        values: set[str] = set()
        keys: dict[str, str] = {}
        for choice in question.choices:
            if choice.value in values:
                self._add(f"two choices have the value {choice.value!r}", choice.label.where)
            values.add(choice.value)
            self.checker._prompt(choice.label, f"{self.label}: label of choice {choice.value!r}")
            if choice.dtmf is None:
                continue
            if len(choice.dtmf) != 1 or choice.dtmf not in DTMF_KEYS:
                self._add(f"choice {choice.value!r}: dtmf {choice.dtmf!r} is not one keypad key (0-9, * or #)",
                          choice.label.where)
            elif choice.dtmf in keys:
                self._add(f"choices {keys[choice.dtmf]!r} and {choice.value!r} share the keypad key"
                          f" {choice.dtmf!r}; give each its own dtmf", choice.label.where)
            else:
                keys[choice.dtmf] = choice.value

    def _bounds(self) -> None:
        question = self.question
        written = {"min": question.minimum, "max": question.maximum}
        if all(v is None for v in written.values()):
            return
        if question.kind in ("choice", "yesno"):
            self._add(f"kind {question.kind!r} takes no min or max; remove them")
            return
        parsed = {}
        for name, text in written.items():
            if text is not None:
                value, expected = _bound(question.kind, text)
                if value is None:
                    self._add(f"{name} {text!r} is not {expected}, as a {question.kind} question needs")
                    return
                parsed[name] = value
        if len(parsed) == 2 and parsed["min"] > parsed["max"]:
            self._add(f"min {question.minimum} is greater than max {question.maximum}: no answer fits")
        count = len(question.choices)
        if question.kind == "multichoice" and question.choices and parsed.get("min", 0) > count:
            self._add(f"min {question.minimum} asks for more choices than the {count} offered")

    def _pattern(self) -> None:
        question = self.question
        if question.pattern is None:
            return
        if question.kind != "text":
            self._add(f"kind {question.kind!r} takes no pattern (only text answers are matched); remove it")
            return
        try:
            Pattern(question.pattern)
        except ValueError as exc:
            self._add(f"pattern {exc}")

    def _add(self, message: str, where: Where | None = None) -> None:
        self.checker._add(where or self.question.where, f"{self.label}: {message}")


def _bound(kind: str, text: str) -> tuple[object | None, str]:
    """A min/max parsed for ``kind`` (None when it does not fit), and what was expected."""
    if kind == "number":
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            return None, "a number"
        return (value if value.is_finite() else None), "a number"
    if kind == "date":
        try:
            return dt.date.fromisoformat(text.strip()), "an ISO date (2024-01-31)"
        except ValueError:
            return None, "an ISO date (2024-01-31)"
    expected = "a whole number of characters" if kind == "text" else "a whole number of choices"
    stripped = text.strip()
    return (int(stripped) if stripped.isdigit() else None), expected


def _known(names: Iterable[str]) -> str:
    names = sorted(names)
    if not names:
        return "; none are known"
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"; known: {shown}"
