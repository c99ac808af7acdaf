"""A script's flow as diagram source: Mermaid (renders in GitHub and most Markdown) or Graphviz dot.

Steps are nodes (a question shows its kind, an end its outcome), transitions
are edges labelled with their condition, and ``on-error`` paths are dashed, so
a business analyst can see the whole conversation at once. Step ids are
written as labels, never as diagram syntax, so any id or condition is safe to
draw.
"""

from __future__ import annotations

from collections.abc import Callable

from caruso.services.scripts.model import End, Info, Question, Script, Step, successors

__all__ = ["FORMATS", "dot", "graph", "mermaid"]

START = '"(start)"'
"""The dot node of the start marker: parentheses cannot occur in a step id (an XML NMTOKEN)."""

MAX_LABEL = 48
"""Longer conditions are cut, with "...": a diagram is for the shape, the file has the detail."""


def graph(script: Script, format: str) -> str:
    """The diagram source of ``script`` in ``format`` ("mermaid" or "dot")."""
    try:
        render = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown graph format {format!r}; use one of {', '.join(FORMATS)}") from None
    return render(script)


def mermaid(script: Script) -> str:
    """Mermaid ``flowchart`` source: questions as boxes, information as rounded boxes, ends as circles."""
    names = _node_names(script)
    lines = ["flowchart TD", f'    start_(("{_mermaid_text("start")}"))']
    for step in script.steps.values():
        text = _mermaid_text(_describe(step))
        shape = {Question: f'["{text}"]', Info: f'("{text}")', End: f'(("{text}"))'}[type(step)]
        lines.append(f"    {names[step.id]}{shape}")
    for target in _targets_outside(script):
        lines.append(f'    {names[target]}[/"{_mermaid_text(target)}"/]')
    if script.start in names:
        lines.append(f"    start_ --> {names[script.start]}")
    for step in script.steps.values():
        for target, how, _ in successors(step):
            arrow = "-.->" if how.startswith("error: ") else "-->"
            label = f'|"{_mermaid_text(_short(how))}"|' if how else ""
            lines.append(f"    {names[step.id]} {arrow}{label} {names[target]}")
    return "\n".join(lines) + "\n"


def dot(script: Script) -> str:
    """Graphviz ``digraph`` source (``dot -Tsvg``): the same picture as ``mermaid``."""
    lines = [f"digraph {_dot_text(script.id)} {{", "    node [shape=box, fontname=Helvetica];",
             "    edge [fontname=Helvetica, fontsize=10];",
             f'    {START} [label="start", shape=circle];']
    for step in script.steps.values():
        shape = {Question: "box", Info: "box, style=rounded", End: "doublecircle"}[type(step)]
        lines.append(f"    {_dot_text(step.id)} [label={_dot_text(_describe(step))}, shape={shape}];")
    for target in _targets_outside(script):
        lines.append(f"    {_dot_text(target)} [shape=box, style=dashed];")
    if script.start in script.steps:
        lines.append(f"    {START} -> {_dot_text(script.start)};")
    for step in script.steps.values():
        for target, how, _ in successors(step):
            attributes = []
            if how:
                attributes.append(f"label={_dot_text(_short(how))}")
            if how.startswith("error: "):
                attributes.append("style=dashed")
            suffix = f" [{', '.join(attributes)}]" if attributes else ""
            lines.append(f"    {_dot_text(step.id)} -> {_dot_text(target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


FORMATS: dict[str, Callable[[Script], str]] = {"mermaid": mermaid, "dot": dot}


def _describe(step: Step) -> str:
    if isinstance(step, Question):
        return f"{step.id}\n{step.kind}"
    if isinstance(step, End):
        return f"{step.id}\n{step.outcome}"
    return step.id


def _targets_outside(script: Script) -> list[str]:
    """Targets that are not steps of the script (a fragment's exits, mistakes), in first-use order."""
    found: dict[str, None] = {}
    for step in script.steps.values():
        for target, _, _ in successors(step):
            if target not in script.steps:
                found[target] = None
    return list(found)


def _node_names(script: Script) -> dict[str, str]:
    """Mermaid node names: ``s1``, ``s2``... (step ids may hold characters Mermaid reads as syntax)."""
    ids = [*script.steps, *_targets_outside(script)]
    return {step_id: f"s{index}" for index, step_id in enumerate(ids, start=1)}


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 3] + "..."


def _mermaid_text(text: str) -> str:
    """Text for inside Mermaid quotes: its own entity codes for what would end or confuse a label."""
    replaced = (text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
                .replace("|", "#124;"))
    return replaced.replace("\n", "<br/>")


def _dot_text(text: str) -> str:
    """A dot quoted string (IDs and labels alike); \\n in labels stays a line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
