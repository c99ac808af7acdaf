"""The interpreter: moving through scripts, answers by kind, modes, back, known answers, failures."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal

import pytest

from caruso.clock import ManualClock
from caruso.errors import ActionFailed, ExpressionError, ScriptError, ScriptLoopError
from caruso.services.scripts.actions import BUILTIN_ACTIONS, ActionDefinition
from caruso.services.scripts.expressions import ExpressionEngine
from caruso.services.scripts.interpreter import MAX_BACK_STEPS, Interpreter
from caruso.services.scripts.reader import read_script
from caruso.services.scripts.state import SessionState

ENGINE = ExpressionEngine()
ACTIONS = {a.name: a for a in BUILTIN_ACTIONS}


def read(body: str, *, start: str = "a", languages: str = "en") -> object:
    """A script read from XML text (the steps inside <script>)."""
    text = (f'<script id="t" title="Test" languages="{languages}" start="{start}">\n'
            + textwrap.dedent(body).strip() + "\n</script>\n")
    script, problems = read_script(text.encode(), filename="t.xml")
    assert [] == [str(p) for p in problems]
    return script


def make(body: str, **options) -> Interpreter:
    """An interpreter for the script ``body`` with the built-in actions and a manual clock."""
    script_options = {k: options.pop(k) for k in ("start", "languages") if k in options}
    options.setdefault("actions", ACTIONS)
    options.setdefault("clock", ManualClock())
    return Interpreter(read(body, **script_options), engine=ENGINE, **options)


METER = """
<question id="a" kind="choice">
  <prompt>Gas or electricity, {{ context.name }}?</prompt>
  <choice value="gas"><label>Gas</label></choice>
  <choice value="electricity" dtmf="9"><label>Electricity</label></choice>
  <go to="b"/>
</question>
<question id="b" kind="number" min="0" max="99999">
  <prompt>Your {{ a }} reading?</prompt>
  <go to="high" if="b &gt; 5000"/>
  <go to="done"/>
</question>
<info id="high"><prompt>That is a lot.</prompt><go to="done"/></info>
<end id="done" outcome="resolved"><prompt>Thanks.</prompt></end>
"""


def test_start_shows_the_first_question_rendered():
    """The first view renders the prompt with the context and lists the choices."""
    interpreter = make(METER)
    live = interpreter.start("s1", context={"name": "Ada"})
    view = interpreter.view(live)
    assert ("a", "choice", "Gas or electricity, Ada?") == (view.step, view.kind, view.prompt)
    assert [("gas", "Gas", None), ("electricity", "Electricity", "9")] == [
        (c.value, c.label, c.dtmf) for c in view.choices]
    assert (True, False, "active") == (view.required, view.can_go_back, view.status)


def test_answers_move_through_to_the_end():
    """Valid answers move on; a condition picks the way; the end gives the outcome."""
    interpreter = make(METER)
    live = interpreter.start("s1")
    assert None is interpreter.answer(live, "gas")
    assert "Your gas reading?" == interpreter.view(live).prompt
    assert None is interpreter.answer(live, "6000")
    assert "high" == interpreter.view(live).step
    assert None is interpreter.answer(live, None)
    view = interpreter.view(live)
    assert ("done", "end", "ended", "resolved") == (view.step, view.kind, view.status, view.outcome)
    assert {"a": "gas", "b": 6000} == dict(view.answers)


@pytest.mark.parametrize(("value", "reason"), [
    ("lots", "expected a number, got 'lots'"),
    ("100000", "the number must be at most 99999"),
    ("-1", "the number must be at least 0"),
    (True, "expected a number, got yes/no"),
    ("", "an answer is required"),
])
def test_a_refused_answer_stays_with_the_reason(value, reason):
    """Answers of the wrong type or out of range return the reason; the session stays."""
    interpreter = make(METER)
    live = interpreter.start("s1")
    interpreter.answer(live, "gas")
    assert reason == interpreter.answer(live, value)
    view = interpreter.view(live, error=reason)
    assert ("b", reason, {"a": "gas"}) == (view.step, view.error, dict(view.answers))


def one_question(kind: str, attributes: str):
    """A started session of a one-question script (choices gas, water, power for choice kinds)."""
    choices = "".join(f'<choice value="{v}"><label>{v}</label></choice>' for v in ("gas", "water", "power"))
    interpreter = make(f"""
        <question id="a" kind="{kind}"{attributes}><prompt>?</prompt>{choices if "choice" in kind else ""}<go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    return interpreter, interpreter.start("s1")


@pytest.mark.parametrize(("kind", "attributes", "given", "expected"), [
    ("number", "", "12,5", 12.5),
    ("number", "", Decimal("7"), 7),
    ("date", ' min="2026-01-01"', "2026-02-03", date(2026, 2, 3)),
    ("yesno", "", "Ja", True),
    ("yesno", "", "no", False),
    ("text", ' pattern="[0-9]{4} ?[A-Z]{2}"', " 1234 AB ", "1234 AB"),
    ("choice", "", "GAS", "gas"),
    ("multichoice", ' max="2"', "gas, water", ["gas", "water"]),
])
def test_answers_are_stored_in_normal_form(kind, attributes, given, expected):
    """Each kind accepts what channels send and stores one normal form."""
    interpreter, live = one_question(kind, attributes)
    assert None is interpreter.answer(live, given)
    assert expected == live.state.answers["a"]


@pytest.mark.parametrize(("kind", "attributes", "given", "reason"), [
    ("date", ' max="2026-12-31"', "2027-01-01", "the date must be on or before 2026-12-31"),
    ("date", "", "31/01/2026", "expected a date as YYYY-MM-DD, got '31/01/2026'"),
    ("text", ' min="3"', "ab", "the answer must be at least 3 characters long"),
    ("text", ' pattern="[0-9]+"', "12a", "the answer does not have the expected form ([0-9]+)"),
    ("multichoice", ' min="2"', "gas", "choose at least 2"),
    ("choice", "", "coal", "choose one of: gas, water, power"),
    ("yesno", "", "maybe", "answer yes or no"),
    ("number", "", "1e400", "expected a number of reasonable size"),
    ("text", ' pattern="(a|aa)+"', "a" * 60 + "b", "the answer could not be checked against the expected form in time"),
])
def test_answers_out_of_bounds_are_refused(kind, attributes, given, reason):
    """Bounds, patterns and choices refuse answers with a reason for the person."""
    interpreter, live = one_question(kind, attributes)
    assert reason == interpreter.answer(live, given)


def test_a_huge_integer_answer_is_refused_not_converted():
    """An int too large to even print is refused as an answer, like a too-long number text."""
    interpreter, live = one_question("number", "")
    assert "expected a number of reasonable size" == interpreter.answer(live, 10**5000)


def test_ivr_mode_offers_and_takes_keypad_digits():
    """In IVR mode choices get digits (the script's, else 1, 2, ...), yes/no is 1/2."""
    interpreter = make("""
        <question id="a" kind="choice"><prompt>?</prompt>
          <choice value="gas"><label>Gas</label></choice>
          <choice value="power" dtmf="1"><label>Power</label></choice>
          <go to="b"/></question>
        <question id="b" kind="yesno"><prompt>Sure?</prompt><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1", mode="ivr")
    assert [("gas", "2"), ("power", "1")] == [(c.value, c.dtmf) for c in interpreter.view(live).choices]
    assert "choose one of: 2 gas, 1 power" == interpreter.answer(live, "7")
    assert None is interpreter.answer(live, "2")
    assert [("yes", "1"), ("no", "2")] == [(c.value, c.dtmf) for c in interpreter.view(live).choices]
    assert None is interpreter.answer(live, "2")
    assert {"a": "gas", "b": False} == live.state.answers


def test_steps_limited_to_other_modes_are_skipped():
    """A step for agents only is passed in self-service, without an answer."""
    body = """
        <info id="a" modes="agent"><prompt>Read the privacy notice.</prompt><go to="b"/></info>
        <question id="b" kind="text" modes="agent ivr"><prompt>Name?</prompt><go to="c"/></question>
        <question id="c" kind="yesno"><prompt>Ok?</prompt><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """
    interpreter = make(body)
    assert "c" == interpreter.view(interpreter.start("s1", mode="self-service")).step
    assert "a" == interpreter.view(interpreter.start("s2", mode="agent")).step


def test_back_returns_with_the_answer_kept():
    """Back goes to the previous question, showing the answer given; answering again replaces it."""
    interpreter = make(METER)
    live = interpreter.start("s1")
    assert False is interpreter.back(live)
    interpreter.answer(live, "electricity")
    interpreter.answer(live, "12")
    assert "done" == live.state.step
    live = interpreter.start("s2")
    interpreter.answer(live, "electricity")
    assert True is interpreter.back(live)
    view = interpreter.view(live)
    assert ("a", "electricity", {"a": "electricity"}) == (view.step, view.value, dict(view.answers))
    interpreter.answer(live, "gas")
    assert ("b", {"a": "gas"}) == (live.state.step, live.state.answers)


def test_back_retraces_at_most_max_back_steps():
    """A long conversation can be rewound MAX_BACK_STEPS steps, no further; answers stay."""
    interpreter = make("""
        <question id="a" kind="number"><prompt>Next?</prompt><go to="a" if="a &lt; 60"/><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1")
    for number in range(1, 60):
        interpreter.answer(live, str(number))
    steps_back = 0
    while interpreter.back(live):
        steps_back += 1
    assert (MAX_BACK_STEPS, {"a": 59}) == (steps_back, live.state.answers)


KNOWN = """
<question id="a" kind="text" prefill="customer.email if customer else none"><prompt>E-mail?</prompt><go to="b"/></question>
<question id="b" kind="number" confirm="yes"><prompt>Reading?</prompt><go to="c"/></question>
<question id="c" kind="yesno"><prompt>Done?</prompt><go to="e"/></question>
<end id="e" outcome="ok"/>
"""


def test_known_answers_skip_questions_unless_they_confirm():
    """Answers known at start are used: questions skipped, or offered for confirmation."""
    interpreter = make(KNOWN)
    live = interpreter.start("s1", known={"a": "ada@example.com", "b": "1234"})
    view = interpreter.view(live)
    assert ("b", 1234, True) == (view.step, view.value, view.confirm)
    assert ({"a": "ada@example.com"}, ("a",)) == (dict(view.answers), view.prefilled)
    interpreter.answer(live, view.value)
    assert "c" == live.state.step


def test_prefill_from_a_bound_object_skips_the_question():
    """A prefill expression over a bound business object answers without asking."""
    body = '<bind name="customer" object="Customer" key="context.customer_id"/>\n' + KNOWN
    loaded = []

    def objects(binding, key, match):
        loaded.append((binding.name, key))
        return {"email": "ada@example.com"}

    interpreter = make(body, objects=objects)
    live = interpreter.start("s1", context={"customer_id": 7})
    assert ([("customer", 7)], "b") == (loaded, live.state.step)
    assert {"a": "ada@example.com"} == live.state.answers


def test_known_data_that_does_not_fit_is_asked_for():
    """A known answer the question refuses is not used: the question is asked."""
    interpreter = make(KNOWN)
    live = interpreter.start("s1", known={"b": "lots"})
    view = interpreter.view(live)
    assert ("a", None) == (view.step, view.value)


def test_a_loop_without_questions_is_stopped():
    """Steps passed without asking are bounded: ScriptLoopError, the session failed."""
    interpreter = make("""
        <question id="a" kind="text"><prompt>?</prompt><go to="b"/></question>
        <info id="b" modes="ivr"><prompt>x</prompt><go to="c"/></info>
        <info id="c" modes="ivr"><prompt>y</prompt><go to="b" if="true"/><go to="e"/></info>
        <end id="e" outcome="ok"/>
    """, max_silent_steps=50)
    live = interpreter.start("s1")
    with pytest.raises(ScriptLoopError) as caught:
        interpreter.answer(live, "hello")
    assert "51 steps passed without asking anything" in str(caught.value)
    assert {"b", "c"} == set(caught.value.steps)
    assert ("failed", str(caught.value)) == (live.state.status, live.state.error)
    with pytest.raises(ScriptError, match="has ended with an error"):
        interpreter.answer(live, "again")


def test_no_transition_applies():
    """A step whose every <go> is conditional and false stops with the location."""
    interpreter = make("""
        <question id="a" kind="number"><prompt>?</prompt><go to="e" if="a &gt; 10"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1")
    with pytest.raises(ScriptError, match=r"t.xml:\d+: no <go> of step 'a' applies"):
        interpreter.answer(live, "3")
    assert "failed" == live.state.status


def failing(context, **arguments):
    raise RuntimeError("the ledger is closed")


FAILING_ACTIONS = {**ACTIONS, "book": ActionDefinition("book", failing, None)}


def test_a_failed_action_follows_on_error():
    """on-error moves to its step; the remaining actions do not run; the error is visible."""
    interpreter = make("""
        <question id="a" kind="text"><prompt>?</prompt>
          <go to="e"><action name="set"><arg name="x" value="1"/></action>
            <action name="book" on-error="sorry"/><action name="set"><arg name="y" value="2"/></action></go>
        </question>
        <info id="sorry"><prompt>Failed: {{ error.message }}</prompt><go to="e"/></info>
        <end id="e" outcome="ok"/>
    """, actions=FAILING_ACTIONS)
    live = interpreter.start("s1")
    interpreter.answer(live, "go")
    assert "Failed: RuntimeError: the ledger is closed" == interpreter.view(live).prompt
    assert {"x": 1} == live.state.variables
    assert [["a", "set", None], ["a", "book", "RuntimeError: the ledger is closed"]] == live.state.actions


def test_a_failed_action_without_on_error_stops_the_session():
    """ActionFailed names the action, the step, what was done and what was not."""
    interpreter = make("""
        <question id="a" kind="text"><prompt>?</prompt>
          <go to="e"><action name="note"><arg name="text" value="'called'"/></action>
            <action name="book"/><action name="transfer"><arg name="queue" value="'billing'"/></action></go>
        </question>
        <end id="e" outcome="ok"/>
    """, actions=FAILING_ACTIONS)
    live = interpreter.start("s1")
    with pytest.raises(ActionFailed) as caught:
        interpreter.answer(live, "go")
    error = caught.value
    assert ("book", "a", ("note",), ("transfer",)) == (error.action, error.step, error.done, error.not_run)
    assert "action 'book' on step 'a' failed: RuntimeError: the ledger is closed; already done: note;" \
           " not run: transfer" in str(error)
    assert ("failed", ["called"], []) == (live.state.status, live.state.notes, live.state.requests)


def test_unknown_action_fails_clearly():
    """An action nobody registered fails when it runs, with a "did you mean"."""
    interpreter = make("""
        <info id="a"><prompt>x</prompt><action name="nte"><arg name="text" value="'x'"/></action><go to="e"/></info>
        <end id="e" outcome="ok"/>
    """)
    with pytest.raises(ActionFailed, match="no action 'nte' is registered \\(did you mean 'note'\\?\\)"):
        interpreter.start("s1")


def test_a_condition_that_fails_to_evaluate_fails_the_session():
    """An expression error while moving is raised as ExpressionError; the session is failed."""
    interpreter = make("""
        <question id="a" kind="text"><prompt>?</prompt><go to="e" if="a + 1"/><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1")
    with pytest.raises(ExpressionError):
        interpreter.answer(live, "x")
    assert "failed" == live.state.status


def test_prompts_fall_back_to_the_default_language():
    """The session's language is used where a prompt has it, else the script's first."""
    interpreter = make("""
        <question id="a" kind="yesno"><prompt>Klaar?</prompt><prompt lang="en">Done?</prompt><go to="e"/></question>
        <end id="e" outcome="ok"><prompt>Dank u.</prompt></end>
    """, languages="nl en")
    live = interpreter.start("s1", language="en")
    assert "Done?" == interpreter.view(live).prompt
    interpreter.answer(live, "yes")
    assert ("Dank u.", "en") == (interpreter.view(live).prompt, interpreter.view(live).language)


def test_the_state_round_trips_through_json():
    """A session stored and attached again continues where it was, dates and decimals intact."""
    interpreter = make("""
        <question id="a" kind="date"><prompt>When?</prompt><go to="b"/></question>
        <question id="b" kind="text"><prompt>On {{ a }}?</prompt><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1", context={"amount": Decimal("12.50")})
    interpreter.answer(live, "2026-03-01")
    text = live.state.to_json()
    restored = interpreter.attach(SessionState.from_json(text))
    assert live.state == restored.state
    assert "On 2026-03-01?" == interpreter.view(restored).prompt
    assert None is interpreter.answer(restored, "yes")


def test_resume_in_another_mode_moves_past_a_step_that_does_not_apply():
    """Continuing in another mode keeps the answers; a step not for that mode is passed."""
    interpreter = make("""
        <question id="a" kind="text"><prompt>Name?</prompt><go to="b"/></question>
        <info id="b" modes="self-service"><prompt>Click next</prompt><go to="c"/></info>
        <question id="c" kind="yesno"><prompt>Ok?</prompt><go to="e"/></question>
        <end id="e" outcome="ok"/>
    """)
    live = interpreter.start("s1", mode="self-service", context={"channel": "web"})
    interpreter.answer(live, "Ada")
    assert "b" == live.state.step
    interpreter.resume(live, mode="agent", channel="phone")
    view = interpreter.view(live)
    assert ("c", "agent", "phone", {"a": "Ada"}) == (view.step, view.mode, view.channel, dict(view.answers))
