"""``caruso script check`` of a generated 1,000-step script: target under one second.

The script is generated to look like a large real one: questions of every kind
with prompts in two languages that show earlier answers, choices with keypad
digits, conditional transitions (every condition different, so the expression
engine's cache does not flatter the figure), actions on transitions, a shared
fragment included, ends. Four figures, each the best of ``--repeat`` runs:

1. baseline: what lxml alone takes to parse the file and validate it against
   ``dialogue.dtd`` - the floor any checker of a DTD format pays;
2. read: the reader (safe parse, DTD, include, model);
3. check: the semantic checker with the real expression engine (fresh engine
   per run, so every expression is parsed), and - to show where the time
   goes - the same checker with an engine that parses nothing;
4. the whole command in a fresh Python process (interpreter start, imports,
   plugin loading, read, check, output) - what a person waits for.

The ratio of (read + check) to the baseline says what the meaning costs on
top of the DTD. Quick run:

    python benchmarks/bench_script_check.py --steps 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from caruso.services.scripts.actions import BUILTIN_ACTIONS
from caruso.services.scripts.check import check_script
from caruso.services.scripts.expressions import ExpressionEngine
from caruso.services.scripts.reader import read_script
from caruso.xml import Schema

KINDS = ("text", "number", "date", "choice", "multichoice", "yesno")


def generate(steps: int) -> tuple[str, str]:
    """(script, fragment) XML: ``steps`` steps in all, every one reachable and able to reach an end."""
    body = []
    for index in range(steps - 3):
        step = f"q{index}"
        following = f"q{index + 1}" if index + 1 < steps - 3 else "verify"
        body.append(_question(index, step, following))
    script = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<script id="large" title="Large generated script" languages="en nl" start="q0">\n'
        '  <include file="fragment.xml"/>\n'
        '  <bind name="customer" object="Customer" key="context.customer_id"/>\n'
        + "".join(body)
        + '  <end id="done" outcome="resolved"><prompt lang="en">Bye {{ customer.name if customer else "" }}.'
          '</prompt><prompt lang="nl">Dag.</prompt></end>\n'
        + '  <end id="escalated" outcome="escalated"><prompt lang="en">A colleague will call.</prompt>'
          '<prompt lang="nl">Een collega belt.</prompt></end>\n'
        + "</script>\n"
    )
    fragment = (
        '<fragment id="verify" languages="en nl" exits="done escalated">\n'
        '  <question id="verify" kind="yesno"><prompt lang="en">All correct?</prompt>'
        '<prompt lang="nl">Alles juist?</prompt>\n'
        '    <go to="done" if="verify"/><go to="escalated"/></question>\n'
        "</fragment>\n"
    )
    return script, fragment


def _question(index: int, step: str, following: str) -> str:
    kind = KINDS[index % len(KINDS)]
    previous = f"q{index - 1}" if index else "customer"
    attributes = {
        "number": ' min="0" max="100000"',
        "date": ' min="2020-01-01" max="2030-12-31"',
        "text": ' max="200" pattern="[A-Za-z0-9 ]+"',
        "multichoice": ' min="1" max="3"',
    }.get(kind, "")
    choices = ""
    if kind in ("choice", "multichoice"):
        choices = "".join(
            f'<choice value="v{c}" dtmf="{c + 1}"><label lang="en">Option {c} of {index}</label>'
            f'<label lang="nl">Keuze {c} van {index}</label></choice>'
            for c in range(4)
        )
    condition = {
        "number": f"{step} &gt; {index * 7 % 1000}",
        "yesno": f"{step} and {previous} is defined",
        "text": f"{step}|length &gt; {index % 20}",
        "date": f"{step} and {step}.year == {2020 + index % 10}",
        "choice": f"{step} == 'v{index % 4}'",
        "multichoice": f"'v{index % 4}' in {step}",
    }[kind]
    return (
        f'  <question id="{step}" kind="{kind}"{attributes}>\n'
        f'    <prompt lang="en">Question {index}: after {{{{ {previous} }}}}, what now?</prompt>\n'
        f'    <prompt lang="nl">Vraag {index}: en nu?</prompt>\n'
        f"    {choices}\n"
        f'    <go to="escalated" if="{condition}">'
        f'<action name="note"><arg name="text" value="\'step {index}: \' ~ {step}|string"/></action></go>\n'
        f'    <go to="{following}"/>\n'
        "  </question>\n"
    )


class _Counting:
    """An engine that parses nothing and counts what it is asked: the checker's own cost."""

    def __init__(self) -> None:
        self.calls = 0

    def syntax_error(self, source: str, kind: str) -> None:
        self.calls += 1


def best(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.xml"
        script_text, fragment_text = generate(options.steps)
        path.write_text(script_text, encoding="utf-8")
        (Path(folder) / "fragment.xml").write_text(fragment_text, encoding="utf-8")
        actions = {a.name for a in BUILTIN_ACTIONS}

        script, problems = read_script(path)
        findings = check_script(script, engine=ExpressionEngine(), actions=actions, objects=None)
        assert not problems and not findings, (problems + findings)[:5]

        dtd = Schema.named("dialogue.dtd").dtd
        data = path.read_bytes()

        def baseline() -> None:
            tree = etree.ElementTree(etree.fromstring(data, etree.XMLParser(resolve_entities=False)))
            assert dtd.validate(tree)

        baseline_s = best(baseline, options.repeat)
        read_s = best(lambda: read_script(path), options.repeat)
        check_s = best(lambda: check_script(script, engine=ExpressionEngine(), actions=actions, objects=None),
                       options.repeat)
        counting = _Counting()
        check_script(script, engine=counting, actions=actions, objects=None)
        flow_s = best(lambda: check_script(script, engine=_Counting(), actions=actions, objects=None),
                      options.repeat)
        command = [sys.executable, "-m", "caruso", "script", "check", str(path)]  # the real command line

        def whole_command() -> None:
            subprocess.run(command, check=True, capture_output=True)

        command_s = best(whole_command, options.repeat)

    print(f"caruso script check: {len(script.steps)} steps ({len(data) / 1024:.0f} KiB,"
          f" {counting.calls} distinct expressions and templates), best of {options.repeat}")
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    print()
    print("| stage | seconds |")
    print("|---|---:|")
    print(f"| baseline: lxml parse + DTD validation only | {baseline_s:.3f} |")
    print(f"| read (safe parse, DTD, include, model) | {read_s:.3f} |")
    print(f"| check (meaning, every expression parsed) | {check_s:.3f} |")
    print(f"| of which the checker's own work (engine that parses nothing) | {flow_s:.3f} |")
    print(f"| read + check, in process | **{read_s + check_s:.3f}** |")
    print(f"| whole command in a fresh process | **{command_s:.3f}** |")
    print()
    print(f"read + check / baseline: {(read_s + check_s) / baseline_s:.1f}x;"
          f" target for the command: under 1 s -> {'met' if command_s < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
