"""The dialogue interpreter against a hand-written Python state machine of the same script.

Three measurements:

1. Answer-to-next-step latency on a generated ``--steps``-step script (default
   200): numbers, choices, yes/no and text questions, each with a condition
   on its answer before the unconditional way on, every fifth prompt showing
   earlier answers through a template. The interpreter (``answer`` + ``view``:
   validate, store, evaluate the conditions, render the next prompt, build
   the view) against a hand-written state machine doing the same work with
   plain Python (the same validation rules, ``if`` for the conditions,
   f-strings for the prompts, a dict for the view). Targets: median under
   200 microseconds, ratio at most 10.
2. ``--sessions`` concurrent sessions (default 10,000) half-way through the
   script: memory per live session (tracemalloc) and persisted bytes per
   session (target: under 4 KB); for information also the largest state, at
   the last question (every answer and the way back kept), and an ended one.
3. For information: the same answers through the ``scripts`` service on a
   SQLite file (load, move, save per answer), the price of persistence.

Timings interleave the two state machines in rounds and report the median of
all answers of the best round, and the median of the per-round ratios (the
machine is shared). Quick run:

    python benchmarks/bench_script_engine.py --rounds 3 --sessions 1000
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import tempfile
import textwrap
import time
import tracemalloc
from decimal import Decimal, InvalidOperation
from pathlib import Path

from caruso.services.scripts.actions import BUILTIN_ACTIONS
from caruso.services.scripts.expressions import ExpressionEngine
from caruso.services.scripts.interpreter import Interpreter
from caruso.services.scripts.reader import read_script

KINDS = ("number", "choice", "yesno", "text")
CHOICES = ("gas", "electricity", "water")


def step_id(i: int) -> str:
    return f"q{i:03d}"


def generate_script(steps: int) -> str:
    """A script of ``steps`` questions and an end, as XML."""
    parts = [f'<script id="bench" title="Benchmark" languages="en" start="{step_id(0)}">']
    for i in range(steps):
        kind = KINDS[i % len(KINDS)]
        sid = step_id(i)
        following = step_id(i + 1) if i + 1 < steps else "done"
        prompt = f"Question {i}: what is the value?"
        if i % 5 == 4:
            prompt = f"Question {i}; earlier you said {{{{ {step_id(i - 1)} }}}} and {{{{ {step_id(i - 2)} }}}}."
        attributes = ' min="0" max="100000"' if kind == "number" else ""
        parts.append(f'  <question id="{sid}" kind="{kind}"{attributes}>')
        parts.append(f"    <prompt>{prompt}</prompt>")
        if kind == "choice":
            parts.extend(f'    <choice value="{c}"><label>{c.title()}</label></choice>' for c in CHOICES)
        condition = {
            "number": f"{sid} &gt; 50000",
            "choice": f"{sid} == 'water'",
            "yesno": f"not {sid}",
            "text": f"{sid} == 'skip'",
        }[kind]
        parts.append(f'    <go to="{following}" if="{condition}"/>')
        parts.append(f'    <go to="{following}"/>')
        parts.append("  </question>")
    parts.append('  <end id="done" outcome="resolved"><prompt>Thank you.</prompt></end>')
    parts.append("</script>")
    return "\n".join(parts) + "\n"


def answers_for(steps: int) -> list[object]:
    """Answers as a channel sends them: text."""
    values = {"number": "1234", "choice": "electricity", "yesno": "yes", "text": "fine, thanks"}
    return [values[KINDS[i % len(KINDS)]] for i in range(steps)]


class HandWritten:
    """The same script as a hand-written state machine: what a programmer would write
    for this one script, doing the same work per answer as the interpreter."""

    YES = frozenset({"yes", "y", "true", "1"})
    NO = frozenset({"no", "n", "false", "0"})

    def __init__(self, steps: int):
        self.steps = steps

    def start(self) -> dict:
        session = {"step": 0, "answers": {}, "trail": []}
        return session

    def answer(self, session: dict, value: str) -> dict:
        i = session["step"]
        sid = step_id(i)
        kind = KINDS[i % len(KINDS)]
        if kind == "number":
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                return self.view(session, "expected a number")
            if number < 0 or number > 100000:
                return self.view(session, "out of range")
            parsed = int(number) if number == number.to_integral_value() else float(number)
            condition = parsed > 50000
        elif kind == "choice":
            parsed = value.strip()
            if parsed not in CHOICES:
                return self.view(session, "choose one of: " + ", ".join(CHOICES))
            condition = parsed == "water"
        elif kind == "yesno":
            word = value.strip().lower()
            if word not in self.YES and word not in self.NO:
                return self.view(session, "answer yes or no")
            parsed = word in self.YES
            condition = not parsed
        else:
            parsed = value.strip()
            condition = parsed == "skip"
        session["answers"][sid] = parsed
        session["trail"].append(i)
        session["step"] = i + 1 if condition or True else i + 1
        return self.view(session, None)

    def view(self, session: dict, error: str | None) -> dict:
        i = session["step"]
        if i >= self.steps:
            return {"step": "done", "kind": "end", "prompt": "Thank you.", "error": error,
                    "answers": dict(session["answers"])}
        answers = session["answers"]
        kind = KINDS[i % len(KINDS)]
        if i % 5 == 4:
            prompt = f"Question {i}; earlier you said {answers.get(step_id(i - 1))} and {answers.get(step_id(i - 2))}."
        else:
            prompt = f"Question {i}: what is the value?"
        choices = tuple((c, c.title()) for c in CHOICES) if kind == "choice" else ()
        return {"step": step_id(i), "kind": kind, "prompt": prompt, "choices": choices, "error": error,
                "answers": dict(answers)}


def time_interpreter(interpreter: Interpreter, answers: list[object], sessions: int) -> list[float]:
    latencies = []
    clock = time.perf_counter_ns
    for n in range(sessions):
        live = interpreter.start(f"s{n}")
        for value in answers:
            started = clock()
            interpreter.answer(live, value)
            interpreter.view(live)
            latencies.append(clock() - started)
        assert live.state.status == "ended", live.state
    return latencies


def time_handwritten(machine: HandWritten, answers: list[object], sessions: int) -> list[float]:
    latencies = []
    clock = time.perf_counter_ns
    for _ in range(sessions):
        session = machine.start()
        for value in answers:
            started = clock()
            machine.answer(session, value)
            machine.view(session, None)
            latencies.append(clock() - started)
    return latencies


def measure_latency(interpreter: Interpreter, steps: int, rounds: int, sessions: int) -> dict:
    answers = answers_for(steps)
    machine = HandWritten(steps)
    time_interpreter(interpreter, answers, 1)  # warm up caches
    time_handwritten(machine, answers, 1)
    best_engine: list[float] | None = None
    best_hand: list[float] | None = None
    ratios = []
    for _ in range(rounds):
        gc.collect()
        engine = time_interpreter(interpreter, answers, sessions)
        hand = time_handwritten(machine, answers, sessions)
        engine_median, hand_median = statistics.median(engine), statistics.median(hand)
        ratios.append(engine_median / hand_median)
        if best_engine is None or engine_median < statistics.median(best_engine):
            best_engine = engine
        if best_hand is None or hand_median < statistics.median(best_hand):
            best_hand = hand
    return {
        "engine_median_us": statistics.median(best_engine) / 1000,
        "engine_p95_us": statistics.quantiles(best_engine, n=20)[-1] / 1000,
        "hand_median_us": statistics.median(best_hand) / 1000,
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def measure_sessions(interpreter: Interpreter, steps: int, count: int) -> dict:
    answers = answers_for(steps)
    half = answers[: steps // 2]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    live_sessions = []
    for n in range(count):
        live = interpreter.start(f"session-{n:06d}")
        for value in half:
            interpreter.answer(live, value)
        live_sessions.append(live)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    half_way = [len(live.state.to_json().encode()) for live in live_sessions[:100]]
    last = interpreter.start("session-at-the-last-question")
    for value in answers[:-1]:
        interpreter.answer(last, value)
    at_last_question = len(last.state.to_json().encode())
    interpreter.answer(last, answers[-1])
    return {
        "memory_per_session_kb": (after - before) / count / 1024,
        "persisted_half_way_bytes": statistics.mean(half_way),
        "persisted_last_question_bytes": at_last_question,
        "persisted_finished_bytes": len(last.state.to_json().encode()),
    }


def measure_service(script_text: str, steps: int, sessions: int) -> dict:
    answers = answers_for(steps)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "scripts").mkdir()
        (root / "scripts" / "bench.xml").write_text(script_text, encoding="utf-8")
        (root / "caruso.toml").write_text(textwrap.dedent("""\
            [application]
            name = "bench"
            [storage]
            url = "sqlite:///bench.db"
        """))
        app = _application(root)
        with app:
            app.services.get("storage").upgrade()
            scripts = app.services.get("scripts")
            latencies = []
            for _ in range(sessions):
                view = scripts.start_session("bench", mode="self-service")
                for value in answers:
                    started = time.perf_counter_ns()
                    view = scripts.answer(view.session_id, value)
                    latencies.append(time.perf_counter_ns() - started)
    return {"service_median_us": statistics.median(latencies) / 1000}


def _application(root: Path):
    """The application in ``root``, with the scripts plugin registered while it is not a default one."""
    import importlib

    from caruso.app import Application
    from caruso.config import load_config
    from caruso.plugins import DEFAULT_PLUGINS

    app = Application(load_config(root))
    name = "caruso.services.scripts.plugin"
    if name not in DEFAULT_PLUGINS:
        app.plugin_manager.register(importlib.import_module(name), name=name)
    app.load()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--latency-sessions", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--service-sessions", type=int, default=3)
    parser.add_argument("--no-service", action="store_true", help="skip the measurement through storage")
    options = parser.parse_args()

    text = generate_script(options.steps)
    script, problems = read_script(text.encode(), filename="bench.xml")
    if problems:
        raise SystemExit("\n".join(str(p) for p in problems))
    interpreter = Interpreter(script, engine=ExpressionEngine(), actions={a.name: a for a in BUILTIN_ACTIONS})

    print(f"Python {platform.python_version()} on {platform.machine()}, {options.steps}-step script")
    latency = measure_latency(interpreter, options.steps, options.rounds, options.latency_sessions)
    print("answer-to-next-step (answer + view), median of the best round:")
    print(f"  interpreter   {latency['engine_median_us']:8.1f} us   (p95 {latency['engine_p95_us']:.1f} us; target < 200)")
    print(f"  hand-written  {latency['hand_median_us']:8.1f} us")
    print(f"  ratio         {latency['ratio']:8.1f} x    (median of {len(latency['ratios'])} rounds; target <= 10)")

    sessions = measure_sessions(interpreter, options.steps, options.sessions)
    print(f"{options.sessions:,} concurrent sessions, half-way through the script:")
    print(f"  memory per live session    {sessions['memory_per_session_kb']:8.1f} KB")
    print(f"  persisted, half-way        {sessions['persisted_half_way_bytes']:8.0f} bytes   (target < 4096)")
    print(f"  persisted, at the last question {sessions['persisted_last_question_bytes']:3.0f} bytes")
    print(f"  persisted, ended           {sessions['persisted_finished_bytes']:8.0f} bytes")

    if not options.no_service:
        service = measure_service(text, options.steps, options.service_sessions)
        print("through the scripts service on SQLite (load, move, save per answer):")
        print(f"  median answer              {service['service_median_us']:8.1f} us")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
