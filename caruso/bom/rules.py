"""Types and rules of attributes, compiled once into checks that run on every save.

A save is refused as a whole when any value breaks its attribute's type or a
rule of the model; the ``ValidationError`` lists every refused value with its
object, attribute and value. The checks run in Python before any SQL is sent,
so every backend refuses the same values with the same message (left to the
databases, SQLite would store a string in an integer column and PostgreSQL
would refuse it with a driver error).

Compiling happens when models load: a bound written wrongly or a regular
expression that does not compile is a model problem at file:line, not a
surprise at the first save.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Mapping

import attrs
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import TypeEngine

from caruso.bom.definitions import AttributeDef, ObjectDef, RuleDef
from caruso.bom.values import parse_value
from caruso.errors import Problem, Violation, did_you_mean
from caruso.patterns import Pattern, PatternTimeout

__all__ = ["Validator", "compile_validator"]

Check = Callable[[object], "str | None"]
"""Returns None when the value passes, else why it does not (the error's explanation)."""

INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
_ORDERED_TYPES = ("integer", "decimal", "date", "datetime")
_TEXT_TYPES = ("string", "text", "enum")


def _expected(value: object, wanted: str) -> str:
    return f"is a {type(value).__name__}, expected {wanted}"


def _coercion_check(coerce: Callable[[object], object]) -> Check:
    """A check by the storage type's own ``coerce``: the messages match what storage refuses."""

    def check(value):
        try:
            coerce(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def _type_check(attribute: AttributeDef, column_type: TypeEngine) -> Check:
    """The check that a value fits the attribute's portable type on every backend."""
    kind = attribute.type
    if kind == "string":
        length = column_type.length

        def check(value):
            if type(value) is not str:
                return _expected(value, "text (str)")
            if len(value) > length:
                return f"is {len(value)} characters long; at most {length} fit"
            return None

    elif kind == "text":

        def check(value):
            return None if type(value) is str else _expected(value, "text (str)")

    elif kind == "integer":

        def check(value):
            if type(value) is not int:
                return _expected(value, "a whole number (int)")
            if not INTEGER_MIN <= value <= INTEGER_MAX:
                return "does not fit in an integer column (32 bits); use a decimal attribute"
            return None

    elif kind == "decimal":
        coerced = _coercion_check(column_type.coerce)
        quantum = decimal.Decimal(1).scaleb(-column_type.scale)
        limit = decimal.Decimal(10) ** (column_type.precision - column_type.scale)

        def check(value):
            kind = type(value)
            if kind is decimal.Decimal:
                try:  # the common case, cheaply: the value already has its places and fits
                    if value.quantize(quantum) == value and -limit < value < limit:
                        return None
                except decimal.InvalidOperation:
                    pass
            elif kind is not int:
                return _expected(value, "a decimal.Decimal")
            return coerced(value)  # the column type's own conversion decides, and explains

    elif kind == "boolean":

        def check(value):
            return None if type(value) is bool else _expected(value, "True or False")

    elif kind == "date":

        def check(value):
            return None if type(value) is dt.date else _expected(value, "a datetime.date")

    elif kind in ("datetime", "json"):
        check = _coercion_check(column_type.coerce)

    else:  # enum
        allowed = frozenset(attribute.values)
        listed = ", ".join(attribute.values)

        def check(value):
            return None if value in allowed else f"is not one of the values {listed}"

    return check


def _range_check(rule: RuleDef, attribute: AttributeDef) -> Check:
    bounds = {k: parse_value(attribute.type, v) for k, v in rule.options.items()}
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {rule.options['min']} is above max {rule.options['max']}")

    def check(value):
        if low is not None and value < low:
            return rule.message or f"is below the minimum {rule.options['min']}"
        if high is not None and value > high:
            return rule.message or f"is above the maximum {rule.options['max']}"
        return None

    return check


def _pattern_check(rule: RuleDef, attribute: AttributeDef) -> Check:
    try:
        pattern = Pattern(rule.options["regex"])
    except ValueError as exc:
        raise ValueError(f"regex {rule.options['regex']!r} does not compile: {exc}") from None

    def check(value):
        try:
            matches = pattern.fullmatch(value)
        except PatternTimeout as exc:
            return str(exc)
        if not matches:
            return rule.message or f"does not match the pattern {pattern.source}"
        return None

    return check


def _allowed_check(rule: RuleDef, attribute: AttributeDef) -> Check:
    allowed = frozenset(parse_value(attribute.type, v, values=attribute.values) for v in rule.options["values"])
    listed = ", ".join(rule.options["values"])

    def check(value):
        return None if value in allowed else (rule.message or f"is not one of: {listed}")

    return check


def _not_blank(message: str) -> Check:
    """A <required> rule also refuses empty text: a blank name is as missing as no name."""

    def check(value):
        return message if value == "" else None

    return check


_RULE_TYPES: dict[str, tuple[tuple[str, ...] | None, Callable[[RuleDef, AttributeDef], Check]]] = {
    "range": (_ORDERED_TYPES, _range_check),
    "pattern": (_TEXT_TYPES, _pattern_check),
    "allowed": (None, _allowed_check),
}


@attrs.frozen
class _AttributePlan:
    key: str
    required: str | None  # the message when a value is missing, None when it may be
    checks: tuple[Check, ...]


@attrs.frozen
class _ReferencePlan:
    name: str
    keys: tuple[str, ...]
    message: str


class Validator:
    """Every check of one business object, run on values about to be saved."""

    def __init__(self, object_name: str, attributes: Iterable[_AttributePlan], references: Iterable[_ReferencePlan]):
        self.object_name = object_name
        self._attributes = tuple(attributes)
        self._references = tuple(references)
        self._plans = tuple((p.key, p.required, p.checks) for p in self._attributes)

    @property
    def keys(self) -> tuple[str, ...]:
        """The attribute keys that have checks (to find what changed on an update)."""
        return tuple(p.key for p in self._attributes) + tuple(
            k for p in self._references for k in (p.name, *p.keys)
        )

    def violations(self, values: Mapping[str, object], *, only_present: bool = False) -> list[Violation]:
        """What is wrong with ``values`` (attribute key -> value).

        Args:
            values: a new object's values, or what changed on an update.
            only_present: check only the keys present (an update), instead of
                treating a missing key as a missing value (an insert).
        """
        found: list[Violation] = []
        get = values.get
        # This loop runs for every row of a bulk insert: plain tuples, local names.
        for key, required, checks in self._plans:
            value = get(key)
            if value is None:
                if required and not (only_present and key not in values):
                    found.append(Violation(self.object_name, key, None, required))
                continue
            for check in checks:
                message = check(value)
                if message is not None:
                    if not isinstance(value, ClauseElement):  # a SQL expression is the database's to judge
                        found.append(Violation(self.object_name, key, value, message))
                    break
        for plan in self._references:
            if plan.name in values:
                missing = values[plan.name] is None
            elif only_present and not any(k in values for k in plan.keys):
                continue
            else:
                missing = any(values.get(k) is None for k in plan.keys)
            if missing:
                found.append(Violation(self.object_name, plan.name, None, plan.message))
        return found


def compile_validator(
    definition: ObjectDef,
    column_types: Mapping[str, TypeEngine | None],
    reference_keys: Mapping[str, tuple[str, ...]],
    generated: Iterable[str] = (),
) -> tuple[Validator, list[Problem]]:
    """The validator of one object: its attributes' types, required flags and rules.

    Args:
        definition: the object, extensions applied.
        column_types: attribute name -> its column type (decimal and datetime
            checks reuse the type's own conversion, so they cannot disagree).
        reference_keys: reference name -> the attribute keys of its foreign key.
        generated: attributes the database fills (a generated key): never missing.

    Returns:
        The validator, and the problems of rules that do not fit their attribute.
    """
    problems: list[Problem] = []
    checks: dict[str, list[Check]] = {}
    required: dict[str, str | None] = {}
    generated = set(generated)
    for attribute in definition.attributes:
        column_type = column_types.get(attribute.name)  # None: its type is a problem already reported
        checks[attribute.name] = [_type_check(attribute, column_type)] if column_type is not None else []
        needed = (attribute.required or attribute.primary_key) and attribute.name not in generated
        required[attribute.name] = "is required" if needed else None
    references = {r.name: "is required" if r.required else None for r in definition.references}
    for name, keys in reference_keys.items():
        for key in keys:
            if required.get(key):  # a key column the reference fills in at flush (legacy order lines)
                required[key] = None
                references[name] = references[name] or "is required"

    for rule in definition.members.rules:
        attribute = definition.attribute(rule.attribute)
        if rule.kind == "required":
            message = rule.message or "is required"
            if attribute is not None:
                required[attribute.name] = message
                if attribute.type in _TEXT_TYPES:
                    checks[attribute.name].insert(0, _not_blank(message))
            elif rule.attribute in references:
                references[rule.attribute] = message
            else:
                problems.append(_unknown(rule, definition))
            continue
        if attribute is None:
            problems.append(_unknown(rule, definition))
            continue
        types, build = _RULE_TYPES[rule.kind]
        if types is not None and attribute.type not in types:
            problems.append(rule.where.problem(
                f"a {rule.kind} rule does not apply to {definition.name}.{attribute.name}"
                f" of type {attribute.type} (it applies to {', '.join(types)})"
            ))
            continue
        try:
            checks[attribute.name].append(build(rule, attribute))
        except ValueError as exc:
            problems.append(rule.where.problem(f"{definition.name}.{attribute.name}: {exc}"))

    validator = Validator(
        definition.name,
        (_AttributePlan(name, required[name], tuple(checks[name])) for name in checks),
        (_ReferencePlan(name, tuple(reference_keys[name]), message)
         for name, message in references.items() if message),
    )
    return validator, problems


def _unknown(rule: RuleDef, definition: ObjectDef) -> Problem:
    names = [a.name for a in definition.attributes] + [r.name for r in definition.references]
    return rule.where.problem(
        f"{definition.name} has no attribute {rule.attribute!r}{did_you_mean(rule.attribute, names)}"
    )
