"""A dialogue script as the engine sees it: the parsed, include-resolved form of one XML file.

The reader (``reader.py``) builds these from ``dialogue.dtd`` files; the
checker, the graph exporter and the interpreter only ever see these classes,
never XML. Every element keeps the file and line it came from, so any finding
or runtime error can point at ``file:line``.

Expressions and templates stay *source text* here (``Expr``, ``Prompt``): the
expression engine (``expressions.py``) compiles them once per script load.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

QUESTION_KINDS = ("text", "number", "date", "choice", "multichoice", "yesno")
MODES = ("agent", "self-service", "ivr")


@attrs.frozen
class Where:
    """The origin of an element: ``file:line``, for messages."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@attrs.frozen
class Expr:
    """A sandboxed jinja2 expression as written (a condition, a value)."""

    source: str
    where: Where


@attrs.frozen
class Prompt:
    """Text shown or spoken, per language; each text is a jinja2 template (sandboxed).

    ``texts`` maps a language code ("nl", "en") to template source. The first
    language of the script is the fallback when the session's language is missing.
    """

    texts: Mapping[str, str]
    where: Where


@attrs.frozen
class ActionCall:
    """An action to run: its registered name and arguments.

    Each argument value is an ``Expr`` (evaluated in the session's namespace
    when the action runs). ``on_error`` names the step to go to when the action
    fails; None stops the session with the error.
    """

    name: str
    arguments: Mapping[str, Expr]
    on_error: str | None
    where: Where


@attrs.frozen
class Transition:
    """Where to go next: the first transition whose condition holds (or has none) is taken."""

    target: str
    condition: Expr | None
    actions: tuple[ActionCall, ...]
    where: Where


@attrs.frozen
class Choice:
    """One allowed answer of a choice question: the stored value, its label, its keypad digit."""

    value: str
    label: Prompt
    dtmf: str | None


@attrs.frozen
class Question:
    """Asks for an answer, stored under ``variable`` (default: the step id).

    ``prefill`` is an expression for an answer already known (customer data,
    an earlier session); the question is then skipped unless ``confirm``.
    """

    id: str
    kind: str  # one of QUESTION_KINDS
    prompt: Prompt
    variable: str
    required: bool = True
    minimum: str | None = None  # number or ISO date, as written; checked by kind
    maximum: str | None = None
    pattern: str | None = None
    choices: tuple[Choice, ...] = ()
    prefill: Expr | None = None
    confirm: bool = False
    reuse: bool = True  # may the customer's answer from a recent session stand in for asking?
    modes: tuple[str, ...] = MODES  # where the step applies; others skip it
    on_enter: tuple[ActionCall, ...] = ()
    transitions: tuple[Transition, ...] = ()
    where: Where = Where("", None)


@attrs.frozen
class Info:
    """Information shown or read to the customer; moves on without an answer."""

    id: str
    prompt: Prompt
    modes: tuple[str, ...] = MODES
    on_enter: tuple[ActionCall, ...] = ()
    transitions: tuple[Transition, ...] = ()
    where: Where = Where("", None)


@attrs.frozen
class End:
    """The end of the dialogue, with its outcome (e.g. "resolved", "escalated")."""

    id: str
    outcome: str
    prompt: Prompt | None = None
    on_enter: tuple[ActionCall, ...] = ()
    where: Where = Where("", None)


Step = Question | Info | End


@attrs.frozen
class Binding:
    """Business objects loaded into the script's namespace under ``name`` when a session starts.

    ``object`` is a business-object name of the bom service; ``key`` an
    expression giving the primary key (e.g. ``context.customer_id``), or
    ``match`` a mapping attribute -> expression to select by; ``many`` loads a
    list (a customer's contracts).
    """

    name: str
    object: str
    key: Expr | None
    match: Mapping[str, Expr]
    many: bool
    where: Where


@attrs.frozen
class Script:
    """One dialogue script, includes already merged in.

    A *fragment* (shared steps that scripts include, read on its own for
    ``caruso script check``) has ``fragment`` set; its ``exits`` are the step
    ids the including script must provide. Fragments are never started.

    ``duplicates`` keeps the steps whose id was already taken (``steps`` can
    hold only one per id) so the checker can point at both.
    """

    id: str
    title: str
    version: str
    languages: tuple[str, ...]
    start: str
    steps: Mapping[str, Step]
    bindings: tuple[Binding, ...] = ()
    includes: tuple[str, ...] = ()  # files merged in, for messages and reloading
    where: Where = Where("", None)
    description: str = ""
    fragment: bool = False
    exits: tuple[str, ...] = ()
    duplicates: tuple[Step, ...] = ()

    @property
    def language(self) -> str:
        """The default language: the first one listed."""
        return self.languages[0]


def default_variable(step_id: str) -> str:
    """The variable a question's answer is stored under when it names none: ``ask-meter`` -> ``ask_meter``.

    Step ids may contain ``-`` and ``.`` (readable in XML); expressions need
    identifiers, so the answer goes under the id with those written as ``_``.
    """
    return step_id.replace("-", "_").replace(".", "_")


def successors(step: Step) -> list[tuple[str, str, Where]]:
    """Every step ``step`` can lead to, as (target, how, where): its transitions
    (how = the condition, "" when unconditional) and the ``on-error`` targets of
    its actions (how = "error: ACTION"), in file order."""
    found: list[tuple[str, str, Where]] = []
    for action in step.on_enter:
        if action.on_error:
            found.append((action.on_error, f"error: {action.name}", action.where))
    for transition in getattr(step, "transitions", ()):
        found.append((transition.target, transition.condition.source if transition.condition else "",
                      transition.where))
        for action in transition.actions:
            if action.on_error:
                found.append((action.on_error, f"error: {action.name}", action.where))
    return found
