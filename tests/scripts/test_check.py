"""The script checker: every finding, located as file:line, with the real expression engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from caruso.errors import ScriptDefinitionError
from caruso.services.scripts.check import check_script, check_scripts, load_scripts
from caruso.services.scripts.expressions import ExpressionEngine
from caruso.services.scripts.reader import read_script

ENGINE = ExpressionEngine()
ACTIONS = ("note", "email", "transfer", "set")
OBJECTS = {"Customer": {"id", "name", "email", "contracts"}, "Contract": {"id", "customer_id", "kind"}}
END = '<end id="done" outcome="ok"/>'


def info(step_id: str, *gos: str, prompt: str = "Hello") -> str:
    return f'<info id="{step_id}"><prompt>{prompt}</prompt>{"".join(gos)}</info>'


def go(target: str, condition: str | None = None) -> str:
    return f'<go to="{target}"' + (f' if="{condition}"' if condition else "") + "/>"


def script(*body: str, languages: str = "en", start: str = "a", head: str = "") -> str:
    lines = "\n".join(body)
    return f'<script id="s" title="S" languages="{languages}" start="{start}">{head}\n{lines}\n</script>'


def findings(tmp_path: Path, text: str, *, actions=ACTIONS, objects=OBJECTS, name: str = "s.xml") -> list[str]:
    """The checker's findings for one file, as ``line: message`` (the file is always the one given)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    read, problems = read_script(path)
    assert [] == problems
    found = check_script(read, engine=ENGINE, actions=actions, objects=objects)
    assert all(p.file.endswith(".xml") for p in found)
    return [f"{p.line}: {p.message}" for p in found]


def test_a_sound_script_has_no_findings(tmp_path):
    """The tutorial script and its fragment, checked with the built-in action names, are clean."""
    examples = Path(__file__).parent.parent.parent / "examples" / "scripts"
    read, problems = read_script(examples / "meter-reading.xml")
    builtin = ("set", "create", "update", "call", "email", "transfer", "escalate", "callback", "note")
    assert ([], []) == (problems, check_script(read, engine=ENGINE, actions=builtin, objects=None))


# --- steps and the flow -------------------------------------------------------


def test_unknown_start_with_did_you_mean(tmp_path):
    """A start that names no step is located at the <script> element, with a suggestion."""
    assert ["1: start 'ask' is no step of the script (did you mean 'asks'?)"] == findings(
        tmp_path, script(info("asks", go("done")), END, start="ask"))


def test_duplicate_step_id_points_at_the_first(tmp_path):
    """The second step with an id is reported, naming where the first one is."""
    path = tmp_path / "s.xml"
    assert [f"3: step id 'a' is already used at {path}:2; give each step its own id"] == findings(
        tmp_path, script(info("a", go("done")), '<end id="a" outcome="x"/>', END))


def test_unknown_target_with_did_you_mean(tmp_path):
    """A <go> to a step that does not exist names the step and suggests the closest id."""
    assert [
        "2: step 'a': <go> leads to 'dnoe', which is no step of the script (did you mean 'done'?)",
        "3: step 'done' is never reached: no <go> or on-error from the start 'a' leads to it",
    ] == findings(tmp_path, script(info("a", go("dnoe")), END))


def test_unknown_on_error_target(tmp_path):
    """An action's on-error must name a step too; reported at the action."""
    body = info("a", '<action name="note" on-error="oops"><arg name="text" value="1"/></action>', go("done"))
    assert ["2: step 'a': on-error of action 'note' leads to 'oops', which is no step of the script"] \
        == findings(tmp_path, script(body, END))


def test_unreachable_step(tmp_path):
    """A step no <go> or on-error leads to from the start is reported at its line."""
    assert ["3: step 'b' is never reached: no <go> or on-error from the start 'a' leads to it"] == findings(
        tmp_path, script(info("a", go("done")), info("b", go("done")), END))


def test_on_error_target_counts_as_reached(tmp_path):
    """A step reached only as an action's on-error step is reachable."""
    body = info("a", '<action name="note" on-error="sorry"><arg name="text" value="1"/></action>', go("done"))
    assert [] == findings(tmp_path, script(body, info("sorry", go("done")), END))


def test_step_without_go(tmp_path):
    """A question or info without any <go> is a dead end."""
    assert ["2: step 'a' has no <go>: the dialogue cannot go on after it; add a <go to=...> (or make it an <end>)"] \
        == findings(tmp_path, script(info("a"), info("b", go("a", "1 == 1"), go("done")), END, start="b"))


def test_loop_without_way_out(tmp_path):
    """Steps that only lead to each other, never to an end, are each reported."""
    assert [
        "2: step 'a' has no way out: every path from it loops without reaching an <end>",
        "3: step 'b' has no way out: every path from it loops without reaching an <end>",
    ] == findings(tmp_path, script(info("a", go("b")), info("b", go("a")), info("c", go("a", "1 == 1"), go("done")),
                                   END, start="c"))


def test_every_go_conditional(tmp_path):
    """When every <go> has a condition the session can get stuck: reported at the last <go>."""
    assert ["2: step 'a': every <go> has a condition, so when none holds the session stops with an error;"
            " make the last one a <go> without if"] == findings(
        tmp_path, script(info("a", go("done", "1 &gt; 0")), END))


def test_go_after_an_unconditional_go(tmp_path):
    """A <go> after one without a condition can never be taken."""
    assert ["2: step 'a': <go to='b'> is never taken: the <go to='done'> before it has no condition"] == findings(
        tmp_path, script(info("a", go("done"), go("b", "1 == 1")), info("b", go("done")), END))[:1]


# --- expressions ----------------------------------------------------------------


def test_condition_that_does_not_parse(tmp_path):
    """The engine's reason is given with the condition's source and the step."""
    assert ["2: step 'a': <go to='b'> if 'x ==': does not parse: unexpected 'end of template'"] == findings(
        tmp_path, script(info("a", go("b", "x =="), go("done")), info("b", go("done")), END))


def test_prompt_template_that_does_not_parse(tmp_path):
    """A prompt is checked as a template, per language."""
    [finding] = findings(tmp_path, script(info("a", go("done"), prompt="Hello {{ name"), END))
    assert finding.startswith("2: step 'a': prompt in 'en' 'Hello {{ name': does not parse:")


def test_sandbox_escape_in_a_prompt_is_a_finding(tmp_path):
    """An attribute the sandbox forbids is found when checking, not only when running."""
    [finding] = findings(tmp_path, script(info("a", go("done"), prompt="{{ ''.__class__ }}"), END))
    assert "names starting with _ are never allowed" in finding


def test_every_kind_of_expression_is_parsed(tmp_path):
    """prefill, action arguments, binding keys and match values all go through the engine."""
    head = ('\n<bind name="customer" object="Customer" key="context.(">'
            '<match attribute="id" value="1 +"/></bind>')
    body = ('<question id="a" kind="text" prefill="customer.">\n<prompt>Q</prompt>'
            '<action name="note"><arg name="text" value="}}"/></action>' + go("done") + "</question>")
    lines = findings(tmp_path, script(body, END, head=head))
    assert [
        "2: binding 'customer': key 'context.('",
        "2: binding 'customer': match 'id' '1 +'",
        "3: step 'a': prefill 'customer.'",
        "4: step 'a': action 'note', argument 'text' '}}'",
    ] == [line.split(": does not parse")[0] for line in lines]


# --- actions, bindings, names -----------------------------------------------------


def test_unknown_action_with_did_you_mean(tmp_path):
    """An action nobody registered is reported with the closest registered name."""
    body = info("a", '\n<action name="emial"/>', go("done"))
    assert ["3: step 'a': action 'emial' is not registered (did you mean 'email'?)"] == findings(
        tmp_path, script(body, END))


def test_unknown_action_lists_the_known_ones_when_nothing_is_close(tmp_path):
    """Without a close match the message lists what is registered."""
    body = info("a", '<action name="fax"/>', go("done"))
    assert ["2: step 'a': action 'fax' is not registered; known: email, note, set, transfer"] == findings(
        tmp_path, script(body, END))


def test_actions_none_skips_the_action_check(tmp_path):
    """With no application to ask (actions=None) action names are not checked."""
    assert [] == findings(tmp_path, script(info("a", '<action name="fax"/>', go("done")), END), actions=None)


def test_unknown_business_object(tmp_path):
    """A binding to an object the model lacks is reported with a suggestion."""
    head = '\n<bind name="customer" object="Custmer" key="context.customer_id"/>'
    assert ["2: binding 'customer': unknown business object 'Custmer' (did you mean 'Customer'?)"] == findings(
        tmp_path, script(info("a", go("done")), END, head=head))


def test_unknown_attribute_in_a_match(tmp_path):
    """A <match> on an attribute the object lacks is reported at the <match>."""
    head = ('\n<bind name="contracts" object="Contract" many="yes">\n'
            '<match attribute="customer" value="context.customer_id"/></bind>')
    assert ["3: binding 'contracts': Contract has no attribute 'customer' (did you mean 'customer_id'?)"] \
        == findings(tmp_path, script(info("a", go("done")), END, head=head))


def test_objects_none_skips_the_model_checks(tmp_path):
    """Without a model (objects=None) bindings are not checked against it."""
    head = '\n<bind name="x" object="Nothing" key="1"/>'
    assert [] == findings(tmp_path, script(info("a", go("done")), END, head=head), objects=None)


def test_binding_name_used_twice_and_reserved_names(tmp_path):
    """Two bindings of one name, a binding or variable taking an interpreter name: all reported."""
    head = ('\n<bind name="customer" object="Customer" key="1"/>\n<bind name="customer" object="Customer" key="2"/>'
            '\n<bind name="context" object="Customer" key="3"/>')
    body = '<question id="now" kind="text"><prompt>Q</prompt>' + go("done") + "</question>"
    path = tmp_path / "s.xml"
    assert [
        f"3: binding 'customer': the name is already bound at {path}:2",
        "4: binding 'context': the name is taken by the interpreter (answers, context, error, now, session);"
        " choose another",
        "5: step 'now': variable 'now' is taken by the interpreter (answers, context, error, now, session);"
        ' give the question a variable="..."',
    ] == findings(tmp_path, script(body, END, head=head, start="now"))


# --- questions ------------------------------------------------------------------


def question(kind: str, attributes: str = "", choices: str = "") -> str:
    return (f'<question id="a" kind="{kind}" {attributes}>\n<prompt>Q</prompt>{choices}' + go("done")
            + "</question>")


def choice(value: str, dtmf: str | None = None) -> str:
    key = f' dtmf="{dtmf}"' if dtmf is not None else ""
    return f'\n<choice value="{value}"{key}><label>{value}</label></choice>'


def test_choice_question_without_choices(tmp_path):
    """A choice question must offer something."""
    assert ["2: step 'a': a choice question without <choice>s: add the answers it allows"] == findings(
        tmp_path, script(question("choice"), END))


def test_choices_on_a_kind_that_offers_none(tmp_path):
    """Choices on a text question would never be shown."""
    assert ["2: step 'a': kind 'text' offers no choices, so its <choice>s would never be shown;"
            ' use kind="choice" or remove them'] == findings(
        tmp_path, script(question("text", choices=choice("x")), END))


def test_duplicate_choice_values_and_keypad_keys(tmp_path):
    """Two choices with one value, two with one key, and a key that is not one keypad key."""
    choices = choice("gas", "1") + choice("gas", "2") + choice("power", "1") + choice("water", "12")
    assert [
        "5: step 'a': two choices have the value 'gas'",
        "6: step 'a': choices 'gas' and 'power' share the keypad key '1'; give each its own dtmf",
        "7: step 'a': choice 'water': dtmf '12' is not one keypad key (0-9, * or #)",
    ] == findings(tmp_path, script(question("choice", choices=choices), END))


@pytest.mark.parametrize(("kind", "attributes", "expected"), [
    ("number", 'min="ten"', "min 'ten' is not a number, as a number question needs"),
    ("number", 'max="NaN"', "max 'NaN' is not a number, as a number question needs"),
    ("date", 'min="31-01-2024"', "min '31-01-2024' is not an ISO date (2024-01-31), as a date question needs"),
    ("text", 'max="5.5"', "max '5.5' is not a whole number of characters, as a text question needs"),
    ("yesno", 'min="1"', "kind 'yesno' takes no min or max; remove them"),
    ("choice", 'max="1"', "kind 'choice' takes no min or max; remove them"),
    ("number", 'min="10" max="5"', "min 10 is greater than max 5: no answer fits"),
    ("date", 'min="2024-02-01" max="2024-01-31"', "min 2024-02-01 is greater than max 2024-01-31: no answer fits"),
    ("number", 'pattern="[0-9]+"', "kind 'number' takes no pattern (only text answers are matched); remove it"),
])
def test_bounds_and_pattern_that_do_not_fit_the_kind(tmp_path, kind, attributes, expected):
    """min/max/pattern are checked against the kind of question."""
    choices = choice("x") if kind == "choice" else ""
    assert [f"2: step 'a': {expected}"] == findings(tmp_path, script(question(kind, attributes, choices), END))


def test_multichoice_asking_more_than_offered(tmp_path):
    """A multichoice whose min exceeds its number of choices can never be answered."""
    assert ["2: step 'a': min 3 asks for more choices than the 2 offered"] == findings(
        tmp_path, script(question("multichoice", 'min="3"', choice("x") + choice("y")), END))


def test_sound_bounds_pass(tmp_path):
    """Bounds in each kind's form are accepted."""
    body = [question("number", 'min="-1.5" max="10"').replace('id="a"', 'id="a"'),
            question("date", 'min="2024-01-01"').replace('id="a"', 'id="b"'),
            question("text", 'min="2" max="40" pattern="[A-Z]+"').replace('id="a"', 'id="c"')]
    body[0] = body[0].replace('to="done"', 'to="b"')
    body[1] = body[1].replace('to="done"', 'to="c"')
    assert [] == findings(tmp_path, script(*body, END))


def test_pattern_that_does_not_compile(tmp_path):
    """A pattern that is no regular expression is reported with Python's reason."""
    [finding] = findings(tmp_path, script(question("text", 'pattern="[0-9"'), END))
    assert finding.startswith("2: step 'a': pattern '[0-9' is not a regular expression: unterminated character set")


# --- languages --------------------------------------------------------------------


def test_missing_and_unknown_languages(tmp_path):
    """Every prompt and label needs every language of the script; other languages and empty texts are findings."""
    body = ('<question id="a" kind="choice">\n<prompt lang="en">Q</prompt><prompt lang="de">F</prompt>'
            '\n<choice value="x"><label lang="nl">X</label><label lang="en"> </label></choice>'
            + go("done") + "</question>")
    assert [
        "3: step 'a': prompt in 'de', which is not a language of the script (en nl)",
        "3: step 'a': prompt has no text in 'nl' (the script's languages: en nl)",
        "4: step 'a': label of choice 'x' in 'en' is empty",
    ] == findings(tmp_path, script(body, END, languages="en nl"))


def test_end_prompts_are_checked_too(tmp_path):
    """An end's closing prompt needs every language as well."""
    assert ["3: step 'done': prompt has no text in 'nl' (the script's languages: en nl)"] == findings(
        tmp_path, script('<info id="a"><prompt>x</prompt><prompt lang="nl">y</prompt><go to="done"/></info>',
                         '<end id="done" outcome="ok"><prompt>Bye</prompt></end>', languages="en nl"))


# --- fragments and includes --------------------------------------------------------


FRAGMENT = """<fragment id="verify" languages="en" exits="verified">
<question id="v" kind="yesno"><prompt>Sure?</prompt><go to="verified" if="v"/><go to="v"/></question>
</fragment>"""


def test_fragment_exits_are_targets_and_ways_out(tmp_path):
    """A fragment checked on its own may go to its exits; they count as ends, and reachability is not checked."""
    assert [] == findings(tmp_path, FRAGMENT + "\n", name="verify.xml")


def test_included_fragment_is_checked_against_the_script(tmp_path):
    """Merged, the fragment's exits must be steps of the script, and its prompts need the script's languages."""
    verify = tmp_path / "verify.xml"
    verify.write_text(FRAGMENT)
    path = tmp_path / "s.xml"
    path.write_text(script(
        '<info id="a"><prompt>Hi</prompt><prompt lang="nl">Hoi</prompt><go to="v" if="1 == 1"/><go to="done"/></info>',
        '<end id="done" outcome="ok"><prompt>Bye</prompt><prompt lang="nl">Dag</prompt></end>',
        languages="en nl", head='\n<include file="verify.xml"/>'))
    read, problems = read_script(path)
    found = [str(p) for p in check_script(read, engine=ENGINE, actions=ACTIONS, objects=OBJECTS)]
    assert [
        f"{verify}:2: step 'v': prompt has no text in 'nl' (the script's languages: en nl)",
        f"{verify}:2: step 'v': <go> leads to 'verified', which is no step of the script",
    ] == found


# --- many scripts ---------------------------------------------------------------------


def test_script_id_used_twice(tmp_path):
    """check_scripts finds two files declaring one script id."""
    first, second = tmp_path / "one.xml", tmp_path / "two.xml"
    for path in (first, second):
        path.write_text(script(info("a", go("done")), END))
    scripts = [read_script(p)[0] for p in (first, second)]
    assert [f"{second}:1: script id 's' is already used by {first}:1; give each script its own id"] == [
        str(p) for p in check_scripts(scripts, engine=ENGINE, actions=ACTIONS, objects=None)]


def test_load_scripts_returns_scripts_by_id(tmp_path):
    """A folder of sound scripts loads as a mapping by id."""
    (tmp_path / "one.xml").write_text(script(info("a", go("done")), END))
    assert ["s"] == list(load_scripts([tmp_path], engine=ENGINE, actions=ACTIONS, objects=None))


def test_load_scripts_raises_every_problem(tmp_path):
    """Any finding makes load_scripts raise ScriptDefinitionError carrying every one, located."""
    (tmp_path / "one.xml").write_text(script(info("a", '<action name="fax"/>', go("nowhere")), END))
    with pytest.raises(ScriptDefinitionError) as caught:
        load_scripts([tmp_path], engine=ENGINE, actions=ACTIONS, objects=None)
    path = tmp_path / "one.xml"
    assert [f"{path}:2", f"{path}:2", f"{path}:3"] == [str(p).split(": ")[0] for p in caught.value.problems]
