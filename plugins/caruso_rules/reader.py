"""Reading rule files: XML validated against ``caruso/schemas/rules.dtd``, into ``Rule`` values.

The reader checks the form (the DTD, an unknown event with a did-you-mean, a
duration that does not read, a ``reached`` rule without its value, a name used
twice); whether the object, its attributes, the actions and the expressions
*mean* something is ``check.py``'s job, because that needs the application.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from caruso.errors import DocumentError, Problem, did_you_mean
from caruso.services.scripts.model import ActionCall, Expr, Where
from caruso.xml import Schema, problem_at, xml_files

from caruso_rules.model import EVENTS, Rule

__all__ = ["parse_duration", "read_rules"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}

# What each event needs (attribute, value) and allows (after).
_NEEDS_ATTRIBUTE = {"reached", "due"}


def read_rules(paths: Iterable[str | Path]) -> tuple[list[Rule], list[Problem]]:
    """Every rule in the files and folders ``paths`` (folders: their ``*.xml``), and every
    problem found, each located as file:line. A file with problems contributes no rule."""
    files, problems = xml_files(paths, kind="rule")
    rules: list[Rule] = []
    first: dict[str, Rule] = {}
    for path in files:
        found, file_problems = _read_file(path)
        problems.extend(file_problems)
        if file_problems:
            continue
        for rule in found:
            if rule.name in first:
                problems.append(Problem(rule.where.file, rule.where.line, (
                    f"rule name {rule.name!r} is already used by {first[rule.name].where}; give each rule its own name")))
                continue
            first[rule.name] = rule
            rules.append(rule)
    return rules, problems


def parse_duration(text: str) -> float | None:
    """``90s``, ``30m``, ``24h``, ``3d`` or plain seconds as seconds; None when it does not read."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _read_file(path: Path) -> tuple[list[Rule], list[Problem]]:
    try:
        tree = Schema.named("rules.dtd").parse(path)
    except DocumentError as exc:
        return [], list(exc.problems)
    rules, problems = [], []
    for element in tree.getroot().iterchildren("rule"):
        rule = _rule(element, problems)
        if rule is not None:
            rules.append(rule)
    return rules, problems


def _rule(element: etree._Element, problems: list[Problem]) -> Rule | None:
    before = len(problems)
    on = element.get("on")
    if on not in EVENTS:
        problems.append(problem_at(element, f"unknown event {on!r}{did_you_mean(on, EVENTS) or '; events: ' + ', '.join(EVENTS)}"))
    attribute, value, after = element.get("attribute"), element.get("value"), 0.0
    if on in _NEEDS_ATTRIBUTE and attribute is None:
        problems.append(problem_at(element, f"a {on!r} rule names the attribute it watches (attribute=\"...\")"))
    if on == "reached" and value is None:
        problems.append(problem_at(element, "a 'reached' rule names the value the attribute reaches (value=\"...\")"))
    if on != "reached" and value is not None:
        problems.append(problem_at(element, f"value= belongs to 'reached' rules, not to {on!r} ones"))
    if element.get("after") is not None:
        if on != "due":
            problems.append(problem_at(element, f"after= belongs to 'due' rules, not to {on!r} ones"))
        else:
            parsed = parse_duration(element.get("after"))
            if parsed is None:
                problems.append(problem_at(element, (f"after={element.get('after')!r} is not a duration;"
                                                     " write 90s, 30m, 24h, 3d or a number of seconds")))
            after = parsed or 0.0
    if on in ("created", "deleted") and attribute is not None:
        problems.append(problem_at(element, f"attribute= does not apply to {on!r} rules; use a condition (if=...)"))
    if len(problems) > before:
        return None
    where = _where(element)
    condition = element.get("if")
    description = element.findtext("description") or ""
    return Rule(
        name=element.get("name"), on=on, object=element.get("object"), where=where,
        actions=tuple(_action(action, problems) for action in element.iterchildren("action")),
        attribute=attribute, value=value, after=after,
        condition=Expr(condition, where) if condition is not None else None,
        enabled=element.get("enabled", "yes") == "yes", description=" ".join(description.split()),
    )


def _action(element: etree._Element, problems: list[Problem]) -> ActionCall:
    arguments: dict[str, Expr] = {}
    for arg in element.iterchildren("arg"):
        name = arg.get("name")
        if name in arguments:
            problems.append(problem_at(arg, f"action {element.get('name')!r} is given argument {name!r} twice"))
        arguments[name] = Expr(arg.get("value"), _where(arg))
    return ActionCall(name=element.get("name"), arguments=arguments, on_error=None, where=_where(element))


def _where(element: etree._Element) -> Where:
    return Where(element.base or "<string>", element.sourceline)
