"""``caruso script check | run | graph`` on real files, and the tutorial script walked with recorded answers."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from caruso.cli import CarusoGroup
from caruso.services.scripts.commands import script

EXAMPLES = Path(__file__).parent.parent.parent / "examples" / "scripts"
TUTORIAL = EXAMPLES / "meter-reading.xml"


@pytest.fixture
def caruso():
    """Run ``caruso script ...`` as the command line does: Caruso errors printed, not raised."""
    root = CarusoGroup("caruso")
    root.add_command(script)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(root, ["script", *map(str, args)], catch_exceptions=False)

    return invoke


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


SIMPLE = """\
<script id="simple" title="Simple" languages="en" start="name">
  <question id="name" kind="text" min="2">
    <prompt>Your name?</prompt>
    <go to="bye"/>
  </question>
  <end id="bye" outcome="resolved"><prompt>Bye {{ name }}.</prompt></end>
</script>
"""


# --- check ------------------------------------------------------------------------


def test_check_the_examples_folder(caruso):
    """The tutorial's folder checks clean: one ok line per file, fragment included, exit 0."""
    result = caruso("check", EXAMPLES)
    assert (0, [
        f"{EXAMPLES / 'identify-customer.xml'}: ok (fragment 'identify-customer', 2 steps)",
        f"{EXAMPLES / 'meter-reading.xml'}: ok (script 'meter-reading', 10 steps)",
    ]) == (result.exit_code, result.output.splitlines())


def test_check_prints_every_finding_and_exits_1(caruso, tmp_path):
    """Findings of the checker and of the actions' arguments, each as file:line: message, in line order."""
    path = write(tmp_path, "bad.xml", """\
        <script id="bad" title="Bad" languages="en" start="ask">
          <question id="ask" kind="number" max="lots">
            <prompt>How many?</prompt>
            <action name="note"><arg name="txt" value="'x'"/></action>
            <go to="bey"/>
          </question>
          <end id="bye" outcome="ok"/>
        </script>""")
    result = caruso("check", path)
    assert (1, [
        f"{path}:2: step 'ask': max 'lots' is not a number, as a number question needs",
        f"{path}:4: action 'note' takes no argument 'txt' (did you mean 'text'?); it takes: text",
        f"{path}:4: action 'note' needs the argument 'text'",
        f"{path}:5: step 'ask': <go> leads to 'bey', which is no step of the script (did you mean 'bye'?)",
        f"{path}:7: step 'bye' is never reached: no <go> or on-error from the start 'ask' leads to it",
    ]) == (result.exit_code, result.output.splitlines())


def test_check_reports_malformed_files_and_missing_paths(caruso, tmp_path):
    """A malformed file is located, a missing path named; the good file still says ok."""
    good = write(tmp_path, "good.xml", SIMPLE)
    broken = write(tmp_path, "broken.xml", "<script id='x'>\n<info>\n</script>\n")
    result = caruso("check", good, broken, tmp_path / "nope.xml")
    lines = result.output.splitlines()
    assert 1 == result.exit_code
    assert f"{good}: ok (script 'simple', 2 steps)" == lines[0]
    assert [f"{tmp_path / 'nope.xml'}: script file or folder not found"] == [l for l in lines if "nope" in l]
    assert [f"{broken}:3"] == [l.split(": ")[0] for l in lines if l.startswith(str(broken))]


def test_check_refuses_an_entity_bomb_without_expanding_it(caruso, tmp_path):
    """An entity declaration is refused at its line; nothing is expanded or read."""
    path = write(tmp_path, "bomb.xml", '<!DOCTYPE script [<!ENTITY a "aaaaaaaaaa">]>\n<script>&a;</script>')
    result = caruso("check", path)
    assert (1, [f"{path}:1: refused: the DOCTYPE declares entities; Caruso's formats use none, remove them"]) == (
        result.exit_code, result.output.splitlines())


def test_check_against_an_application(caruso, tmp_path):
    """With --app, bound objects and their attributes come from the application's models, and
    actions from its plugins (a plugin's action is known, a misspelt one is not)."""
    app = tmp_path / "app"
    write(app, "caruso.toml", """\
        [application]
        name = "Scripted"
        [plugins]
        folders = ["plugins"]
        """)
    write(app, "models/crm.xml", """\
        <model>
          <object name="Customer">
            <attribute name="id" type="integer" primary-key="yes"/>
            <attribute name="name" type="string"/>
          </object>
        </model>""")
    write(app, "plugins/tickets.py", """\
        from caruso.hookspecs import hookimpl
        from caruso.services.scripts.actions import ActionDefinition

        def open_ticket(context, subject):
            pass

        @hookimpl
        def register_actions(app):
            return [ActionDefinition("open_ticket", open_ticket, ("subject",))]
        """)
    path = write(tmp_path, "s.xml", """\
        <script id="s" title="S" languages="en" start="a">
          <bind name="customer" object="Customer"><match attribute="nmae" value="'Ada'"/></bind>
          <info id="a">
            <prompt>Hello</prompt>
            <action name="open_ticket"><arg name="subject" value="'x'"/></action>
            <action name="open_tiket"><arg name="subject" value="'x'"/></action>
            <go to="done"/>
          </info>
          <end id="done" outcome="ok"/>
        </script>""")
    result = caruso("check", path, "--app", app)
    assert (1, [
        f"{path}:2: binding 'customer': Customer has no attribute 'nmae' (did you mean 'name'?)",
        f"{path}:6: step 'a': action 'open_tiket' is not registered (did you mean 'open_ticket'?)",
    ]) == (result.exit_code, result.output.splitlines())
    assert "unknown business object" not in caruso("check", path).output  # without --app: models unchecked


# --- run --------------------------------------------------------------------------


def test_tutorial_runs_with_recorded_answers(caruso):
    """The tutorial script, walked in agent mode: identification, a refused then corrected reading, the end."""
    answers = ["123456", "1234 AB", "gas", 25000, "no", 1520, "yes"]
    result = caruso("run", TUTORIAL, "--answers", json.dumps(answers))
    assert 0 == result.exit_code
    assert [
        "[welcome] Welcome to Caruso Energy. Let us note your meter reading.",
        "[customer-number] What is your customer number? It has six digits and is on every bill.",
        "[postcode] And your postcode, please?",
        "[identified] Thank you.",
        "[meter] Which meter did you read?",
        "[reading] What does the gas meter show? The black digits only.",
        "[confirm-reading] You read 25000 on the gas meter. Is that right?",
        "[reading] What does the gas meter show? The black digits only.",
        "[confirm-reading] You read 1520 on the gas meter. Is that right?",
        "[thanks] Thank you, we have noted 1520. Goodbye!",
    ] == [line for line in result.output.splitlines() if line.startswith("[")]
    assert "  = resolved" == result.output.splitlines()[-1]


def test_tutorial_in_the_ivr_in_dutch(caruso):
    """In IVR mode choices and yes/no are keypad digits, the agent-only and keypad-less steps are passed by."""
    result = caruso("run", TUTORIAL, "--mode", "ivr", "--language", "nl", "--answers", '["123456", "2", 30000, "1"]')
    assert 0 == result.exit_code
    steps = [line.split("]")[0][1:] for line in result.output.splitlines() if line.startswith("[")]
    assert ["welcome", "customer-number", "meter", "reading", "confirm-reading", "thanks"] == steps
    assert "  2) gas - Gas" in result.output.splitlines()
    assert "[thanks] Dank u, we hebben 30000 genoteerd. Tot ziens!" in result.output


def test_tutorial_high_reading_asks_for_a_callback(caruso):
    """A reading over 20,000 leads the agent to offer a technician's call back, recorded as a request."""
    answers = {"customer-number": "123456", "postcode": "1234AB", "meter": "electricity", "reading": 25000,
               "confirm-reading": "yes", "high-reading": "yes"}
    result = caruso("run", TUTORIAL, "--answers", json.dumps(answers))
    assert 0 == result.exit_code
    [request] = [line for line in result.output.splitlines() if line.startswith("  -> ")]
    assert request.startswith("  -> callback (") and "reason=high electricity reading: 25000" in request


ADA = '{"customer": {"number": "123456", "name": "Ada", "postcode": "1234AB"}}'


def test_tutorial_with_a_known_customer(caruso):
    """With the caller's customer bound, the customer number is not asked and the agent greets them by name."""
    result = caruso("run", TUTORIAL, "--context", '{"customer_id": 7}', "--objects", ADA,
                    "--answers", '["1234ab", "gas", 1520, "yes"]')
    steps = [line.split("]")[0][1:] for line in result.output.splitlines() if line.startswith("[")]
    assert (0, ["welcome", "postcode", "identified", "meter", "reading", "confirm-reading", "thanks"]) == (
        result.exit_code, steps)
    assert "[identified] Thank you, Ada." in result.output.splitlines()


def test_tutorial_transfers_a_caller_whose_postcode_does_not_match(caruso):
    """A postcode that is not the bound customer's ends the dialogue with a transfer request."""
    result = caruso("run", TUTORIAL, "--context", '{"customer_id": 7}', "--objects", ADA, "--answers", '["9999 ZZ"]')
    lines = result.output.splitlines()
    assert (0, "  = transferred") == (result.exit_code, lines[-1])
    assert "  -> transfer (queue=customer-service, reason=identification failed)" in lines


def test_run_stops_with_exit_1_when_answers_run_out(caruso, tmp_path):
    """A recording that ends before the script does stops the walk, saying where."""
    result = caruso("run", write(tmp_path, "s.xml", SIMPLE), "--answers", "[]")
    assert (1, "stopped: no recorded answer for step 'name'") == (result.exit_code, result.output.splitlines()[-1])


def test_run_shows_a_refused_answer_and_the_reason(caruso, tmp_path):
    """A refused answer prints its reason; the next recorded answer is tried on the same step."""
    answers = tmp_path / "answers.json"
    answers.write_text('["A", "Ada"]')
    result = caruso("run", write(tmp_path, "s.xml", SIMPLE), "--answers", f"@{answers}")
    lines = result.output.splitlines()
    assert 0 == result.exit_code
    assert ["  > A", "  > Ada", "[bye] Bye Ada."] == [l for l in lines if l.startswith(("  >", "[bye]"))]
    assert 1 == len([l for l in lines if l.startswith("  ! ")])


def test_run_refuses_a_script_with_findings(caruso, tmp_path):
    """run checks first: a script with findings is not walked."""
    path = write(tmp_path, "s.xml", SIMPLE.replace('to="bye"', 'to="by"'))
    result = caruso("run", path, "--answers", "[]")
    assert 1 == result.exit_code
    assert "<go> leads to 'by'" in result.output
    assert "[name]" not in result.output


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--answers", "[1,", "not JSON: Expecting value at line 1 column 4"),
    ("--answers", '"yes"', "expected a list or an object, got str"),
    ("--context", "[]", "expected an object, got list"),
    ("--objects", "@/nonexistent/objects.json", "cannot read /nonexistent/objects.json"),
])
def test_run_option_errors_are_usage_errors(caruso, tmp_path, option, value, message):
    """Bad JSON options are usage errors (exit 2) naming the option."""
    result = CliRunner().invoke(script, ["run", str(write(tmp_path, "s.xml", SIMPLE)), option, value])
    assert 2 == result.exit_code
    assert option in result.output and message in result.output


# --- graph -------------------------------------------------------------------------


def test_graph_mermaid_to_stdout(caruso, tmp_path):
    """The default format is Mermaid, written to the standard output."""
    result = caruso("graph", write(tmp_path, "s.xml", SIMPLE))
    assert (0, "flowchart TD") == (result.exit_code, result.output.splitlines()[0])
    assert '    s1 --> s2' in result.output.splitlines()


def test_graph_dot_to_a_file(caruso, tmp_path):
    """--format dot -o FILE writes the file and says so."""
    out = tmp_path / "flow.dot"
    result = caruso("graph", TUTORIAL, "--format", "dot", "-o", out)
    assert (0, f"wrote {out}: dot, 10 steps\n") == (result.exit_code, result.output)
    assert out.read_text().startswith('digraph "meter-reading" {')


def test_graph_of_an_unreadable_file(caruso, tmp_path):
    """A file that does not read cleanly is not drawn; its problems are printed, exit 1."""
    result = caruso("graph", write(tmp_path, "s.xml", "<script>"))
    assert 1 == result.exit_code
    assert "malformed XML" in result.output


# --- the tutorial shows what really happens ------------------------------------------


TUTORIAL_PAGE = Path(__file__).parent.parent.parent / "docs" / "script-tutorial.md"


def test_tutorial_quotes_the_real_files():
    """Every XML excerpt in docs/script-tutorial.md is copied verbatim from the example files."""
    files = (TUTORIAL.read_text(), (EXAMPLES / "identify-customer.xml").read_text())
    excerpts = re.findall(r"```xml\n(.*?)```", TUTORIAL_PAGE.read_text(), re.S)
    assert len(excerpts) >= 10
    assert [] == [excerpt for excerpt in excerpts if not any(excerpt in text for text in files)]


@pytest.mark.parametrize("transcript", re.findall(r"```console\n(\$ caruso script run .*?)```",
                                                  TUTORIAL_PAGE.read_text(), re.S))
def test_tutorial_transcripts_are_real(caruso, transcript):
    """Each `caruso script run` transcript in the tutorial is the command's real output."""
    command, *expected = transcript.splitlines()
    args = shlex.split(command)[3:]  # after "$ caruso script"
    result = caruso(*[str(Path(__file__).parent.parent.parent / a) if a.endswith(".xml") else a for a in args])
    assert (0, expected) == (result.exit_code, result.output.splitlines())


def test_tutorial_diagram_is_real(caruso):
    """The Mermaid diagram in the tutorial is what `caruso script graph` draws."""
    [diagram] = re.findall(r"```mermaid\n(.*?)```", TUTORIAL_PAGE.read_text(), re.S)
    assert diagram == caruso("graph", TUTORIAL).output
