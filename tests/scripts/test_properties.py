"""Generated scripts, expressions and answers: the engine raises nothing but its own documented errors.

Hypothesis builds small scripts straight from the model (steps of every
kind, transitions to any step - existing or not - with conditions from a
mix of sound, failing and hostile expressions, actions with odd arguments),
then drives sessions with arbitrary answers, back and resume. Whatever
happens, every exception is a ``CarusoError``, and the stored form of the
session always reads back to the same state.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caruso.clock import ManualClock
from caruso.errors import CarusoError
from caruso.services.scripts.actions import BUILTIN_ACTIONS
from caruso.services.scripts.expressions import ExpressionEngine
from caruso.services.scripts.interpreter import Interpreter
from caruso.services.scripts.model import (
    MODES,
    QUESTION_KINDS,
    ActionCall,
    Choice,
    End,
    Expr,
    Info,
    Prompt,
    Question,
    Script,
    Transition,
    Where,
)
from caruso.services.scripts.state import SessionState

ENGINE = ExpressionEngine()
ACTIONS = {a.name: a for a in BUILTIN_ACTIONS}
WHERE = Where("generated.xml", 1)
IDS = ("a", "b", "c", "d", "e", "f")

EXPRESSIONS = st.sampled_from([
    "true", "false", "a", "b == 'x'", "c > 3", "a + 1", "1 / 0", "answers.a is defined",
    "context.queue == 'vip'", "now.year > 2000", "''.__class__", "10 ** 100000", "'x' * 10**9",
    "range(10**9) | list", "session.mode == 'ivr'", "error.message", "{'k': b}", "[a, b, c]",
    "customer.name", "a | length > 2", "not a", "e",
]) | st.text(max_size=30)
TEMPLATES = st.sampled_from([
    "Plain text", "Hello {{ a }}", "{{ b | upper }}", "{% for i in range(3) %}{{ i }}{% endfor %}",
    "{{ ''.__class__.__mro__ }}", "{{ a.b.c }}", "{{ 'x' * 10**8 }}", "{% if c %}yes{% endif %}",
]) | st.text(max_size=30)
ANSWERS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["1", "2", "9", "yes", "no", "gas", "2026-02-03", "12,5", "1e999", "x, y"]),
    st.lists(st.sampled_from(["x", "y", "z", "1"]), max_size=3), st.dates(min_value=date(1900, 1, 1)),
)


def expressions():
    return st.builds(lambda source: Expr(source, WHERE), EXPRESSIONS)


@st.composite
def actions(draw):
    name = draw(st.sampled_from(["set", "transfer", "escalate", "callback", "note", "email", "call", "nope"]))
    names = draw(st.lists(st.sampled_from(["queue", "text", "x", "answers", "hours", "minutes", "at", "into"]),
                          max_size=3, unique=True))
    arguments = {n: draw(expressions()) for n in names}
    on_error = draw(st.none() | st.sampled_from(IDS))
    return ActionCall(name, arguments, on_error, WHERE)


@st.composite
def transitions(draw):
    found = []
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(IDS + ("missing",)))
        condition = draw(st.none() | expressions())
        found.append(Transition(target, condition, tuple(draw(st.lists(actions(), max_size=2))), WHERE))
    return tuple(found)


@st.composite
def steps(draw, step_id: str):
    prompt = Prompt({"en": draw(TEMPLATES)}, WHERE)
    on_enter = tuple(draw(st.lists(actions(), max_size=1)))
    modes = tuple(draw(st.lists(st.sampled_from(MODES), min_size=1, max_size=3, unique=True)))
    shape = draw(st.sampled_from(("question", "question", "info", "end")))
    if shape == "end":
        return End(step_id, "done", prompt, on_enter, WHERE)
    if shape == "info":
        return Info(step_id, prompt, modes, on_enter, draw(transitions()), WHERE)
    kind = draw(st.sampled_from(QUESTION_KINDS))
    choices = ()
    if "choice" in kind:
        values = draw(st.lists(st.sampled_from(["x", "y", "z", "1"]), min_size=0, max_size=3, unique=True))
        choices = tuple(Choice(v, Prompt({"en": v}, WHERE), draw(st.none() | st.sampled_from("0123456789*#")))
                        for v in values)
    bound = st.none() | st.sampled_from(["0", "3", "10", "2026-01-01", "x", "-5"])
    return Question(
        step_id, kind, prompt, step_id, required=draw(st.booleans()), minimum=draw(bound), maximum=draw(bound),
        pattern=draw(st.none() | st.sampled_from(["[a-z]+", "(", "\\d{2}"])), choices=choices,
        prefill=draw(st.none() | expressions()), confirm=draw(st.booleans()), modes=modes, on_enter=on_enter,
        transitions=draw(transitions()), where=WHERE,
    )


@st.composite
def scripts(draw):
    count = draw(st.integers(1, len(IDS)))
    chosen = {step_id: draw(steps(step_id)) for step_id in IDS[:count]}
    return Script("generated", "Generated", "1", ("en",), draw(st.sampled_from(IDS[:count] + ("missing",))),
                  chosen, where=WHERE)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("answer"), ANSWERS),
        st.tuples(st.just("back"), st.none()),
        st.tuples(st.just("resume"), st.sampled_from(MODES)),
    ),
    max_size=12,
)


KNOWN = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.dates(),
                  st.sampled_from(["1", "yes", "gas", "2026-02-03", "x, y"]))


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=scripts(), mode=st.sampled_from(MODES), known=st.dictionaries(st.sampled_from(IDS), KNOWN),
       operations=OPERATIONS)
def test_generated_scripts_and_answers_raise_only_caruso_errors(script, mode, known, operations):
    """Any script, answers, back and resume: only CarusoErrors, and the state always round-trips."""
    try:
        interpreter = Interpreter(script, engine=ENGINE, actions=ACTIONS, clock=ManualClock(), max_silent_steps=30)
        live = interpreter.create("s1", mode=mode, context={"queue": "vip"}, known=known)
        interpreter.enter(live)
    except CarusoError:
        return
    for operation, argument in operations:
        try:
            if operation == "answer":
                interpreter.answer(live, argument)
            elif operation == "back":
                interpreter.back(live)
            else:
                interpreter.resume(live, mode=argument)
            interpreter.view(live)
        except CarusoError:
            pass
        assert live.state == SessionState.from_json(live.state.to_json())
