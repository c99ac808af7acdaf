"""The dialogue interpreter: a session state machine over one script.

An ``Interpreter`` is built once per script (prompts, conditions and action
arguments compiled by the expression engine, answer rules prepared), then
drives any number of sessions, each a ``SessionState`` plus the namespace its
expressions see::

    interpreter = Interpreter(script, engine=ExpressionEngine())
    live = interpreter.start("s-1", mode="agent", context={"channel": "phone"})
    view = interpreter.view(live)          # the first step that asks something
    reason = interpreter.answer(live, "gas")
    view = interpreter.view(live, error=reason)   # same step with the reason when refused

What expressions see (the namespace):

- every answer under its variable, and all of them as ``answers``;
- every variable an action set (``set``, ``call ... into``);
- ``context``: the contact's context (``channel``, ``queue``, ``customer_id``, ...);
- the business objects of the script's ``<bind>``s, under their names;
- ``session``: ``id``, ``script``, ``mode``, ``language``, ``channel``;
- ``now``: the application clock's time (timezone-aware);
- ``error``: after an action failed and its ``on-error`` step was taken,
  ``{"action", "step", "message"}``.

Moving through a script, a session stops only where a person is needed: at a
question still unanswered (or answered before going back, shown as default)
and at an information item. It passes on its own through steps that do not
apply in the session's mode, and through questions whose answer is known
(``known`` answers given at start, or the question's ``prefill``) unless the
question says ``confirm="yes"``, as VoiceXML's form interpretation skips
filled fields. More than ``max_silent_steps`` such steps in one move is a
loop: the session fails with ``ScriptLoopError``.

Any error while moving (an action without ``on-error`` failing, a condition
that does not evaluate, a loop) marks the session ``failed`` with the message
before it is raised, so whoever stores the state records the failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from caruso.clock import Clock, SystemClock
from caruso.errors import ActionFailed, CarusoError, ScriptError, ScriptLoopError, did_you_mean
from caruso.services.scripts.actions import RESERVED_NAMES, ActionContext, ActionDefinition
from caruso.services.scripts.answers import AnswerRule, InvalidAnswer, ivr_digits
from caruso.services.scripts.model import (
    MODES,
    ActionCall,
    Binding,
    End,
    Expr,
    Info,
    Prompt,
    Question,
    Script,
    Step,
    Where,
)
from caruso.services.scripts.state import ACTIVE, ENDED, FAILED, SessionState, plain_value
from caruso.services.scripts.views import ChoiceView, SessionView

__all__ = ["DEFAULT_MAX_SILENT_STEPS", "MAX_BACK_STEPS", "ExpressionCompiler", "Interpreter", "LiveSession", "ObjectLoader"]

DEFAULT_MAX_SILENT_STEPS = 1000
"""Steps one move may pass without asking anything before it counts as a loop."""

MAX_BACK_STEPS = 50
"""How many steps ``back`` can retrace. A conversation is rarely rewound further, and the
bound keeps a long script's stored session under 4 KB (answers are kept regardless)."""

_INFO, _END = "info", "end"
_MISSING = object()


class ExpressionCompiler(Protocol):
    """What the interpreter needs of the expression engine (``expressions.ExpressionEngine``)."""

    def compile_condition(self, expr: Expr) -> Callable[[Mapping[str, Any]], bool]: ...

    def compile_value(self, expr: Expr) -> Callable[[Mapping[str, Any]], Any]: ...

    def compile_template(self, source: str, where: Where) -> Callable[[Mapping[str, Any]], str]: ...


ObjectLoader = Callable[[Binding, Any, Mapping[str, Any]], Any]
"""Loads a ``<bind>``: called with the binding, the evaluated key (or None) and the
evaluated match values; returns what expressions see under the binding's name
(an object, or a list when ``many``)."""

RecordActivity = Callable[[SessionState, str, str], bool]


class LiveSession:
    """A session being worked on: its state and the namespace its expressions read."""

    __slots__ = ("namespace", "state")

    def __init__(self, state: SessionState, namespace: dict[str, Any]):
        self.state = state
        self.namespace = namespace


class _Action:
    __slots__ = ("arguments", "definition", "name", "on_error", "where")

    def __init__(self, call: ActionCall, definition: ActionDefinition | None, compile_value: Callable):
        self.name = call.name
        self.definition = definition
        self.on_error = call.on_error
        self.where = call.where
        self.arguments = tuple((name, compile_value(expr)) for name, expr in call.arguments.items())


class _Go:
    __slots__ = ("actions", "condition", "target")

    def __init__(self, target: str, condition: Callable | None, actions: tuple[_Action, ...]):
        self.target = target
        self.condition = condition
        self.actions = actions


class _Step:
    """A step prepared for running: everything the hot path needs, nothing it must look up."""

    __slots__ = (
        "applies", "choice_views", "choices", "confirm", "digits", "id", "kind", "on_enter", "outcome",
        "plain_labels", "prefill", "prompts", "question", "rule", "transitions", "variable", "where",
    )

    def __init__(self, step: Step):
        self.id = step.id
        self.where = step.where
        self.question = step if isinstance(step, Question) else None
        self.kind = step.kind if isinstance(step, Question) else _INFO if isinstance(step, Info) else _END
        self.applies = frozenset(getattr(step, "modes", ()) or ()) if not isinstance(step, End) else None
        self.outcome = step.outcome if isinstance(step, End) else None
        self.variable = step.variable if isinstance(step, Question) else None
        self.confirm = bool(getattr(step, "confirm", False))
        self.rule = AnswerRule.for_question(step) if isinstance(step, Question) else None
        self.digits = {v: d for d, v in ivr_digits(step).items()} if isinstance(step, Question) else {}
        self.prompts: dict[str, Callable] = {}
        self.choices: tuple[tuple[str, dict[str, Callable], str | None], ...] = ()
        self.plain_labels = False
        self.choice_views: dict[tuple[str, bool], tuple[ChoiceView, ...]] = {}
        self.prefill: Callable | None = None
        self.on_enter: tuple[_Action, ...] = ()
        self.transitions: tuple[_Go, ...] = ()


class Interpreter:
    """Runs sessions of one script; build it once, reuse it for every session.

    Args:
        script: the script, read and checked (``reader``, ``check``).
        engine: compiles conditions, values and templates (the expression engine).
        actions: the registered actions by name; an action the script calls
            but nobody registered fails when it runs.
        clock: the time ``now`` gives and requests are stamped with.
        services: the service manager, for actions (None outside an application).
        bom: the ``bom`` service, for actions (None without one).
        objects: loads the script's ``<bind>``s; None leaves them empty
            (None, or an empty list for ``many``).
        activities: records an activity on a session's customer (the ``note`` action).
        max_silent_steps: steps one move may pass without asking before it is a loop.
    """

    def __init__(
        self,
        script: Script,
        *,
        engine: ExpressionCompiler,
        actions: Mapping[str, ActionDefinition] | None = None,
        clock: Clock | None = None,
        services: Any = None,
        bom: Any = None,
        objects: ObjectLoader | None = None,
        activities: RecordActivity | None = None,
        max_silent_steps: int = DEFAULT_MAX_SILENT_STEPS,
    ):
        self.script = script
        self.actions = dict(actions or {})
        self.clock = clock or SystemClock()
        self.services = services
        self.bom = bom
        self.objects = objects
        self.activities = activities
        self.max_silent_steps = max_silent_steps
        self._engine = engine
        self._templates: dict[str, Callable] = {}
        self._bindings = tuple(
            (b, engine.compile_value(b.key) if b.key is not None else None,
             tuple((name, engine.compile_value(e)) for name, e in b.match.items()))
            for b in script.bindings
        )
        self.steps: dict[str, _Step] = {sid: self._compile(step) for sid, step in script.steps.items()}

    # --- compiling --------------------------------------------------------------

    def _compile(self, step: Step) -> _Step:
        engine = self._engine
        compiled = _Step(step)
        if step.prompt is not None:
            compiled.prompts = self._prompt(step.prompt)
        compiled.on_enter = tuple(self._action(a) for a in step.on_enter)
        compiled.transitions = tuple(
            _Go(t.target, engine.compile_condition(t.condition) if t.condition is not None else None,
                tuple(self._action(a) for a in t.actions))
            for t in getattr(step, "transitions", ())
        )
        if isinstance(step, Question):
            compiled.choices = tuple((c.value, self._prompt(c.label), c.dtmf) for c in step.choices)
            compiled.plain_labels = all(
                type(f) is _Constant for _value, labels, _dtmf in compiled.choices for f in labels.values()
            )
            if step.prefill is not None:
                compiled.prefill = engine.compile_value(step.prefill)
        return compiled

    def _prompt(self, prompt: Prompt) -> dict[str, Callable]:
        rendered = {}
        for language, text in prompt.texts.items():
            # The same text (a label "Yes", a shared prompt) compiles once per script.
            function = self._templates.get(text)
            if function is None:
                if _is_plain(text):
                    function = _Constant(text)  # most prompts: no need to start a template at all
                else:
                    function = self._engine.compile_template(text, prompt.where)
                self._templates[text] = function
            rendered[language] = function
        return rendered

    def _action(self, call: ActionCall) -> _Action:
        return _Action(call, self.actions.get(call.name), self._engine.compile_value)

    # --- sessions ---------------------------------------------------------------

    def start(self, session_id: str, **options: Any) -> LiveSession:
        """A new session, moved to the first step that needs a person (or to its end):
        ``create`` (which takes the same options) then ``enter``."""
        live = self.create(session_id, **options)
        self.enter(live)
        return live

    def create(
        self,
        session_id: str,
        *,
        mode: str = "agent",
        language: str | None = None,
        context: Mapping[str, Any] | None = None,
        known: Mapping[str, Any] | None = None,
    ) -> LiveSession:
        """A new session on the start step, not entered yet (its objects are loaded).

        Raises:
            ValueError: an unknown mode.
            TypeError: the context or a known answer is not plain data (see ``plain_value``).
            ScriptError: the script is a fragment, which cannot be started.
        """
        if self.script.fragment:
            raise ScriptError(
                f"{self.script.where}: {self.script.id!r} is a fragment for other scripts to include;"
                " it cannot be started"
            )
        _check_mode(mode)
        state = SessionState(
            id=session_id, script=self.script.id, version=self.script.version, mode=mode,
            language=self._language(language), step=self.script.start,
            context=plain_value(dict(context or {})), known=plain_value(dict(known or {})),
        )
        return self.attach(state)

    def enter(self, live: LiveSession) -> None:
        """Enter the start step of a created session and move on to the first one that asks.

        Raises:
            ScriptError: moving failed; the session is marked failed first.
        """
        self._guarded(live, self._move, live, self.script.start)

    def attach(self, state: SessionState) -> LiveSession:
        """A stored session made live again: its namespace rebuilt, its objects loaded anew."""
        namespace: dict[str, Any] = dict(state.variables)
        namespace.update(state.answers)
        live = LiveSession(state, namespace)
        self._refresh(live)
        for binding, key, match in self._bindings:
            namespace[binding.name] = self._load(binding, key, match, namespace)
        return live

    def answer(self, live: LiveSession, value: Any) -> str | None:
        """Answer the current step; None when accepted (the session moved on), else the
        reason it was refused (the session stays).

        An information item takes any value (None is usual) as "read, go on".

        Raises:
            ScriptError: the session is not active; or moving on failed
                (``ActionFailed``, ``ScriptLoopError``, ``ExpressionError``),
                the session then being marked failed.
        """
        state = live.state
        step = self._current(state)
        if step.rule is not None:
            try:
                value = step.rule.parse(value, state.mode == "ivr")
            except InvalidAnswer as refused:
                return refused.reason
            variable = step.variable
            state.answers[variable] = value
            if variable not in RESERVED_NAMES:
                live.namespace[variable] = value
            if variable in state.prefilled:
                state.prefilled.remove(variable)
        state.trail.append(step.id)
        if len(state.trail) > MAX_BACK_STEPS:
            del state.trail[0]  # bounds the stored state of long scripts
        live.namespace["now"] = self.clock.now()
        self._guarded(live, self._leave, live, step)
        return None

    def back(self, live: LiveSession) -> bool:
        """Return to the previous step that asked something, answers kept; False at the first.

        Actions already run are not undone: they happened.
        """
        state = live.state
        self._current(state)
        if not state.trail:
            return False
        state.step = state.trail.pop()
        return True

    def resume(
        self, live: LiveSession, *, mode: str | None = None, channel: str | None = None,
        language: str | None = None,
    ) -> None:
        """Continue the session in another mode, channel or language (an agent takes over).

        When the current step does not apply in the new mode, the session moves on from it.
        """
        state = live.state
        if mode is not None:
            _check_mode(mode)
            state.mode = mode
        if channel is not None:
            state.context["channel"] = channel
        if language is not None:
            state.language = self._language(language)
        self._refresh(live)
        if state.status != ACTIVE:
            return
        step = self.steps.get(state.step)
        if step is not None and step.applies is not None and state.mode not in step.applies:
            self._guarded(live, self._leave, live, step)

    def view(self, live: LiveSession, error: str | None = None) -> SessionView:
        """The current step rendered for the session's mode and language.

        Raises:
            ExpressionError: a prompt or label does not render (the session is unchanged).
        """
        state = live.state
        namespace = live.namespace
        step = self.steps.get(state.step)
        if step is None:
            raise self._unknown_step(state.step)
        language = state.language
        value = None
        confirm = False
        choices: tuple[ChoiceView, ...] = ()
        question = step.question
        if question is not None:
            ivr = state.mode == "ivr"
            value = state.answers.get(step.variable, _MISSING)
            if value is _MISSING:
                value = self._known(live, step)
                confirm = value is not _MISSING
                value = None if value is _MISSING else value
            if step.choices:
                choices = self._choices(step, language, ivr, namespace)
            elif step.kind == "yesno":
                choices = (ChoiceView("yes", "yes", "1" if ivr else None), ChoiceView("no", "no", "2" if ivr else None))
        return SessionView(
            session_id=state.id,
            script=state.script,
            step=step.id,
            kind=step.kind,
            prompt=self._render(step.prompts, language, namespace) if step.prompts else "",
            variable=step.variable,
            choices=choices,
            value=value,
            required=question.required if question is not None else False,
            minimum=question.minimum if question is not None else None,
            maximum=question.maximum if question is not None else None,
            confirm=confirm,
            error=error,
            status=state.status,
            outcome=state.outcome,
            mode=state.mode,
            language=language,
            channel=state.context.get("channel"),
            answers=dict(state.answers),
            prefilled=tuple(state.prefilled),
            requests=tuple(state.requests),
            can_go_back=bool(state.trail) and state.status == ACTIVE,
            customer=state.context.get("customer_id"),
        )

    # --- moving -----------------------------------------------------------------

    def _guarded(self, live: LiveSession, move: Callable, *args: Any) -> None:
        """Run a move; on any failure mark the session failed, then raise a Caruso error."""
        try:
            move(*args)
        except CarusoError as exc:
            _fail(live.state, str(exc))
            raise
        except Exception as exc:  # a bug below us; still never leave the session half-moved
            message = f"step {live.state.step!r} of script {self.script.id!r}: {type(exc).__name__}: {exc}"
            _fail(live.state, message)
            raise ScriptError(message) from exc

    def _leave(self, live: LiveSession, step: _Step) -> None:
        self._move(live, self._next(live, step))

    def _move(self, live: LiveSession, target: str) -> None:
        """Enter ``target`` and go on until a step needs a person or the script ends."""
        state = live.state
        mode = state.mode
        silent = 0
        passed: list[str] = []
        while True:
            step = self.steps.get(target)
            if step is None:
                raise self._unknown_step(target)
            if step.applies is not None and mode not in step.applies:
                target = self._next(live, step)
            else:
                state.step = target
                jump = self._run(live, step, step.on_enter) if step.on_enter else None
                if jump is not None:
                    target = jump
                elif step.kind == _END:
                    state.status = ENDED
                    state.outcome = step.outcome
                    state.trail.clear()  # nothing to go back to once ended; keeps the stored state small
                    return
                elif step.rule is None or step.variable in state.answers:
                    return
                else:
                    known = self._known(live, step)
                    if known is _MISSING or step.confirm:
                        return
                    variable = step.variable
                    state.answers[variable] = known
                    state.prefilled.append(variable)
                    if variable not in RESERVED_NAMES:
                        live.namespace[variable] = known
                    target = self._next(live, step)
            silent += 1
            passed.append(step.id)
            if silent > self.max_silent_steps:
                raise self._loop(passed)

    def _next(self, live: LiveSession, step: _Step) -> str:
        namespace = live.namespace
        for go in step.transitions:
            if go.condition is None or go.condition(namespace):
                if go.actions:
                    jump = self._run(live, step, go.actions)
                    if jump is not None:
                        return jump
                return go.target
        raise ScriptError(
            f"{step.where}: no <go> of step {step.id!r} applies to the answers given;"
            " add a <go> without a condition as the last one"
        )

    def _known(self, live: LiveSession, step: _Step) -> Any:
        """The answer known for a question without asking: given at start, or its prefill."""
        value = live.state.known.get(step.variable, _MISSING)
        if value is _MISSING and step.prefill is not None:
            value = step.prefill(live.namespace)
        if value is _MISSING or value is None:
            return _MISSING
        try:
            return step.rule.parse(value, False)
        except InvalidAnswer:
            return _MISSING  # known data that does not fit the question: ask instead

    def _run(self, live: LiveSession, step: _Step, actions: tuple[_Action, ...]) -> str | None:
        """Run actions in order; the ``on-error`` step of a failed one, else None.

        Raises:
            ActionFailed: an action failed without ``on-error``, naming what was done
                and what was not.
        """
        state = live.state
        namespace = live.namespace
        for index, action in enumerate(actions):
            try:
                self._call(live, step, action)
            except Exception as exc:
                message = str(exc) if isinstance(exc, CarusoError) else f"{type(exc).__name__}: {exc}"
                state.actions.append([step.id, action.name, message])
                if action.on_error is not None:
                    namespace["error"] = {"action": action.name, "step": step.id, "message": message}
                    return action.on_error
                done = tuple(a.name for a in actions[:index])
                not_run = tuple(a.name for a in actions[index + 1:])
                raise ActionFailed(
                    f"{action.where}: action {action.name!r} on step {step.id!r} failed: {message}"
                    + (f"; already done: {', '.join(done)}" if done else "")
                    + (f"; not run: {', '.join(not_run)}" if not_run else "")
                    + "; give the action an on-error step to continue the dialogue instead",
                    action=action.name, step=step.id, where=action.where, done=done, not_run=not_run,
                ) from exc
            state.actions.append([step.id, action.name, None])
        return None

    def _call(self, live: LiveSession, step: _Step, action: _Action) -> None:
        definition = action.definition
        if definition is None:
            raise ScriptError(f"no action {action.name!r} is registered{did_you_mean(action.name, self.actions)}")
        namespace = live.namespace
        arguments = {name: value(namespace) for name, value in action.arguments}
        problems = definition.argument_problems(arguments)
        if problems:
            raise ScriptError("; ".join(problems))
        context = ActionContext(
            state=live.state, namespace=namespace, step=step.id, where=action.where,
            services=self.services, bom=self.bom, clock=self.clock,
            user=live.state.context.get("agent"), activities=self.activities,
        )
        definition.function(context, **arguments)

    # --- helpers ----------------------------------------------------------------

    def _current(self, state: SessionState) -> _Step:
        if state.status != ACTIVE:
            how = f"with outcome {state.outcome!r}" if state.status == ENDED else f"with an error: {state.error}"
            raise ScriptError(f"session {state.id!r} of script {state.script!r} has ended {how}; start a new one")
        step = self.steps.get(state.step)
        if step is None:
            raise self._unknown_step(state.step)
        return step

    def _refresh(self, live: LiveSession) -> None:
        state = live.state
        namespace = live.namespace
        namespace["answers"] = state.answers
        namespace["context"] = state.context
        namespace["session"] = {
            "id": state.id, "script": state.script, "mode": state.mode,
            "language": state.language, "channel": state.context.get("channel"),
        }
        namespace["now"] = self.clock.now()

    def _load(self, binding: Binding, key: Callable | None, match: tuple, namespace: dict[str, Any]) -> Any:
        empty: Any = [] if binding.many else None
        if self.objects is None:
            return empty
        key_value = key(namespace) if key is not None else None
        match_values = {name: value(namespace) for name, value in match}
        if key is not None and key_value is None:
            return empty  # no customer in the context: nothing to load
        return self.objects(binding, key_value, match_values)

    def _choices(self, step: _Step, language: str, ivr: bool, namespace: dict[str, Any]) -> tuple[ChoiceView, ...]:
        key = (language, ivr)
        found = step.choice_views.get(key)
        if found is None:
            found = tuple(
                ChoiceView(choice, self._render(labels, language, namespace), step.digits.get(choice) if ivr else dtmf)
                for choice, labels, dtmf in step.choices
            )
            if step.plain_labels:  # labels without templates look the same every time
                step.choice_views[key] = found
        return found

    def _render(self, prompts: dict[str, Callable], language: str, namespace: dict[str, Any]) -> str:
        template = prompts.get(language) or prompts.get(self.script.language)
        if template is None:
            template = next(iter(prompts.values()))
        return template(namespace)

    def _language(self, language: str | None) -> str:
        # A language the script lacks is kept (the channel knows what the customer
        # speaks); its prompts fall back to the script's default language.
        return language or self.script.language

    def _unknown_step(self, step_id: str) -> ScriptError:
        return ScriptError(
            f"script {self.script.id!r} (version {self.script.version}) has no step {step_id!r}"
            f"{did_you_mean(step_id, self.steps)}; was the script changed while sessions ran on it?"
        )

    def _loop(self, passed: list[str]) -> ScriptLoopError:
        shown = " -> ".join(passed[-8:])
        return ScriptLoopError(
            f"script {self.script.id!r}: {len(passed)} steps passed without asking anything (... {shown});"
            " a <go> loops back without a question in between, or every question on the way is"
            " skipped: check the conditions of these steps",
            script=self.script.id, steps=tuple(passed),
        )


class _Constant:
    """A prompt without template syntax: rendering it is returning it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __call__(self, namespace: Mapping[str, Any]) -> str:
        return self.text


def _is_plain(text: str) -> bool:
    return "{{" not in text and "{%" not in text and "{#" not in text


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


def _fail(state: SessionState, message: str) -> None:
    state.status = FAILED
    state.error = message
