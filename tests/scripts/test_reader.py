"""Reading dialogue scripts: the model built from XML, includes, and every refusal located as file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from caruso.services.scripts.model import MODES, ActionCall, End, Expr, Info, Question, Script, Where
from caruso.services.scripts.reader import read_script, read_scripts, script_files
from caruso.xml import Schema

DOCS = Path(__file__).parent.parent.parent / "docs"

FULL = """<?xml version="1.0" encoding="UTF-8"?>
<script id="billing" title="Billing question" version="2.1" languages="en nl" start="ask-amount">
  <description>
    A bill the customer
    does not understand.
  </description>
  <bind name="customer" object="Customer" key="context.customer_id"/>
  <bind name="contracts" object="Contract" many="yes">
    <match attribute="customer_id" value="context.customer_id"/>
  </bind>
  <question id="ask-amount" kind="number" min="0" max="10000" prefill="context.amount" confirm="yes">
    <prompt>What amount
        does the bill show,
      {{ customer.name }}?</prompt>
    <prompt lang="nl">Welk bedrag staat op de rekening?</prompt>
    <action name="note">
      <arg name="text" value="'asked for the amount'"/>
    </action>
    <go to="too-high" if="ask_amount &gt; 500">
      <action name="escalate" on-error="sorry"><arg name="queue" value="'billing'"/></action>
    </go>
    <go to="sorry"/>
  </question>
  <question id="too-high" kind="choice" variable="reason" required="no" modes="agent ivr">
    <prompt lang="en">Why?</prompt>
    <prompt lang="nl">Waarom?</prompt>
    <choice value="usage" dtmf="1"><label>More usage</label><label lang="nl">Meer verbruik</label></choice>
    <choice value="price"><label>A new price</label><label lang="nl">Een nieuwe prijs</label></choice>
    <go to="sorry"/>
  </question>
  <info id="sorry" modes="self-service">
    <prompt lang="en">We are sorry.</prompt>
    <prompt lang="nl">Het spijt ons.</prompt>
    <go to="done"/>
  </info>
  <end id="done" outcome="resolved">
    <prompt lang="en">Goodbye.</prompt>
    <prompt lang="nl">Tot ziens.</prompt>
  </end>
</script>
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_ok(path: Path) -> Script:
    script, problems = read_script(path)
    assert [] == problems
    return script


def messages(problems) -> list[str]:
    return [str(p) for p in problems]


def fragment(steps: str, *, includes: str = "", exits: str = "done") -> str:
    return f'<fragment id="part" languages="en" exits="{exits}">{includes}{steps}</fragment>'


def script_text(body: str, *, includes: str = "", start: str = "a") -> str:
    return f'<script id="s" title="S" languages="en" start="{start}">\n{includes}\n{body}\n</script>'


INFO_A = '<info id="a"><prompt>A</prompt><go to="done"/></info>\n<end id="done" outcome="ok"/>'


# --- the model --------------------------------------------------------------


def test_full_script_reads_into_the_model(tmp_path):
    """Every element and attribute lands in the model, with DTD defaults where left out."""
    path = write(tmp_path, "billing.xml", FULL)
    script = read_ok(path)
    assert ("billing", "Billing question", "2.1", ("en", "nl"), "ask-amount") == (
        script.id, script.title, script.version, script.languages, script.start)
    assert "A bill the customer does not understand." == script.description
    assert ["ask-amount", "too-high", "sorry", "done"] == list(script.steps)
    assert (False, (), ()) == (script.fragment, script.exits, script.includes)
    assert Where(str(path), 2) == script.where

    customer, contracts = script.bindings
    assert ("customer", "Customer", "context.customer_id", False, {}) == (
        customer.name, customer.object, customer.key.source, customer.many, dict(customer.match))
    assert ("Contract", None, True) == (contracts.object, contracts.key, contracts.many)
    assert {"customer_id": Expr("context.customer_id", Where(str(path), 9))} == dict(contracts.match)


def test_question_attributes_and_defaults(tmp_path):
    """A question keeps its rules; the variable defaults to the id with - as _, modes to all three."""
    script = read_ok(write(tmp_path, "billing.xml", FULL))
    amount = script.steps["ask-amount"]
    assert isinstance(amount, Question)
    assert ("number", "ask_amount", True, "0", "10000", None, True) == (
        amount.kind, amount.variable, amount.required, amount.minimum, amount.maximum, amount.pattern, amount.confirm)
    assert "context.amount" == amount.prefill.source
    assert MODES == amount.modes
    reason = script.steps["too-high"]
    assert ("reason", False, ("agent", "ivr"), False, None) == (
        reason.variable, reason.required, reason.modes, reason.confirm, reason.prefill)


def test_prompts_are_keyed_by_language_with_white_space_collapsed(tmp_path):
    """A prompt without lang is in the first language; line breaks and indentation become single spaces."""
    script = read_ok(write(tmp_path, "billing.xml", FULL))
    prompt = script.steps["ask-amount"].prompt
    assert {"en": "What amount does the bill show, {{ customer.name }}?",
            "nl": "Welk bedrag staat op de rekening?"} == dict(prompt.texts)
    assert 12 == prompt.where.line


def test_choices_keep_value_label_and_dtmf(tmp_path):
    """Each choice keeps its stored value, its labels per language and its keypad digit."""
    script = read_ok(write(tmp_path, "billing.xml", FULL))
    usage, price = script.steps["too-high"].choices
    assert ("usage", "1", {"en": "More usage", "nl": "Meer verbruik"}) == (
        usage.value, usage.dtmf, dict(usage.label.texts))
    assert ("price", None) == (price.value, price.dtmf)


def test_actions_and_transitions(tmp_path):
    """Actions in a step run on entering it; actions in a <go> run on the way; on-error is kept."""
    path = write(tmp_path, "billing.xml", FULL)
    script = read_ok(path)
    amount = script.steps["ask-amount"]
    assert (ActionCall("note", {"text": Expr("'asked for the amount'", Where(str(path), 17))}, None,
                       Where(str(path), 16)),) == amount.on_enter
    high, fallback = amount.transitions
    assert ("too-high", "ask_amount > 500", 19) == (high.target, high.condition.source, high.where.line)
    assert [("escalate", "sorry")] == [(a.name, a.on_error) for a in high.actions]
    assert ("sorry", None, ()) == (fallback.target, fallback.condition, fallback.actions)


def test_info_and_end(tmp_path):
    """An info step keeps its modes; an end its outcome and prompt."""
    script = read_ok(write(tmp_path, "billing.xml", FULL))
    sorry, done = script.steps["sorry"], script.steps["done"]
    assert isinstance(sorry, Info) and isinstance(done, End)
    assert ("self-service",) == sorry.modes
    assert ("resolved", {"en": "Goodbye.", "nl": "Tot ziens."}) == (done.outcome, dict(done.prompt.texts))


def test_bytes_with_a_filename_are_located_by_that_name():
    """A document given as bytes is named in the model and in problems by ``filename``."""
    script, problems = read_script(script_text(INFO_A).encode(), filename="inline.xml")
    assert ([], "inline.xml") == (problems, script.where.file)


# --- malformed and unsafe documents -------------------------------------------


def test_malformed_xml_is_located(tmp_path):
    """A broken tag is reported as file:line and no script is returned."""
    path = write(tmp_path, "broken.xml", '<script id="s" title="S" languages="en" start="a">\n<info id="a">\n</script>')
    script, problems = read_script(path)
    assert None is script
    assert [f"{path}:3"] == [p.__str__().split(": ")[0] for p in problems]
    assert "malformed XML" in problems[0].message


def test_dtd_violations_are_all_located(tmp_path):
    """Each DTD violation is reported at its own line: unknown element, bad kind, missing attribute."""
    text = """<script id="s" title="S" languages="en" start="a">
  <question id="a" kind="essay"><prompt>?</prompt></question>
  <info><prompt>x</prompt></info>
  <unknown/>
</script>"""
    path = write(tmp_path, "bad.xml", text)
    script, problems = read_script(path)
    assert None is script
    assert [2, 3, 4] == sorted({p.line for p in problems if p.line != 1})
    assert all(p.message.startswith("breaks dialogue.dtd:") for p in problems)


def test_external_entity_is_refused_and_nothing_is_read(tmp_path):
    """An XXE is refused from the DOCTYPE alone: the secret file's content appears nowhere."""
    secret = write(tmp_path, "secret.txt", "TOP-SECRET-VALUE")
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE script [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
            '<script id="s" title="&leak;" languages="en" start="a"/>')
    script, problems = read_script(write(tmp_path, "evil.xml", text))
    assert None is script
    assert 1 == len(problems)
    assert (2, True) == (problems[0].line, "refused" in problems[0].message)
    assert "TOP-SECRET" not in str(problems[0])


def test_entity_expansion_bomb_is_refused(tmp_path):
    """A billion-laughs DOCTYPE is refused before anything expands."""
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    text = "<!DOCTYPE script [" + "".join(levels) + ']>\n<script id="s" title="&l9;" languages="en" start="a"/>'
    script, problems = read_script(write(tmp_path, "bomb.xml", text))
    assert (None, 1) == (script, len(problems))
    assert "declares entities" in problems[0].message


def test_other_root_element_is_refused(tmp_path):
    """A file whose root is not <script> or <fragment> (but valid per DTD) is refused, saying what is expected."""
    path = write(tmp_path, "end.xml", '<end id="x" outcome="ok"/>')
    script, problems = read_script(path)
    assert None is script
    assert [f'{path}:1: <end id="x">: a dialogue file starts with <script> or <fragment>, not <end>'] \
        == messages(problems)


# --- what a DTD cannot say ----------------------------------------------------


def test_unknown_mode_with_did_you_mean(tmp_path):
    """A mode outside agent/self-service/ivr is a problem with a suggestion; the known ones stay."""
    path = write(tmp_path, "s.xml", script_text(
        '<info id="a" modes="agent self_service"><prompt>A</prompt><go to="done"/></info>'
        '<end id="done" outcome="ok"/>'))
    script, problems = read_script(path)
    assert [f"{path}:3: <info id=\"a\">: unknown mode 'self_service' (did you mean 'self-service'?);"
            " the modes are agent, self-service, ivr"] == messages(problems)
    assert ("agent",) == script.steps["a"].modes


def test_two_prompts_in_one_language(tmp_path):
    """Two prompts in the same language (one by default) are a problem; the first one counts."""
    path = write(tmp_path, "s.xml", script_text(
        '<info id="a"><prompt>One</prompt>\n<prompt lang="en">Two</prompt><go to="done"/></info>'
        '<end id="done" outcome="ok"/>'))
    script, problems = read_script(path)
    assert [f"{path}:4: <prompt>: a second text in 'en'; give each language one <prompt>"] == messages(problems)
    assert {"en": "One"} == dict(script.steps["a"].prompt.texts)


def test_variable_must_be_usable_in_expressions(tmp_path):
    """An explicit variable that is no identifier is refused with the spelling that works."""
    path = write(tmp_path, "s.xml", script_text(
        '<question id="a" kind="text" variable="zip-code"><prompt>Zip?</prompt><go to="done"/></question>'
        '<end id="done" outcome="ok"/>'))
    _, problems = read_script(path)
    assert [f'{path}:3: <question id="a">: variable \'zip-code\' is not a name expressions can use;'
            " write letters, digits and _ (zip_code)"] == messages(problems)


def test_binding_needs_a_key_or_a_match(tmp_path):
    """A binding that says neither key nor match cannot select anything: a problem at its line."""
    path = write(tmp_path, "s.xml", script_text('<bind name="c" object="Customer"/>\n' + INFO_A))
    _, problems = read_script(path)
    assert [f"{path}:3: <bind name=\"c\">: say which object to load: a key expression or <match> children"] \
        == messages(problems)


def test_argument_given_twice(tmp_path):
    """The same argument twice in one action is a problem (the second would silently win)."""
    path = write(tmp_path, "s.xml", script_text(
        '<info id="a"><prompt>A</prompt><action name="note"><arg name="text" value="1"/>\n'
        '<arg name="text" value="2"/></action><go to="done"/></info><end id="done" outcome="ok"/>'))
    _, problems = read_script(path)
    assert [f"{path}:4: <arg name=\"text\">: action 'note' is given argument 'text' twice"] == messages(problems)


def test_duplicate_step_ids_are_kept_for_the_checker(tmp_path):
    """Two steps with one id: the first is the step, the second is kept in ``duplicates``."""
    path = write(tmp_path, "s.xml", script_text(INFO_A + '\n<end id="a" outcome="other"/>'))
    script = read_ok(path)
    assert isinstance(script.steps["a"], Info)
    assert [("a", 5)] == [(s.id, s.where.line) for s in script.duplicates]


# --- includes -----------------------------------------------------------------


def test_include_merges_a_fragment_relative_to_the_including_file(tmp_path):
    """Steps and bindings of an included fragment follow the script's own; the path is relative to the includer."""
    write(tmp_path, "shared/verify.xml", fragment(
        '<bind name="account" object="Account" key="1"/>'
        '<question id="verify" kind="yesno"><prompt>Sure?</prompt><go to="done"/></question>'))
    path = write(tmp_path, "flows/main.xml", script_text(
        '<info id="a"><prompt>A</prompt><go to="verify"/></info><end id="done" outcome="ok"/>',
        includes='<include file="../shared/verify.xml"/>'))
    script = read_ok(path)
    assert ["a", "done", "verify"] == list(script.steps)
    assert ["account"] == [b.name for b in script.bindings]
    assert (str(tmp_path / "flows/../shared/verify.xml"),) == script.includes
    assert str(tmp_path / "flows/../shared/verify.xml") == script.steps["verify"].where.file


def test_fragment_read_on_its_own(tmp_path):
    """A fragment reads as a Script marked ``fragment`` with its exits; start defaults to its first step."""
    path = write(tmp_path, "part.xml", fragment('<info id="first"><prompt>x</prompt><go to="done"/></info>',
                                                exits="done failed"))
    script = read_ok(path)
    assert (True, ("done", "failed"), "first", "part") == (script.fragment, script.exits, script.start, script.id)


def test_nested_includes_and_a_shared_fragment_merged_once(tmp_path):
    """A fragment included by two others (a diamond) is merged once: no duplicate steps."""
    write(tmp_path, "d.xml", fragment('<info id="d"><prompt>d</prompt><go to="done"/></info>'))
    write(tmp_path, "b.xml", fragment('<info id="b"><prompt>b</prompt><go to="d"/></info>',
                                      includes='<include file="d.xml"/>'))
    write(tmp_path, "c.xml", fragment('<info id="c"><prompt>c</prompt><go to="d"/></info>',
                                      includes='<include file="d.xml"/>'))
    path = write(tmp_path, "a.xml", script_text(
        '<info id="a"><prompt>a</prompt><go to="b"/><go to="c"/></info><end id="done" outcome="ok"/>',
        includes='<include file="b.xml"/><include file="c.xml"/>'))
    script = read_ok(path)
    assert (["a", "done", "b", "d", "c"], ()) == (list(script.steps), script.duplicates)
    assert ["b.xml", "d.xml", "c.xml"] == [Path(p).name for p in script.includes]


def test_include_cycle_is_reported_with_its_chain(tmp_path):
    """a includes b includes a: refused at the include that closes the cycle, naming every file."""
    write(tmp_path, "a.xml", fragment('<info id="a"><prompt>a</prompt><go to="done"/></info>',
                                      includes='<include file="b.xml"/>'))
    b = write(tmp_path, "b.xml", fragment('<info id="b"><prompt>b</prompt><go to="done"/></info>',
                                          includes='\n<include file="a.xml"/>'))
    main = write(tmp_path, "main.xml", script_text('<end id="a0" outcome="ok"/>', start="a0",
                                                   includes='<include file="a.xml"/>'))
    script, problems = read_script(main)
    assert [f'{b}:2: <include file="a.xml">: include cycle: a.xml -> b.xml -> a.xml;'
            " a fragment cannot include itself, directly or through others"] == messages(problems)
    assert {"a0", "a", "b"} == set(script.steps)


def test_fragment_including_itself(tmp_path):
    """The shortest cycle: a file that includes itself."""
    path = write(tmp_path, "self.xml", fragment('<end id="done" outcome="ok"/>', includes='<include file="self.xml"/>'))
    _, problems = read_script(path)
    assert ["include cycle: self.xml -> self.xml"] == [
        re.search(r"include cycle: [^;]*", p.message).group(0) for p in problems]


def test_missing_include(tmp_path):
    """An include naming a file that does not exist is located at the include, saying where it looked."""
    path = write(tmp_path, "s.xml", script_text(INFO_A, includes='<include file="nope.xml"/>'))
    _, problems = read_script(path)
    assert [f"{path}:2: <include file=\"nope.xml\">: no such file '{tmp_path / 'nope.xml'}'"
            " (an include is relative to the including file)"] == messages(problems)


def test_including_a_script_is_refused(tmp_path):
    """Only fragments can be included: a <script> has its own start and cannot be merged."""
    write(tmp_path, "other.xml", script_text(INFO_A))
    path = write(tmp_path, "s.xml", script_text(INFO_A.replace('"a"', '"x"'), start="x",
                                                includes='<include file="other.xml"/>'))
    _, problems = read_script(path)
    assert [f"{path}:2: <include file=\"other.xml\">: 'other.xml' is a <script>; only a <fragment> can be included"] \
        == messages(problems)


def test_problems_inside_an_included_file_are_located_there(tmp_path):
    """A DTD violation in an included fragment points at the fragment's file and line."""
    part = write(tmp_path, "part.xml", '<fragment id="p" languages="en">\n<info id="x"/>\n</fragment>')
    path = write(tmp_path, "s.xml", script_text(INFO_A, includes='<include file="part.xml"/>'))
    script, problems = read_script(path)
    assert {(str(part), 2)} == {(p.file, p.line) for p in problems}
    assert ["a", "done"] == list(script.steps)


# --- many files ---------------------------------------------------------------


def test_read_scripts_leaves_fragments_out(tmp_path):
    """A folder's scripts are read in name order; fragments are read only through includes."""
    write(tmp_path, "b.xml", script_text(INFO_A).replace('id="s"', 'id="second"'))
    write(tmp_path, "a.xml", script_text(INFO_A).replace('id="s"', 'id="first"'))
    write(tmp_path, "part.xml", fragment('<end id="done" outcome="ok"/>'))
    scripts, problems = read_scripts([tmp_path])
    assert ([], ["first", "second"]) == (problems, [s.id for s in scripts])


def test_script_files_reports_missing_paths(tmp_path):
    """A path that is neither file nor folder is a problem naming it."""
    files, problems = script_files([tmp_path / "missing"])
    assert ([], [f"{tmp_path / 'missing'}: script file or folder not found"]) == (files, messages(problems))


# --- the reference keeps up with the DTD --------------------------------------


DTD = Schema.named("dialogue.dtd").dtd


@pytest.mark.parametrize("element", [e.name for e in DTD.iterelements()])
def test_every_element_and_attribute_is_documented(element):
    """docs/scripts.md names every element of dialogue.dtd and every attribute it takes."""
    text = (DOCS / "scripts.md").read_text()
    assert f"`<{element}>`" in text
    [declared] = [e for e in DTD.iterelements() if e.name == element]
    assert [] == [a.name for a in declared.iterattributes() if f"`{a.name}`" not in text]
