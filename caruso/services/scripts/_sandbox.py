"""The sandbox under script expressions: a jinja2 environment that allows only what is listed.

jinja2's ImmutableSandboxedEnvironment blocks the well-known escapes, but it
works by *deny-listing* (no ``_`` attributes, no known-unsafe methods) and it
does not bound work at all: ``10**100000`` or a 50-million-character string are
computed happily. Script files may come from elsewhere, so this environment
turns the policy round:

- attributes: keys of mappings, the fields of a ``ScriptObject``, the loop
  variable's counters and a short list of data attributes and methods of
  str, dict, date, datetime and timedelta - nothing else, whatever its name;
- calls: only the functions handed out here (globals, allowed methods);
- filters, tests and globals: a curated set, replacing jinja2's defaults;
- statements: output, ``if``, ``for``, ``set x = ...`` and ``with``; no
  macros, includes, imports, blocks or block-``set`` (each could capture or
  repeat output the budget would not see);
- work: numbers, strings, containers and ranges are checked *before* an
  operation that could make them too big, loop iterations and output are
  counted, and calls, operators and loop iterations check a per-evaluation
  deadline (everything else does constant work).

jinja2 does not route ``~``, ``{% for %}`` or list literals through any hook,
so the compiler's tree is rewritten (``guard_tree``) to pass them through
internal filters that do the counting.

Refusals inside the hooks raise ``Denied`` or ``TooMuch``; the evaluating
wrapper in ``expressions.py`` turns them into ``SandboxViolation`` and
``ExpressionLimitExceeded`` with the script's file:line and the source.
"""

from __future__ import annotations

import enum
import functools
import itertools
import math
import operator
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
from jinja2 import nodes
from jinja2.filters import FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS
from jinja2.utils import pass_context, pass_environment
from jinja2.visitor import NodeTransformer

from caruso.errors import did_you_mean


@attrs.frozen
class Limits:
    """How much work one expression or template may do; every bound is checked before the work.

    Attributes:
        max_number: the largest magnitude a computed number may have.
        max_string: the longest string an expression may build, and the most
            text a template may output.
        max_items: the most items a range or a built list may have.
        max_iterations: the most loop iterations in one template evaluation.
        seconds: the time one evaluation may take (real time, not the
            injected clock: this bounds CPU, so it must see the CPU's time).
        max_source: the longest expression or template text accepted.
        max_depth: the deepest nesting of the parsed expression.
    """

    max_number: int = 10**30
    max_string: int = 64 * 1024
    max_items: int = 10_000
    max_iterations: int = 100_000
    seconds: float = 0.05
    max_source: int = 64 * 1024
    max_depth: int = 40


class Denied(Exception):
    """Internal: the expression reached for something not allowed (-> SandboxViolation)."""


class TooMuch(Exception):
    """Internal: the expression would exceed a limit (-> ExpressionLimitExceeded)."""


# --- values scripts may see ---------------------------------------------------------

_LEAF_TYPES = (type(None), bool, int, float, Decimal, str, date, datetime, time_of_day, timedelta)


def script_value(value: Any) -> Any:
    """``value`` as expressions may hold it: plain data, copied, nothing with behaviour.

    Containers are copied (lists and sets to tuples, mappings to dicts with str
    keys), enums become their value and UUIDs their text.

    Raises:
        TypeError: for anything else (an ORM object, a session, a function):
            wrap business objects in ``ScriptObject`` first.
    """
    if isinstance(value, _LEAF_TYPES) or type(value) is ScriptObject:
        return value
    if isinstance(value, enum.Enum):
        return script_value(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): script_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(script_value(item) for item in value)
    raise TypeError(
        f"a {type(value).__name__} cannot be given to script expressions; pass plain data"
        " (str, numbers, dates, lists, dicts) or wrap a business object in ScriptObject"
    )


class ScriptObject:
    """A read-only snapshot of a business object, as script expressions see it.

    Expressions read its fields as attributes (``customer.name``) or keys
    (``customer['name']``) and nothing else: no methods, no ORM state, so a
    script can never reach SQLAlchemy's session, registry or metadata behind
    the object. Values are copied at construction (``script_value``), so an
    expression never triggers a lazy load.
    """

    __slots__ = ("_kind", "_fields")

    def __init__(self, kind: str, fields: Mapping[str, Any]):
        object.__setattr__(self, "_kind", str(kind))
        object.__setattr__(
            self, "_fields", MappingProxyType({str(k): script_value(v) for k, v in fields.items()})
        )

    @classmethod
    def wrap(cls, obj: Any, names: Iterable[str], *, kind: str | None = None) -> ScriptObject:
        """Snapshot the attributes ``names`` of ``obj`` (a business object); kind defaults to its class name."""
        return cls(kind or type(obj).__name__, {name: getattr(obj, name) for name in names})

    @property
    def kind(self) -> str:
        """The business object's name, e.g. "Customer" (for messages)."""
        return self._kind

    @property
    def fields(self) -> Mapping[str, Any]:
        """The fields, read-only."""
        return self._fields

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not ScriptObject:
            return NotImplemented
        return (self._kind, dict(self._fields)) == (other._kind, dict(other._fields))

    def __hash__(self) -> int:
        return hash((self._kind, tuple(self._fields)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a ScriptObject ({self._kind}) is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a ScriptObject ({self._kind}) is read-only")

    def __repr__(self) -> str:
        return f"{self._kind}({', '.join(f'{k}={v!r}' for k, v in self._fields.items())})"

    __str__ = __repr__


monotonic = time.monotonic
OVERTIME = "took longer than the time allowed for one evaluation"


# --- sizes ---------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset)


def weight(value: Any, limit: int) -> int:
    """Roughly the length of ``str(value)``, counting shared parts each time they appear.

    Stops as soon as the count passes ``limit``, so a value that repeats one
    list inside itself a thousand times is measured in bounded time.
    """
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind in _CONTAINERS:
            total += 2 * len(item) + 2
            if total > limit:
                return total
            pending.extend(item)
        elif kind is dict:
            total += 4 * len(item) + 2
            if total > limit:
                return total
            pending.extend(item.keys())
            pending.extend(item.values())
        elif kind is ScriptObject:
            total += len(item.kind) + 4 * len(item) + 2
            pending.extend(item.fields.values())
        else:
            total += 8
        if total > limit:
            return total
    return total


class Checker:
    """The size checks every hook applies, bound to one engine's limits."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def result(self, value: Any) -> Any:
        """``value`` if it fits the limits; raises TooMuch otherwise."""
        kind = type(value)
        if kind is str:
            if len(value) > self.limits.max_string:
                raise TooMuch(f"a string of {len(value)} characters is longer than the {self.limits.max_string} allowed")
        elif kind is int or kind is float or kind is Decimal:
            self.number(value)
        elif kind in _CONTAINERS or kind is dict:
            self.container(value)
        return value

    def number(self, value: Any) -> None:
        try:
            too_big = not abs(value) <= self.limits.max_number and value == value  # NaN is harmless
        except ArithmeticError:  # a Decimal NaN refuses to compare
            too_big = False
        if too_big:
            raise TooMuch(f"a number this large is not allowed (the limit is {self.limits.max_number:.0e} in magnitude)")

    def container(self, value: Any) -> None:
        if len(value) > self.limits.max_items:
            raise TooMuch(f"{len(value)} items are more than the {self.limits.max_items} allowed")
        if weight(value, self.limits.max_string) > self.limits.max_string:
            raise TooMuch(f"the value is larger than the {self.limits.max_string} characters allowed")

    def text(self, value: Any) -> str:
        """``str(value)`` once its size is known to fit (None and undefined give "")."""
        if type(value) is str:
            return value
        if value is None or isinstance(value, Undefined):
            return ""
        if weight(value, self.limits.max_string) > self.limits.max_string:
            raise TooMuch(f"the value is too large to show (over {self.limits.max_string} characters)")
        return self.result(str(value))

    def repeated(self, sequence: Any, times: Any) -> None:
        """Refuse ``sequence * times`` before it is built when the result would be too big."""
        if not isinstance(times, int) or times <= 0:
            return
        if isinstance(sequence, str):
            if len(sequence) * times > self.limits.max_string:
                raise TooMuch(f"repeating a string {times} times makes more than the {self.limits.max_string} characters allowed")
        elif type(sequence) in _CONTAINERS:
            if len(sequence) * times > self.limits.max_items:
                raise TooMuch(f"repeating a list {times} times makes more than the {self.limits.max_items} items allowed")
            if weight(sequence, self.limits.max_string) * times > self.limits.max_string:
                raise TooMuch(f"repeating this list {times} times makes a value larger than {self.limits.max_string} characters")

    def joined(self, left: Any, right: Any) -> None:
        """Refuse ``left + right`` of two strings or lists before it is built when too big."""
        if isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > self.limits.max_string:
                raise TooMuch(f"joining these strings makes more than the {self.limits.max_string} characters allowed")
        elif type(left) in _CONTAINERS and type(right) in _CONTAINERS:
            limits = self.limits
            if len(left) + len(right) > limits.max_items:
                raise TooMuch(f"joining these lists makes more than the {limits.max_items} items allowed")
            if weight(left, limits.max_string) + weight(right, limits.max_string) > limits.max_string:
                raise TooMuch(f"joining these lists makes a value larger than {limits.max_string} characters")

    def power(self, base: Any, exponent: Any) -> None:
        """Refuse ``base ** exponent`` before it is computed when the result would be too big."""
        numbers = (int, float, Decimal)
        if not (isinstance(base, numbers) and isinstance(exponent, numbers)):
            return
        try:
            if abs(base) <= 1 or exponent <= 0:
                return
            if isinstance(base, int) and isinstance(exponent, int):
                # base ** exponent has about (bits of base - 1) * exponent bits: decide before computing.
                small_enough = (base.bit_length() - 1) * exponent <= self.limits.max_number.bit_length()
            elif isinstance(base, Decimal) or isinstance(exponent, Decimal):
                small_enough = exponent <= 4096  # Decimal powers get slow with huge exponents
            else:
                return  # a float power is one machine operation; the result is checked
        except ArithmeticError:
            return  # NaN and friends: the operation itself decides
        if not small_enough:
            raise TooMuch(f"{base} ** {exponent} would be a number far beyond the limit of {self.limits.max_number:.0e}")


# --- what expressions may read and call ---------------------------------------------


class Function:
    """A callable the sandbox hands out; the only kind of thing an expression may call."""

    __slots__ = ("function", "name")

    def __init__(self, function: Callable[..., Any], name: str):
        self.function = function
        self.name = name

    def __repr__(self) -> str:
        return f"<function {self.name}>"


_DATA = object()  # marks an attribute read as data rather than handed out as a method

_LOOP_ATTRIBUTES = frozenset(
    ("index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem", "depth", "depth0")
)


def _safe_replace(checker: Checker) -> Callable[..., str]:
    def replace(text: str, old: str, new: str, count: int = -1) -> str:
        if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
            raise TypeError("replace() works on text only")
        occurrences = text.count(old) if old else len(text) + 1
        if 0 <= count < occurrences:
            occurrences = count
        if len(text) + occurrences * (len(new) - len(old)) > checker.limits.max_string:
            raise TooMuch(f"the replacement makes more than the {checker.limits.max_string} characters allowed")
        return text.replace(old, new, count)

    return replace


def _methods(checker: Checker) -> dict[type, dict[str, Any]]:
    """Per type, the attributes an expression may read: ``_DATA`` or a method factory."""

    def method(name: str) -> Callable[[Any], Function]:
        return lambda obj: Function(getattr(obj, name), name)

    replace = _safe_replace(checker)
    text = {
        name: method(name)
        for name in (
            "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "title",
            "capitalize", "casefold", "isdigit", "isalpha", "isalnum", "isspace", "islower",
            "isupper", "split", "count", "find",
        )
    }
    text["replace"] = lambda obj: Function(functools.partial(replace, obj), "replace")
    day = {name: _DATA for name in ("year", "month", "day")}
    day.update({name: method(name) for name in ("weekday", "isoweekday", "isoformat")})
    moment = dict(day)
    moment.update({name: _DATA for name in ("hour", "minute", "second")})
    moment["date"] = method("date")
    return {
        str: text,
        dict: {name: method(name) for name in ("get", "keys", "values", "items")},
        date: day,
        datetime: moment,
        timedelta: {"days": _DATA, "seconds": _DATA, "total_seconds": method("total_seconds")},
    }


def _to_date(value: Any) -> date:
    """A date from a date, a datetime (its date) or ISO text ("2026-01-05")."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; write dates as YYYY-MM-DD")


def _days_between(start: Any, end: Any) -> int:
    """Whole days from ``start`` to ``end`` (negative when end is earlier); times of day ignored."""
    return (_to_date(end) - _to_date(start)).days


def _add_days(day: Any, days: Any) -> Any:
    """``day`` plus ``days`` days (a date stays a date, a datetime a datetime)."""
    if not isinstance(days, (int, float)) or isinstance(days, bool):
        raise TypeError(f"add_days needs a number of days, not {days!r}")
    if not isinstance(day, date):
        day = _to_date(day)
    return day + timedelta(days=days)


def _functions(checker: Checker) -> dict[str, Function]:
    def bounded_range(*arguments: Any) -> range:
        numbers = range(*arguments)
        try:
            size = len(numbers)
        except OverflowError:
            size = math.inf
        if size > checker.limits.max_items:
            raise TooMuch(f"a range of {size} numbers is more than the {checker.limits.max_items} allowed")
        return numbers

    return {
        "range": Function(bounded_range, "range"),
        "days_between": Function(_days_between, "days_between"),
        "add_days": Function(_add_days, "add_days"),
        "to_date": Function(_to_date, "to_date"),
    }


# --- filters and tests ---------------------------------------------------------------

_JINJA_FILTERS = (
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last",
    "length", "list", "lower", "max", "min", "reverse", "round", "sort", "title", "trim",
    "truncate", "unique", "upper", "wordcount",
)
_TEXT_FILTERS = frozenset(("capitalize", "join", "lower", "title", "trim", "truncate", "upper", "wordcount"))
"""Filters that turn their whole input into text first: its size is checked before."""

_MAX_ROUND_PRECISION = 30
"""Decimal places ``round`` may keep: beyond any money or measurement a script shows."""

_JINJA_TESTS = (
    "boolean", "defined", "divisibleby", "eq", "equalto", "even", "false", "float", "ge",
    "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping",
    "ne", "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined", "upper",
)


def _guarded(function: Callable[..., Any], checker: Checker, text_input: bool) -> Callable[..., Any]:
    """A filter that checks its input's size when it makes text of it, and its result.

    Filters do bounded work on bounded values, so they check no deadline.
    """

    @functools.wraps(function)  # keeps jinja2's pass_environment / pass_eval_context marks
    def guarded(*arguments: Any, **keywords: Any) -> Any:
        if text_input:
            subject = arguments[1] if getattr(function, "jinja_pass_arg", None) else arguments[0]
            if type(subject) is not str:
                checker.text(subject)
        return checker.result(function(*arguments, **keywords))

    return guarded


def _filters(checker: Checker) -> dict[str, Callable[..., Any]]:
    filters = {name: _guarded(FILTERS[name], checker, name in _TEXT_FILTERS) for name in _JINJA_FILTERS}
    replace = _safe_replace(checker)

    def replace_filter(value: Any, old: str, new: str, count: int | None = None) -> str:
        return replace(checker.text(value), str(old), str(new), -1 if count is None else count)

    def string(value: Any) -> str:
        return checker.text(value)

    @pass_environment
    def total(environment: Any, values: Iterable[Any], attribute: str | None = None, start: Any = 0) -> Any:
        """Like jinja2's sum, for numbers only: summing lists would take quadratic time."""
        if attribute is not None:
            values = (environment.getitem(value, attribute) for value in values)
        result = start
        for value in values:
            if not isinstance(value, (int, float, Decimal)) or not isinstance(result, (int, float, Decimal)):
                raise TypeError("sum adds numbers only")
            result = checker.result(result + value)
        return result

    def format_date(value: Any, pattern: str = "%Y-%m-%d") -> str:
        if not isinstance(pattern, str) or len(pattern) > 100:
            raise ValueError("a date format is text of at most 100 characters, e.g. '%d-%m-%Y'")
        if not isinstance(value, date):
            value = _to_date(value)
        return value.strftime(pattern)

    @pass_environment
    def join(environment: Any, values: Iterable[Any], separator: str = "", attribute: str | None = None) -> str:
        """Like jinja2's join, with the size of the result known before it is built."""
        items = list(itertools.islice(values, limits.max_items + 1))
        checker.container(items)
        if attribute is not None:
            items = [environment.getitem(item, attribute) for item in items]
        texts = [checker.text(item) for item in items]
        separator = checker.text(separator)
        size = sum(map(len, texts)) + len(separator) * max(len(texts) - 1, 0)
        if size > limits.max_string:
            raise TooMuch(f"join makes more than the {limits.max_string} characters allowed")
        return separator.join(texts)

    def round_filter(value: Any, precision: int = 0, method: str = "common") -> Any:
        """Like jinja2's round, with the precision bounded (it would compute 10**precision)."""
        if type(precision) is not int or not 0 <= precision <= _MAX_ROUND_PRECISION:
            raise ValueError(f"round takes a precision from 0 to {_MAX_ROUND_PRECISION}")
        return FILTERS["round"](value, precision, method)

    limits = checker.limits
    for name, function in (("replace", replace_filter), ("string", string), ("sum", total), ("date", format_date),
                           ("join", join), ("round", round_filter)):
        filters[name] = _guarded(function, checker, text_input=False)
    return filters


# Filters the compiler inserts; not available to script authors by name.
CONCAT, LOOP, CONTAINER = "caruso_concat", "caruso_loop", "caruso_container"


def _internal_filters(checker: Checker) -> dict[str, Callable[..., Any]]:
    limits = checker.limits

    def concat(parts: list[Any]) -> str:
        texts = [part if type(part) is str else checker.text(part) for part in parts]
        if sum(map(len, texts)) > limits.max_string:
            raise TooMuch(f"joining with ~ makes more than the {limits.max_string} characters allowed")
        return "".join(texts)

    @pass_context
    def loop(context: ScriptContext, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            context.iterations += 1
            if context.iterations > limits.max_iterations:
                raise TooMuch(f"loops ran more than the {limits.max_iterations} iterations allowed")
            if monotonic() > context.deadline:
                raise TooMuch(OVERTIME)
            yield item

    def container(value: Any) -> Any:
        checker.container(value)
        return value

    return {CONCAT: concat, LOOP: loop, CONTAINER: container}


def _finalizer(checker: Checker) -> Callable[[Any], str]:
    limit = checker.limits.max_string

    @pass_context  # also keeps jinja2 from running it while compiling
    def finalize(context: ScriptContext, value: Any) -> str:
        """Every ``{{ ... }}`` output goes through here: None shows as "", output is counted."""
        text = checker.text(value)
        context.output += len(text)
        if context.output > limit:
            raise TooMuch(f"the text is longer than the {limit} characters allowed")
        return text

    return finalize


# --- the environment ------------------------------------------------------------------

_NO_NAMES: frozenset[str] = frozenset()


class ScriptContext(Context):
    """jinja2's evaluation context, made in a fraction of the time, and the evaluation's budget.

    One is made per evaluation, so it carries what the evaluation has used: the
    hooks that check the deadline (calls, operators, loop iterations) and count
    the output are all handed the context.

    The functions are the context's own variables, so a script's names cannot
    replace them; the namespace is used as it is, never copied. The evaluation
    context is shared: only ``{% autoescape %}``, refused here, changes it.
    """

    def __init__(self, environment: ScriptEnvironment, namespace: Mapping[str, Any], deadline: float):
        self.deadline = deadline
        self.iterations = 0
        self.output = 0
        self.parent = namespace
        self.vars = environment.globals.copy()
        self.environment = environment
        self.eval_ctx = environment.eval_context
        self.exported_vars = set()
        self.name = None
        self.globals_keys = _NO_NAMES
        self.blocks = {}


_BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}
_UNARY = {"+": operator.pos, "-": operator.neg}


class ScriptEnvironment(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with an allow-list policy and bounded work (see module doc)."""

    intercepted_binops = frozenset(_BINARY)
    intercepted_unops = frozenset(_UNARY)

    def __init__(self, limits: Limits):
        # Constant folding would run filters while compiling, outside any budget: off.
        super().__init__(optimized=False, autoescape=False, cache_size=0)
        self.checker = checker = Checker(limits)
        self.limits = limits
        self.max_number = limits.max_number
        self.methods = _methods(checker)
        self.globals = dict(_functions(checker))
        self.filters = _filters(checker)
        self.public_filters = frozenset(self.filters)
        self.filters.update(_internal_filters(checker))
        self.tests = {name: TESTS[name] for name in _JINJA_TESTS}
        self.finalize = _finalizer(checker)
        self.eval_context = EvalContext(self)

    # jinja2's own checks are not used: everything goes through the hooks below.
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def is_safe_callable(self, obj: Any) -> bool:
        return False

    # getattr and getitem do constant work and check no deadline: they run on every
    # name in every condition, and anything that repeats them runs through a loop,
    # a call or an operator, which check.
    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is ScriptObject:
            return self._field(obj, attribute)
        if kind is dict or isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        allowed = self._allowed(obj, kind)
        if allowed is not None:
            found = allowed.get(attribute) if type(attribute) is str else None
            if found is _DATA:
                return getattr(obj, attribute)
            if found is not None:
                return found(obj)
        if isinstance(obj, Mapping):
            return self.undefined(obj=obj, name=attribute)
        if kind is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        if isinstance(obj, Undefined):
            if type(attribute) is str and not attribute.startswith("_"):
                return getattr(obj, attribute)  # raises jinja2's clear "x is undefined"
        raise Denied(f"{_describe(obj)} has no attribute {attribute!r} that scripts may use")

    def getitem(self, obj: Any, argument: Any) -> Any:
        kind = type(obj)
        if kind is dict or kind is list or kind is tuple or kind is str or kind is range:
            try:
                return obj[argument]
            except (KeyError, IndexError, TypeError):
                if kind is dict or type(argument) is not str:
                    return self.undefined(obj=obj, name=argument)
        if type(argument) is str:
            return self.getattr(obj, argument)
        if isinstance(obj, Mapping):
            try:
                return obj[argument]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=argument)
        if isinstance(obj, Undefined):
            return obj[argument]  # raises jinja2's clear "x is undefined"
        raise Denied(f"{_describe(obj)} cannot be indexed with {argument!r} in scripts")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if type(__obj) is Function:
            kwargs.pop("_loop_vars", None)  # jinja2 passes its scope to calls; our functions do not want it
            kwargs.pop("_block_vars", None)
            if monotonic() > __context.deadline:
                raise TooMuch(OVERTIME)
            return __self.checker.result(__obj.function(*args, **kwargs))
        if isinstance(__obj, Undefined):
            return __obj(*args, **kwargs)  # raises jinja2's clear "x is undefined"
        raise Denied(f"{_describe(__obj)} cannot be called; scripts may call {', '.join(sorted(__self.globals))}"
                     " and the text, date and dict methods listed in docs/script-expressions.md")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if monotonic() > context.deadline:
            raise TooMuch(OVERTIME)
        left_kind, right_kind = type(left), type(right)
        if (left_kind is int or left_kind is float) and (right_kind is int or right_kind is float) \
                and operator != "**":  # the common case: plain arithmetic, only the result to check
            result = _BINARY[operator](left, right)
            return result if -self.max_number <= result <= self.max_number else self.checker.result(result)
        checker = self.checker
        if operator == "*":
            checker.repeated(left, right)
            checker.repeated(right, left)
        elif operator == "+":
            checker.joined(left, right)
        elif operator == "**":
            checker.power(left, right)
        elif operator == "%" and isinstance(left, str):
            raise Denied("formatting text with % is not available in scripts; join text with ~ instead")
        return checker.result(_BINARY[operator](left, right))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        return _UNARY[operator](arg)

    def _allowed(self, obj: Any, kind: type) -> dict[str, Any] | None:
        allowed = self.methods.get(kind)
        if allowed is None:
            if isinstance(obj, datetime):
                allowed = self.methods[datetime]
            elif isinstance(obj, date):
                allowed = self.methods[date]
            elif isinstance(obj, str):
                allowed = self.methods[str]
        return allowed

    def _field(self, obj: ScriptObject, name: Any) -> Any:
        try:
            return obj.fields[name]
        except (KeyError, TypeError):
            raise Denied(
                f"{obj.kind} has no field {name!r}{did_you_mean(str(name), obj.fields)};"
                f" its fields: {', '.join(obj.fields) or '(none)'}"
            ) from None


def _describe(obj: Any) -> str:
    if type(obj) is Function:
        return f"the function {obj.name}"
    if type(obj) is ScriptObject:
        return obj.kind
    if isinstance(obj, Undefined):
        return "an undefined value"
    return f"a {type(obj).__name__} value"


# --- compile-time checks and rewriting ------------------------------------------------

_ALLOWED_NODES = frozenset((
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.For, nodes.If, nodes.Assign, nodes.With,
    nodes.Name, nodes.Const, nodes.Tuple, nodes.List, nodes.Dict, nodes.Pair, nodes.Keyword,
    nodes.CondExpr, nodes.Filter, nodes.Test, nodes.Call, nodes.Getitem, nodes.Getattr, nodes.Slice,
    nodes.Concat, nodes.Compare, nodes.Operand, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Add,
    nodes.Sub, nodes.Mod, nodes.Pow, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
))

_STATEMENT_NAMES = {
    nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}", nodes.FilterBlock: "{% filter %}",
    nodes.AssignBlock: "a block {% set %} (write {% set name = ... %})", nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}", nodes.Include: "{% include %}", nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}", nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.NSRef: "namespace attributes",
}


def check_tree(tree: nodes.Node, environment: ScriptEnvironment) -> None:
    """Refuse, before any code is generated, what the sandbox never allows.

    Raises:
        Denied: a statement, filter, test or ``_`` attribute scripts may not use.
        TooMuch: nesting deeper than the limit, or a number literal beyond it.
    """
    limits = environment.limits
    pending: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > limits.max_depth:
            raise TooMuch(f"the expression is nested more than {limits.max_depth} levels deep")
        kind = type(node)
        if kind not in _ALLOWED_NODES:
            shown = _STATEMENT_NAMES.get(kind, kind.__name__)
            raise Denied(f"{shown} is not available in scripts")
        if kind is nodes.Getattr and node.attr.startswith("_"):
            raise Denied(f"the attribute {node.attr!r} is not available: names starting with _ are never allowed")
        if kind is nodes.Getitem and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) \
                and node.arg.value.startswith("_"):
            raise Denied(f"the key {node.arg.value!r} is not available: names starting with _ are never allowed")
        if kind is nodes.Filter and node.name not in environment.public_filters:
            hint = did_you_mean(node.name, environment.public_filters) \
                or f"; available: {', '.join(sorted(environment.public_filters))}"
            raise Denied(f"there is no filter {node.name!r} in scripts{hint}")
        if kind is nodes.Test and node.name not in environment.tests:
            raise Denied(f"there is no test {node.name!r} in scripts{did_you_mean(node.name, environment.tests)}")
        if kind is nodes.Name and node.name == "self":
            raise Denied("'self' (the template itself) is not available in scripts")
        if kind is nodes.For and node.recursive:
            raise Denied("recursive loops are not available in scripts")
        if kind is nodes.Const and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            environment.checker.number(node.value)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())


class _Guard(NodeTransformer):
    """Route the work jinja2 does not intercept through the budgeted internal filters."""

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        """Literal text is output too: as a constant it goes through ``finalize`` and is counted.

        jinja2 writes template data straight out, so a loop around a long literal
        would otherwise repeat it past every output limit.
        """
        self.generic_visit(node)
        node.nodes = [
            nodes.Const(child.data, lineno=child.lineno) if isinstance(child, nodes.TemplateData) else child
            for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        parts = [self.visit(part) for part in node.nodes]
        return _internal(nodes.List(parts, lineno=node.lineno), CONCAT)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _internal(node.iter, LOOP)
        return node

    def _container(self, node: nodes.Node) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load" or _is_literal(node):
            return node  # an assignment target, or literals only: bounded by the source already
        return _internal(node, CONTAINER)

    visit_List = visit_Tuple = visit_Dict = _container


_LITERALS = (nodes.Const, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair)


def _is_literal(node: nodes.Node) -> bool:
    return all(isinstance(child, _LITERALS) for child in node.find_all(nodes.Node))


def _internal(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def guard_tree(tree: nodes.Node) -> nodes.Node:
    """The tree with concatenation, loops and built containers budgeted (after ``check_tree``)."""
    return _Guard().visit(tree)
