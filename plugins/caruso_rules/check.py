"""Whether rules mean something in an application: objects, attributes, actions, expressions.

The same checks run in ``caruso check`` (from the model files, nothing started)
and when the rules service starts (from the running model), so a rule that
names an unknown object or attribute is refused at its file:line either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from caruso.errors import Problem, did_you_mean
from caruso.services.scripts.model import Expr

from caruso_rules.model import Rule

__all__ = ["NAMESPACE", "check_rules", "object_attributes"]

NAMESPACE = ("object", "old", "changed", "now", "rule")
"""What a rule's condition and arguments see (docs/rules.md#what-a-rule-sees)."""

_TIMES = ("date", "datetime")


def object_attributes(definition: Any, keys: Iterable[str] = ()) -> dict[str, str]:
    """Attribute name -> portable type of a business object's definition (``ObjectDef``),
    with its references (type ``reference``) and their key attributes (``keys``, type ``key``)."""
    found = {attribute.name: attribute.type for attribute in definition.attributes}
    found.update((reference.name, "reference") for reference in definition.members.references)
    found.update((key, "key") for key in keys if key not in found)
    return found


def check_rules(rules: Iterable[Rule], *, objects: Mapping[str, Mapping[str, str]],
                actions: Mapping[str, Any] | None, engine: Any) -> list[Problem]:
    """Every finding in ``rules``, each at its file:line.

    Args:
        objects: business-object name -> attribute name -> type (``object_attributes``).
        actions: the registered actions by name (``ActionDefinition``); None skips that check.
        engine: the expression engine (parses conditions and arguments).
    """
    problems: list[Problem] = []
    for rule in rules:
        problems.extend(_check_rule(rule, objects, actions, engine))
    return problems


def _check_rule(rule: Rule, objects: Mapping[str, Mapping[str, str]], actions: Mapping[str, Any] | None,
                engine: Any) -> list[Problem]:
    found: list[Problem] = []

    def problem(where: Any, message: str) -> None:
        found.append(Problem(where.file, where.line, f'<rule name="{rule.name}">: {message}'))

    attributes = objects.get(rule.object)
    if attributes is None:
        problem(rule.where, f"no business object {rule.object!r}{_suggest(rule.object, objects)}")
    elif rule.attribute is not None:
        kind = attributes.get(rule.attribute)
        if kind is None:
            problem(rule.where, f"{rule.object} has no attribute {rule.attribute!r}{_suggest(rule.attribute, attributes)}")
        elif rule.on == "due" and kind not in _TIMES:
            problem(rule.where, f"a 'due' rule counts from a date or datetime attribute; {rule.object}.{rule.attribute}"
                                f" is {kind}")
    expressions: list[tuple[Expr, str]] = []
    if rule.condition is not None:
        expressions.append((rule.condition, "condition"))
    for call in rule.actions:
        definition = actions.get(call.name) if actions is not None else None
        if actions is not None and definition is None:
            problem(call.where, f"unknown action {call.name!r}{_suggest(call.name, actions)}")
        elif definition is not None:
            for message in definition.argument_problems(call.arguments):
                problem(call.where, f"action {call.name!r}: {message}")
        expressions.extend((expr, "value") for expr in call.arguments.values())
    for expr, kind in expressions:
        reason = engine.syntax_error(expr.source, kind)
        if reason is not None:
            problem(expr.where, f"{kind} {expr.source!r}: {reason}")
        elif attributes is not None:
            for name, attribute in engine.attributes_read(expr.source, kind, ("object", "old")):
                if attribute not in attributes:
                    problem(expr.where, f"{name}.{attribute}: {rule.object} has no attribute {attribute!r}"
                                        f"{_suggest(attribute, attributes)}")
    return found


def _suggest(name: str, names: Iterable[str]) -> str:
    names = sorted(names)
    return did_you_mean(name, names) or ("; known: " + ", ".join(names) if names else "")
