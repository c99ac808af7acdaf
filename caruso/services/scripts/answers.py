"""What counts as an answer to a question: parsing, checking and normalising it by kind.

Answers arrive as whatever the channel has - text typed by an agent, a web
form's string, keypad digits from the IVR, or a Python value from code - and
leave as one normal form per kind, the form conditions see and the session
stores:

=============  ===================================  ==========================
kind           accepted                             stored as
=============  ===================================  ==========================
text           any text                             ``str`` (stripped)
number         int, float, Decimal or numeric text  ``int`` when whole, else ``float``
date           ``date`` or ISO text ``2026-01-31``  ``datetime.date``
choice         a choice's value (IVR: its digit)    ``str``
multichoice    values as a list or ``"a, b"``       ``list[str]``
               (IVR: digits ``"13"``)
yesno          bool, yes/no/y/n/true/false, ja/nee  ``bool``
               (IVR: 1 = yes, 2 = no)
=============  ===================================  ==========================

``minimum``/``maximum`` bound a number's value, a date, the length of a text
and the number of choices of a multichoice. A refused answer raises
``InvalidAnswer`` with the reason, worded for the person answering; the
interpreter shows it and stays on the question.

Each question's rule is built once per script load (``AnswerRule.for_question``),
so answering does no parsing of the script.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from caruso.patterns import Pattern, PatternTimeout
from caruso.services.scripts.model import Question

__all__ = ["MAX_ANSWER_LENGTH", "AnswerRule", "InvalidAnswer", "ivr_digits"]

MAX_ANSWER_LENGTH = 10_000
"""No answer text is longer: a pasted novel is refused before any pattern runs on it."""

_MAX_NUMBER_TEXT = 40
_YES = frozenset({"yes", "y", "true", "1", "ja", "j", "oui", "si", "sí", "on"})
_NO = frozenset({"no", "n", "false", "0", "nee", "nein", "non", "off"})
_IVR_DIGITS = "1234567890"


class InvalidAnswer(Exception):
    """An answer the question does not accept; ``reason`` says why, for the person answering.

    Not a Caruso error: a refused answer is an everyday event the interpreter
    reports in the step's view, not a failure.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def ivr_digits(question: Question) -> dict[str, str]:
    """Keypad digit -> choice value: the script's ``dtmf`` where given, else 1..9, 0 in order."""
    if question.kind == "yesno":
        return {"1": "yes", "2": "no"}
    taken = {c.dtmf for c in question.choices if c.dtmf}
    free = iter(d for d in _IVR_DIGITS if d not in taken)
    digits: dict[str, str] = {}
    for choice in question.choices:
        digit = choice.dtmf or next(free, None)
        if digit is not None:
            digits.setdefault(digit, choice.value)
    return digits


@attrs.frozen
class AnswerRule:
    """The compiled rules of one question: call ``parse(value, ivr)`` for the normal form."""

    kind: str
    required: bool
    parse_value: Callable[[Any, bool], Any]

    @classmethod
    def for_question(cls, question: Question) -> AnswerRule:
        """The rule for ``question``; bad bounds or patterns (the checker reports them)
        are ignored here rather than crash a running session."""
        build = _BUILDERS.get(question.kind, _text_rule)
        return cls(question.kind, question.required, build(question))

    def parse(self, value: Any, ivr: bool = False) -> Any:
        """The answer in normal form, or None for a blank answer to an optional question.

        Raises:
            InvalidAnswer: with the reason the answer is refused.
        """
        if _is_blank(value):
            if self.required:
                raise InvalidAnswer("an answer is required")
            return None
        return self.parse_value(value, ivr)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return not value
    return False


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidAnswer(f"expected text, got {type(value).__name__}")
    if len(value) > MAX_ANSWER_LENGTH:
        raise InvalidAnswer(f"the answer is longer than {MAX_ANSWER_LENGTH:,} characters")
    return value.strip()


def _int_bound(written: str | None) -> int | None:
    try:
        return int(written) if written is not None else None
    except ValueError:
        return None


def _decimal_bound(written: str | None) -> Decimal | None:
    try:
        bound = Decimal(written) if written is not None else None
    except InvalidOperation:
        return None
    return bound if bound is None or bound.is_finite() else None


def _matches(pattern: Pattern, text: str) -> bool:
    try:
        return pattern.fullmatch(text)
    except PatternTimeout:
        raise InvalidAnswer("the answer could not be checked against the expected form in time") from None


def _date_bound(written: str | None) -> date | None:
    try:
        return date.fromisoformat(written) if written is not None else None
    except ValueError:
        return None


def _text_rule(question: Question) -> Callable[[Any, bool], Any]:
    shortest, longest = _int_bound(question.minimum), _int_bound(question.maximum)
    try:
        pattern = Pattern(question.pattern) if question.pattern else None
    except ValueError:  # the checker reports it; the script does not start with it
        pattern = None

    def parse(value: Any, ivr: bool) -> str:
        text = _text(value)
        if shortest is not None and len(text) < shortest:
            raise InvalidAnswer(f"the answer must be at least {shortest} characters long")
        if longest is not None and len(text) > longest:
            raise InvalidAnswer(f"the answer must be at most {longest} characters long")
        if pattern is not None and not _matches(pattern, text):
            raise InvalidAnswer(f"the answer does not have the expected form ({question.pattern})")
        return text

    return parse


def _number_rule(question: Question) -> Callable[[Any, bool], Any]:
    low, high = _decimal_bound(question.minimum), _decimal_bound(question.maximum)

    def parse(value: Any, ivr: bool) -> int | float:
        number = _to_decimal(value)
        if low is not None and number < low:
            raise InvalidAnswer(f"the number must be at least {low}")
        if high is not None and number > high:
            raise InvalidAnswer(f"the number must be at most {high}")
        whole = number == number.to_integral_value()
        return int(number) if whole else float(number)

    return parse


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise InvalidAnswer("expected a number, got yes/no")
    if isinstance(value, int):
        if value.bit_length() > 128:  # str() of a huge int is slow, then refused by Python itself
            raise InvalidAnswer("expected a number of reasonable size")
        value = str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAnswer("expected a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace(" ", "").replace("_", "")
        if len(text) > _MAX_NUMBER_TEXT:
            raise InvalidAnswer(f"expected a number of at most {_MAX_NUMBER_TEXT} characters")
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # a decimal comma, as written in most of Europe
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidAnswer(f"expected a number, got {value.strip()!r}") from None
    else:
        raise InvalidAnswer(f"expected a number, got {type(value).__name__}")
    if not number.is_finite() or abs(number.adjusted()) > 30:
        raise InvalidAnswer("expected a number of reasonable size")
    return number


def _date_rule(question: Question) -> Callable[[Any, bool], Any]:
    earliest, latest = _date_bound(question.minimum), _date_bound(question.maximum)

    def parse(value: Any, ivr: bool) -> date:
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, str):
            text = value.strip()
            try:
                day = date.fromisoformat(text[:10] if len(text) > 10 else text)
            except ValueError:
                raise InvalidAnswer(f"expected a date as YYYY-MM-DD, got {text!r}") from None
        else:
            raise InvalidAnswer(f"expected a date, got {type(value).__name__}")
        if earliest is not None and day < earliest:
            raise InvalidAnswer(f"the date must be on or after {earliest.isoformat()}")
        if latest is not None and day > latest:
            raise InvalidAnswer(f"the date must be on or before {latest.isoformat()}")
        return day

    return parse


def _choice_rule(question: Question) -> Callable[[Any, bool], Any]:
    values = tuple(c.value for c in question.choices)
    by_lower = {v.lower(): v for v in values}
    digits = ivr_digits(question)
    listed = ", ".join(values)

    def parse(value: Any, ivr: bool) -> str:
        text = _text(value) if not isinstance(value, int | bool) else str(value)
        if ivr and text in digits:
            return digits[text]
        if text in values:
            return text
        found = by_lower.get(text.lower())
        if found is None:
            keys = ", ".join(f"{d} {v}" for d, v in digits.items()) if ivr else listed
            raise InvalidAnswer(f"choose one of: {keys}")
        return found

    return parse


def _multichoice_rule(question: Question) -> Callable[[Any, bool], Any]:
    one = _choice_rule(question)
    fewest, most = _int_bound(question.minimum), _int_bound(question.maximum)

    def parse(value: Any, ivr: bool) -> list[str]:
        if isinstance(value, str):
            text = _text(value)
            if ivr and re.fullmatch(r"[0-9*#\s,]+", text):
                parts = [c for c in text if not c.isspace() and c != ","]
            else:
                parts = [p for p in re.split(r"[,;\n]", text) if p.strip()]
        elif isinstance(value, list | tuple | set | frozenset):
            parts = list(value)
        else:
            raise InvalidAnswer(f"expected a list of choices, got {type(value).__name__}")
        chosen: list[str] = []
        for part in parts:
            choice = one(part, ivr)
            if choice not in chosen:
                chosen.append(choice)
        if fewest is not None and len(chosen) < fewest:
            raise InvalidAnswer(f"choose at least {fewest}")
        if most is not None and len(chosen) > most:
            raise InvalidAnswer(f"choose at most {most}")
        return chosen

    return parse


def _yesno_rule(question: Question) -> Callable[[Any, bool], Any]:
    def parse(value: Any, ivr: bool) -> bool:
        if isinstance(value, bool):
            return value
        if ivr and value in ("1", "2", 1, 2):
            return str(value) == "1"
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _YES:
                return True
            if word in _NO:
                return False
        raise InvalidAnswer("answer yes or no" + (" (1 for yes, 2 for no)" if ivr else ""))

    return parse


_BUILDERS: dict[str, Callable[[Question], Callable[[Any, bool], Any]]] = {
    "text": _text_rule,
    "number": _number_rule,
    "date": _date_rule,
    "choice": _choice_rule,
    "multichoice": _multichoice_rule,
    "yesno": _yesno_rule,
}
