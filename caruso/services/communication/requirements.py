"""Skill requirements: which agents may take a queue's interactions, as one line of text.

A queue names the agents it may offer its interactions to with an expression
modelled on Twilio TaskRouter's::

    skills HAS 'billing' AND level >= 5 AND 'nl' IN languages
    skills.billing >= 5 OR (skills HAS 'general' AND NOT team == 'trainees')
    languages HAS 'en'
    team IN ['north', 'south']
    site != 'home'
    1 == 1

An empty or blank text means "any agent", as does ``1 == 1``.

What an expression reads
------------------------
The router evaluates the expression against each agent's *profile*:

``skills``
    the agent's skills, each with a level; a level of 1 or more means the agent
    has the skill. ``skills HAS 'billing'`` (or ``'billing' IN skills``) is true
    when the agent has it; ``skills.billing`` is the level, 0 when the agent
    does not have the skill, so ``skills.billing >= 5`` and
    ``skills.billing == 0`` both work.
``languages``
    the agent's language codes: ``languages HAS 'nl'`` or ``'nl' IN languages``.
    Codes are compared exactly as configured (``'nl'`` is not ``'NL'``).
``name`` and any other name
    the agent's name and the free attributes of its configuration (``level``,
    ``team``, ``site``...). ``a.b`` reads the key ``b`` of the attribute ``a``
    when ``a`` is a table; ``a.b.c`` goes one level deeper.

Operators
---------
========================= ==================================================
``X == v``, ``X != v``    equal, different
``<``, ``<=``, ``>``,     ordered comparisons, between two numbers or two
``>=``                    texts (texts compare alphabetically, by code point)
``X HAS v``               the collection ``X`` (a list, or ``skills`` /
                          ``languages``) contains ``v``
``v IN X``                the same, operands swapped; ``X`` may be a list
                          written in the text: ``team IN ['north', 'south']``
``X NOT HAS v``,          ``NOT (X HAS v)``, ``NOT (v IN X)``
``v NOT IN X``
``A AND B``, ``A && B``   both
``A OR B``, ``A || B``    either
``NOT A``, ``! A``        the opposite
``( ... )``               grouping
========================= ==================================================

``NOT`` binds tighter than ``AND``, and ``AND`` tighter than ``OR``:
``a == 1 OR b == 1 AND NOT c == 1`` is ``a == 1 OR (b == 1 AND (NOT c == 1))``.
Keywords are case-insensitive (``and``, ``And``, ``AND``; ``true``, ``TRUE``).
There is no arithmetic.

A comparison takes an attribute or a value on each side (``5 <= level`` is
``level >= 5``; two values, as in ``1 == 1``, are decided once, when the text
is read). ``HAS`` takes an attribute on its left and a value on its right;
``IN`` a value or attribute on its left and a list or attribute on its right,
with at least one written value (``team IN regions``, attribute against
attribute, is refused: the router could not tell which names it refers to).

Values
------
Integers (``5``, ``-1``), decimals (``4.5``), texts in single or double quotes
(``'billing'``, ``"O'Neil"``; inside, a backslash makes the next character
plain: ``'O\\'Neil'``, ``'a\\\\b'`` - there are no other escapes), ``true`` and
``false``, and lists of these: ``['north', 'south']``, ``[1, 2, 3]``.

Names
-----
A name is a letter or ``_`` followed by letters, digits, ``_`` and ``-``
(ASCII only): ``level``, ``first-line``. Since there is no arithmetic, a hyphen
is part of the name, in the dotted form too: ``skills.first-line >= 2`` is the
level in the skill ``first-line``. A skill whose name has other characters
(a space, a dot) can be tested with ``skills HAS 'first line'`` but has no
dotted form. ``and``, ``or``, ``not``, ``has``, ``in``, ``true`` and ``false``
are keywords, not names.

When an attribute is missing, or the types do not fit
-----------------------------------------------------
As in TaskRouter, an expression never fails while it is evaluated:

- a comparison with an attribute the agent does not have is false - ``!=``
  included: ``site != 'home'`` is false for an agent without a ``site``, while
  ``NOT site == 'home'`` is true for it;
- ``HAS`` / ``IN`` on a missing attribute, or on one that is not a collection,
  is false (so ``NOT HAS`` / ``NOT IN`` are true);
- a comparison between different kinds of value is false: a number and a text
  (``level >= 'x'``), a number and ``true`` (``true`` is not ``1``), a list and
  anything (test a list with ``HAS``). Numbers compare with numbers whatever
  their type (``5 == 5.0``); ``true`` and ``false`` compare only with ``==``
  and ``!=`` (``vip > true`` is refused when the text is read).

What the router learns from a requirement
-----------------------------------------
``parse_requirement`` returns a ``Requirement`` telling which ``skills``,
``languages`` and other ``attributes`` (top-level names only: ``a`` for
``a.b``) the text refers to, so the configuration check can report a skill
nobody defined. ``matches(profile)`` runs compiled closures, a few hundred
nanoseconds for a typical expression: it is called for every agent.

Errors
------
A text that does not parse raises ``RequirementError`` with the 1-based
``column`` of the fault (counted from the start of the text) and says what
was found and what was expected: ``expected a value after '>=', found the end
of the text``, ``unclosed parenthesis``, ``unknown operator '='; use '==' to
compare``, ``HAS needs an attribute on its left``. Texts longer than 2,000
characters, or nested more than 32 levels deep (each ``NOT``, and each ``AND`` /
``OR`` group inside another, is a level; extra parentheses are free), are
refused, which bounds the work of reading and matching one.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence, Set
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
from lark import Lark, Token, Transformer, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from caruso.errors import RequirementError

__all__ = ["Requirement", "parse_requirement"]

Profile = Mapping[str, Any]
"""What an expression is evaluated against: skills, languages, name and free attributes."""

_Test = Callable[[Profile], bool]

_MAX_LENGTH = 2000
_MAX_DEPTH = 32  # far beyond any real requirement; keeps the compiler's and matches()' recursion shallow


def _always(profile: Profile) -> bool:
    return True


def _never(profile: Profile) -> bool:
    return False


@attrs.frozen
class Requirement:
    """A parsed skill requirement: what it refers to, and a compiled test for one agent.

    Build one with ``parse_requirement``; ``Requirement.ANY`` matches every agent.
    Two requirements are equal when their texts are (the test is derived from the text).

    Attributes:
        source: the text as written.
        skills: the skill names it refers to (``skills HAS 'x'``, ``'x' IN skills``, ``skills.x``).
        languages: the language codes it refers to (``'nl' IN languages``, ``languages HAS 'nl'``).
        attributes: every other attribute it reads (``level``, ``team``, ``name``), top-level names.
    """

    ANY: ClassVar[Requirement]

    source: str
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    _test: _Test = attrs.field(kw_only=True, eq=False, repr=False)

    def matches(self, profile: Profile) -> bool:
        """Whether the agent with ``profile`` may take the interaction; never raises.

        Args:
            profile: ``skills`` (skill -> level), ``languages`` (a set of codes),
                ``name`` and the agent's free attributes.
        """
        return self._test(profile)


Requirement.ANY = Requirement("", test=_always)


def parse_requirement(text: str, *, where: str = "") -> Requirement:
    """Read a requirement expression once, so matching it later is cheap.

    Args:
        text: the expression; empty or blank means any agent.
        where: the descriptor key it came from, for the error message.

    Returns:
        The ``Requirement``; the same object for the same text (they are immutable).

    Raises:
        RequirementError: the text does not parse, is too long or nests too deeply;
            ``column`` locates the fault.
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"a requirement is a str, not {type(text).__name__}")
    try:
        return _compile(text)
    except _Refused as refused:
        source = text
        if len(text) > _MAX_LENGTH:  # the message quotes the source; keep it readable
            source = text[:60] + "..."
        raise RequirementError(refused.message, source=source, column=refused.column, where=where) from (
            refused.__cause__
        )


# --- the grammar ----------------------------------------------------------------------

# Keywords are regular expressions with a higher priority than names, and may not run on
# into a name: "and" is a keyword, "android" and "skills.and" are names.
_KEYWORD = r"(?![A-Za-z0-9_-])/i"
_KEYWORDS = frozenset({"and", "or", "not", "has", "in", "true", "false"})

_GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr ((_OR | _OROR) and_expr)*
?and_expr: not_expr ((_AND | _ANDAND) not_expr)*
?not_expr: (_NOT | _BANG) not_expr                  -> negation
         | atom
?atom: _LPAR or_expr _RPAR
     | operand (EQ | NE | LT | LE | GT | GE) operand -> comparison
     | operand _HAS operand                          -> has
     | operand (_NOT | _BANG) _HAS operand           -> has_not
     | operand _IN operand                           -> in_
     | operand (_NOT | _BANG) _IN operand            -> not_in
?operand: PATH                                      -> path
        | literal
        | LSQB (literal (_COMMA literal)*)? _RSQB     -> list
?literal: STRING                                    -> string
        | NUMBER                                    -> number
        | TRUE                                      -> true
        | FALSE                                     -> false

_AND.2: /and@
_OR.2: /or@
_NOT.2: /not@
_HAS.2: /has@
_IN.2: /in@
TRUE.2: /true@
FALSE.2: /false@
_ANDAND: "&&"
_OROR: "||"
_BANG: "!"
EQ: "=="
NE: "!="
LE: "<="
GE: ">="
LT: "<"
GT: ">"
_LPAR: "("
_RPAR: ")"
LSQB: "["
_RSQB: "]"
_COMMA: ","
PATH: /[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
STRING: /'(?:[^'\\]|\\.)*'/s | /"(?:[^"\\]|\\.)*"/s

%ignore /\s+/
""".replace("@", _KEYWORD)


@functools.cache
def _parser() -> Lark:
    """The LALR parser, built on first use (not at import: most processes never route)."""
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)


# --- compiling ------------------------------------------------------------------------


class _Refused(Exception):
    """Why a text is refused and where; parse_requirement turns it into a RequirementError."""

    def __init__(self, message: str, column: int | None):
        super().__init__(message)
        self.message = message
        self.column = column


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Requirement:
    """The Requirement for ``text``; cached, since every queue of a team tends to repeat one."""
    if len(text) > _MAX_LENGTH:
        raise _Refused(
            f"the requirement is {len(text)} characters long; at most {_MAX_LENGTH} are allowed"
            " (simplify it, or give the agents an attribute that sums it up)", None)
    if not text.strip():
        return Requirement.ANY if text == "" else Requirement(text, test=_always)
    tree = _parse(text)
    _check_depth(tree)
    try:
        condition = _Compiler().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _Refused):
            raise exc.orig_exc from None
        raise exc.orig_exc from exc  # a bug of ours: show it as what it is
    return Requirement(
        text, condition.skills, condition.languages, condition.attributes, test=condition.test)


def _parse(text: str) -> Tree:
    """Parse token by token, keeping the tokens seen, so an error can say what came before."""
    parser = _parser()
    interactive = parser.parse_interactive(text)
    seen: list[Token] = []
    try:
        for token in interactive.iter_parse():
            if token.type == "PATH" and token.value.lower() in _KEYWORDS:
                # The contextual lexer reads a keyword as a name where no keyword fits.
                words = _expected_words(_accepted(seen), seen[-1] if seen else None)
                after = f" after {_shown(seen[-1])}" if seen else ""
                raise _Refused(f"expected {words}{after}, found the keyword '{token.value}'",
                               token.start_pos + 1)
            seen.append(token)
        return interactive.feed_eof(seen[-1] if seen else None)
    except UnexpectedInput as exc:
        message, column = _syntax_error(text, exc, seen)
        raise _Refused(message, column) from exc
    except LarkError as exc:  # nothing else is expected; never let one escape
        raise _Refused(f"does not parse: {exc}", None) from exc


def _check_depth(tree: Tree) -> None:
    """Refuse trees deeper than _MAX_DEPTH before the (recursive) compiler sees them."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            column = node.meta.start_pos + 1 if not node.meta.empty else None
            raise _Refused(f"the requirement nests more than {_MAX_DEPTH} levels deep (each NOT, and each"
                           " AND / OR group inside another, is a level); simplify it", column)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


# Kinds of value: comparisons hold only between values of one kind.
_NUMBER, _TEXT, _BOOL = "number", "text", "bool"
_UNKNOWN = object()
_KINDS: dict[type, str | None] = {
    int: _NUMBER, float: _NUMBER, Decimal: _NUMBER, Fraction: _NUMBER, str: _TEXT, bool: _BOOL,
    type(None): None, list: None, tuple: None, set: None, frozenset: None, dict: None,
}


class _Missing:
    """The value of an attribute the agent does not have (None is a value a profile may hold)."""

    __slots__ = ()


_MISSING = _Missing()
_KINDS[_Missing] = None
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_COLLECTIONS = (list, tuple, set, frozenset)


def _kind(value: Any) -> str | None:
    """The kind of ``value``, None when it compares with nothing (lists, None, missing)."""
    kind = _KINDS.get(type(value), _UNKNOWN)
    if kind is not _UNKNOWN:
        return kind
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, str):
        return _TEXT
    if isinstance(value, Real):
        return _NUMBER
    return None


_OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_EQUALITY = frozenset({"==", "!="})

# What a path is: the skill set, one skill's level, the language set, or a free attribute.
_SKILLS, _SKILL, _LANGUAGES, _ATTRIBUTE = "skills", "skill", "languages", "attribute"


@attrs.frozen
class _Path:
    """An attribute path as written (``level``, ``skills.billing``, ``site.city``)."""

    parts: tuple[str, ...]
    column: int
    text: str

    @property
    def role(self) -> str:
        first = self.parts[0]
        if first == "skills":
            return _SKILL if len(self.parts) > 1 else _SKILLS
        return _LANGUAGES if first == "languages" else _ATTRIBUTE


@attrs.frozen
class _Value:
    """A literal: its Python value, its kind, where it is, and how it was written."""

    value: Any
    kind: str
    column: int
    text: str


@attrs.frozen
class _List:
    """A list literal of values."""

    values: tuple[_Value, ...]
    column: int


@attrs.frozen
class _Condition:
    """A compiled (part of an) expression: its test, what it refers to, and its truth when constant."""

    test: _Test
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    constant: bool | None = None

    @classmethod
    def of(cls, value: bool) -> _Condition:
        return cls(_always if value else _never, constant=value)


def _refers(path: _Path) -> dict[str, frozenset[str]]:
    """The skills / attributes a path adds to a Requirement's sets."""
    if path.role == _SKILL:
        return {"skills": frozenset({path.parts[1]})}
    if path.role == _ATTRIBUTE:
        return {"attributes": frozenset({path.parts[0]})}
    return {}


def _getter(path: _Path) -> Callable[[Profile], Any]:
    """A function reading ``path`` from a profile; _MISSING when absent (a level 0 for a skill)."""
    if path.role == _SKILL:
        skill = path.parts[1]
        return lambda profile: (profile.get("skills") or _EMPTY).get(skill, 0)
    first, rest = path.parts[0], path.parts[1:]
    if not rest:
        return lambda profile: profile.get(first, _MISSING)

    def get(profile: Profile) -> Any:
        value = profile.get(first, _MISSING)
        for part in rest:
            if not isinstance(value, Mapping):
                return _MISSING
            value = value.get(part, _MISSING)
        return value

    return get


# Every test below catches Exception: an odd profile (a skills table that is a list, a
# mapping whose get() raises) makes the test false rather than break the router's loop,
# as TaskRouter never fails a match. In Python 3.11+ a try costs nothing until it catches.


def _holds(op: str, left: Any, right: Any) -> bool:
    """The comparison of two plain values: false across kinds, bools only equal or differ."""
    kind = _kind(left)
    if kind is None or kind is not _kind(right) or (kind is _BOOL and op not in _EQUALITY):
        return False
    return bool(_OPERATORS[op](left, right))


def _compare_path(path: _Path, op: str, value: _Value) -> _Test:
    """The test ``path op value``; the hot path, so the kind lookup is inlined."""
    get, compare, wanted, expected, kinds = _getter(path), _OPERATORS[op], value.kind, value.value, _KINDS

    def test(profile: Profile) -> bool:
        try:
            actual = get(profile)
            kind = kinds.get(type(actual), _UNKNOWN)
            if kind is _UNKNOWN:
                kind = _kind(actual)
            return kind is wanted and compare(actual, expected)
        except Exception:
            return False

    return test


def _compare_paths(left: _Path, op: str, right: _Path) -> _Test:
    """The test ``left op right`` between two attributes."""
    get_left, get_right = _getter(left), _getter(right)

    def test(profile: Profile) -> bool:
        try:
            return _holds(op, get_left(profile), get_right(profile))
        except Exception:
            return False

    return test


def _contains(collection: Any, value: _Value) -> bool:
    """Whether ``collection`` (a list, set, tuple or a table's keys) holds ``value``, kind for kind."""
    if not isinstance(collection, _COLLECTIONS):
        if isinstance(collection, (str, bytes)) or not isinstance(collection, (Set, Sequence, Mapping)):
            return False  # a text is not a collection of its letters
    if value.kind is _TEXT:
        return value.value in collection
    return any(_holds("==", item, value.value) for item in collection)


def _membership(collection: _Path, value: _Value) -> _Test:
    """The test ``collection HAS value``: for skills, a level of 1 or more."""
    if collection.role == _SKILLS:
        skill, kinds = value.value, _KINDS

        def has_skill(profile: Profile) -> bool:
            try:
                level = (profile.get("skills") or _EMPTY).get(skill, 0)
                kind = kinds.get(type(level), _UNKNOWN)
                if kind is _UNKNOWN:
                    kind = _kind(level)
                return kind is _NUMBER and level >= 1
            except Exception:
                return False

        return has_skill
    get = _getter(collection)

    def test(profile: Profile) -> bool:
        try:
            return _contains(get(profile), value)
        except Exception:
            return False

    return test


def _one_of(path: _Path, values: _List) -> _Test:
    """The test ``path IN [values]``: the kind must match too (true is not 1)."""
    get = _getter(path)
    wanted = frozenset((v.kind, v.value) for v in values.values)

    def test(profile: Profile) -> bool:
        try:
            actual = get(profile)
            kind = _kind(actual)
            return kind is not None and (kind, actual) in wanted
        except Exception:
            return False

    return test


def _negated(condition: _Condition) -> _Condition:
    if condition.constant is not None:
        return attrs.evolve(condition, test=_never if condition.constant else _always,
                            constant=not condition.constant)
    test = condition.test
    return attrs.evolve(condition, test=lambda profile: not test(profile))


def _combined(conditions: list[_Condition], *, all_of: bool) -> _Condition:
    """AND (``all_of``) or OR of conditions, constants folded; the sets are kept whole either way."""
    refers = {
        name: frozenset().union(*(getattr(c, name) for c in conditions))
        for name in ("skills", "languages", "attributes")
    }
    decisive = not all_of  # the constant that decides the whole: False for AND, True for OR
    if any(c.constant is decisive for c in conditions):
        return attrs.evolve(_Condition.of(decisive), **refers)
    tests = tuple(c.test for c in conditions if c.constant is None)
    if not tests:
        return attrs.evolve(_Condition.of(all_of), **refers)
    return _Condition(_all(tests) if all_of else _any(tests), **refers)


def _all(tests: tuple[_Test, ...]) -> _Test:
    """Short-circuit AND; unrolled for two and three terms, the common cases of the hot path."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda profile: a(profile) and b(profile)
    if len(tests) == 3:
        a, b, c = tests
        return lambda profile: a(profile) and b(profile) and c(profile)

    def test(profile: Profile) -> bool:
        for each in tests:
            if not each(profile):
                return False
        return True

    return test


def _any(tests: tuple[_Test, ...]) -> _Test:
    """Short-circuit OR; unrolled like _all."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda profile: a(profile) or b(profile)
    if len(tests) == 3:
        a, b, c = tests
        return lambda profile: a(profile) or b(profile) or c(profile)

    def test(profile: Profile) -> bool:
        for each in tests:
            if each(profile):
                return True
        return False

    return test


_UNESCAPE = re.compile(r"\\(.)", re.S)


class _Compiler(Transformer):
    """Turns the parse tree into one _Condition, refusing what parses but means nothing."""

    # --- operands ---

    def path(self, children: list[Token]) -> _Path:
        (token,) = children
        path = _Path(tuple(token.value.split(".")), token.start_pos + 1, token.value)
        if path.parts[0] == "skills" and len(path.parts) > 2:
            raise _Refused(f"a skill has a level and no parts: write skills.{path.parts[1]}", path.column)
        if path.parts[0] == "languages" and len(path.parts) > 1:
            raise _Refused(f"languages is a set of codes: write languages HAS '{path.parts[1]}'",
                           path.column)
        return path

    def string(self, children: list[Token]) -> _Value:
        (token,) = children
        return _Value(_UNESCAPE.sub(r"\1", token.value[1:-1]), _TEXT, token.start_pos + 1, token.value)

    def number(self, children: list[Token]) -> _Value:
        (token,) = children
        value = float(token.value) if "." in token.value else int(token.value)
        return _Value(value, _NUMBER, token.start_pos + 1, token.value)

    def true(self, children: list[Token]) -> _Value:
        return _Value(True, _BOOL, children[0].start_pos + 1, children[0].value)

    def false(self, children: list[Token]) -> _Value:
        return _Value(False, _BOOL, children[0].start_pos + 1, children[0].value)

    def list(self, children: list) -> _List:
        bracket, *values = children
        return _List(tuple(values), bracket.start_pos + 1)

    # --- predicates ---

    def comparison(self, children: list) -> _Condition:
        left, op_token, right = children
        op = op_token.value
        for side in (left, right):
            _check_comparable(side, op)
        if isinstance(left, _Value) and isinstance(right, _Value):
            return _Condition.of(_holds(op, left.value, right.value))
        if isinstance(left, _Value):
            left, op, right = right, _FLIPPED[op], left
        if isinstance(right, _Value):
            if right.kind is _BOOL and op not in _EQUALITY:
                raise _Refused(f"{right.text} can only be compared with == or !=", right.column)
            return _Condition(_compare_path(left, op, right), **_refers(left))
        refers = _refers(left)
        for name, names in _refers(right).items():
            refers[name] = refers.get(name, frozenset()) | names
        return _Condition(_compare_paths(left, op, right), **refers)

    def has(self, children: list) -> _Condition:
        collection, value = children
        if isinstance(collection, (_Value, _List)):
            hint = (f"; to test a value against a list write {value.text} IN [...]"
                    if isinstance(value, _Value) else "")
            raise _Refused("HAS needs an attribute on its left, as in skills HAS 'billing'" + hint,
                           collection.column)
        return self._member(collection, value, "HAS")

    def has_not(self, children: list) -> _Condition:
        return _negated(self.has(children))

    def in_(self, children: list) -> _Condition:
        value, collection = children
        if isinstance(value, _List):
            raise _Refused("IN needs one value on its left, not a list", value.column)
        if isinstance(collection, _Value):
            raise _Refused(
                f"IN needs a list or an attribute on its right, as in {value.text} IN [{collection.text}]",
                collection.column)
        if isinstance(collection, _List):
            if isinstance(value, _Value):
                return _Condition.of(any(_holds("==", value.value, v.value) for v in collection.values))
            _check_comparable(value, "IN")
            return _Condition(_one_of(value, collection), **_refers(value))
        return self._member(collection, value, "IN")

    def not_in(self, children: list) -> _Condition:
        return _negated(self.in_(children))

    def _member(self, collection: _Path, value: Any, keyword: str) -> _Condition:
        """``collection HAS value`` / ``value IN collection``, with collection an attribute."""
        if isinstance(value, _List):
            raise _Refused(f"{keyword} takes one value, not a list; join several tests with AND",
                           value.column)
        if isinstance(value, _Path):
            example = (f"{collection.text} HAS '{value.text}'" if keyword == "HAS"
                       else f"'{value.text}' IN {collection.text}")
            raise _Refused(f"{keyword} needs a quoted value, not the attribute {value.text}:"
                           f" write {example}", value.column)
        role = collection.role
        if role == _SKILL:
            raise _Refused(f"{collection.text} is a level (a number), not a set:"
                           f" write skills HAS '{collection.parts[1]}' or {collection.text} >= 1",
                           collection.column)
        if role in (_SKILLS, _LANGUAGES):
            if value.kind is not _TEXT:
                what = "skill names" if role == _SKILLS else "language codes"
                raise _Refused(f"{what} are quoted text: write '{value.text}'", value.column)
            refers = {role: frozenset({value.value})}
        else:
            refers = _refers(collection)
        return _Condition(_membership(collection, value), **refers)

    # --- logic ---

    def negation(self, children: list) -> _Condition:
        return _negated(children[0])

    def and_expr(self, children: list) -> _Condition:
        return _combined(children, all_of=True)

    def or_expr(self, children: list) -> _Condition:
        return _combined(children, all_of=False)


def _check_comparable(operand: Any, op: str) -> None:
    """Refuse a list, or the skill / language sets, where a single value belongs."""
    if isinstance(operand, _List):
        raise _Refused(f"a list can only follow IN, not {op}: write attribute IN [...]", operand.column)
    if isinstance(operand, _Path) and operand.role == _SKILLS:
        raise _Refused("skills is the agent's set of skills: test one with skills HAS 'billing',"
                       " or compare its level with skills.billing >= 5", operand.column)
    if isinstance(operand, _Path) and operand.role == _LANGUAGES:
        raise _Refused("languages is the agent's set of codes: test one with languages HAS 'nl'",
                       operand.column)


# --- syntax errors in words -----------------------------------------------------------

_COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE"})
_LITERALS = frozenset({"NUMBER", "STRING", "TRUE", "FALSE"})
_AFTER_CONDITION = frozenset({"_AND", "_OR", "_ANDAND", "_OROR", "_RPAR", "$END"})


def _syntax_error(text: str, exc: UnexpectedInput, seen: list[Token]) -> tuple[str, int | None]:
    """What lark's error means for the author, and the 1-based column to show."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(text, exc.pos_in_stream, seen)
    if not isinstance(exc, UnexpectedToken):
        return f"does not parse: {exc}", getattr(exc, "column", None)
    found = exc.token
    # The parser error comes after the token was seen; the lexer's comes before.
    prefix = seen[:-1] if seen and seen[-1] is found else seen
    previous = prefix[-1] if prefix else None
    expected = _accepted(prefix)
    end = found.type == "$END"
    column = len(text.rstrip()) + 1 if end else found.start_pos + 1

    if previous is not None and previous.type == "LT" and found.type == "GT" and (
            found.start_pos == previous.end_pos):
        return "unknown operator '<>'; use '!=' to test that two values differ", previous.start_pos + 1
    if end and "_RSQB" in expected:
        return "unclosed list: '[' has no matching ']'", _last_open(prefix, "LSQB", "_RSQB")
    if end and "_RPAR" in expected and expected <= _AFTER_CONDITION:
        return "unclosed parenthesis: '(' has no matching ')'", _last_open(prefix, "_LPAR", "_RPAR")
    if found.type == "_RPAR" and "_RPAR" not in expected and _last_open(prefix, "_LPAR", "_RPAR") is None:
        return "')' has no matching '('", column

    message = f"expected {_expected_words(expected, previous)}"
    if previous is not None:
        message += f" after {_shown(previous)}"
    message += f", found {_shown(found)}"
    if (previous is not None and previous.type == "PATH" and expected & _COMPARISONS
            and (end or found.type in _AFTER_CONDITION)):
        message += f" (to test a yes/no attribute write {previous.value} == true)"
    return message, column


def _bad_character(text: str, position: int, seen: list[Token]) -> tuple[str, int]:
    char = text[position]
    column = position + 1
    following = text[position + 1:position + 2]
    if char in "'\"":
        return f"unclosed string: the text from here has no closing {char}", column
    if char == "=":
        if following in "<>" and following:
            return f"unknown operator '={following}'; use '{following}='", column
        return "unknown operator '='; use '==' to compare", column
    if char in "&|":
        word = "AND" if char == "&" else "OR"
        return f"unknown operator '{char}'; use {word} (or '{char * 2}')", column
    if char == ".":
        if following.isdigit():
            return f"write a decimal with a digit before the point: 0.{following}", column
        if seen and seen[-1].type == "PATH" and seen[-1].end_pos == position:
            return f"a name must follow the '.' after {seen[-1].value}", column
    if char.isprintable():
        return f"unexpected character {char!r}", column
    return f"unexpected character {char!r} (not printable)", column


def _accepted(prefix: list[Token]) -> frozenset[str]:
    """The terminals the parser accepts after ``prefix``: exact, unlike LALR's merged lookaheads."""
    interactive = _parser().parse_interactive("")
    for token in prefix:
        interactive.feed_token(token)
    return frozenset(interactive.accepts())


def _last_open(prefix: list[Token], opening: str, closing: str) -> int | None:
    """The column of the innermost ``opening`` token not closed in ``prefix``, or None."""
    opened: list[Token] = []
    for token in prefix:
        if token.type == opening:
            opened.append(token)
        elif token.type == closing and opened:
            opened.pop()
    return opened[-1].start_pos + 1 if opened else None


def _expected_words(expected: frozenset[str], previous: Token | None) -> str:
    if "_LPAR" in expected:  # the start of a condition (NOT alone may also follow an attribute)
        return "a condition (such as skills HAS 'billing')"
    if expected & _COMPARISONS:
        return "an operator (==, !=, <, <=, >, >=, HAS or IN)"
    if expected & {"_HAS", "_IN"}:
        return "HAS or IN"
    if expected & _LITERALS:
        if "PATH" in expected and previous is not None and previous.type == "_IN":
            return "a list or an attribute"
        return "a value"
    if expected <= {"_COMMA", "_RSQB"}:
        return "',' or ']'"
    if expected & _AFTER_CONDITION:
        words = ["AND", "OR"] + (["')'"] if "_RPAR" in expected else [])
        return ", ".join(words[:-1]) + " or " + words[-1]
    return " or ".join(sorted(expected))


def _shown(token: Token) -> str:
    """A token as the message shows it: as written, quoted; the end as words."""
    if token.type == "$END":
        return "the end of the text"
    value = token.value if len(token.value) <= 30 else token.value[:27] + "..."
    return value if token.type == "STRING" else f"'{value}'"
