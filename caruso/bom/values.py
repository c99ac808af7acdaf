"""Values written as text in a model file (defaults, range bounds), and values written back as text.

A model file writes a default or a bound in the plain notation of its type:
``12.50`` for a decimal, ``2024-01-31`` for a date, ``yes`` for a boolean. The
audit trail writes old and new values in the same notation, so what a person
reads in the audit table looks like what they wrote in the model.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable

__all__ = ["parse_value", "to_text"]

_TRUE = ("yes", "true", "1")
_FALSE = ("no", "false", "0")


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("write yes or no")


def _decimal(text: str) -> decimal.Decimal:
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError("write a decimal number like 12.50") from None
    if not number.is_finite():
        raise ValueError("write a finite decimal number like 12.50")
    return number


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("write a whole number like 42") from None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("write a date as YYYY-MM-DD") from None


def _datetime(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("write a moment as YYYY-MM-DDTHH:MM:SS+00:00") from None
    if value.tzinfo is None:
        raise ValueError("add the UTC offset (e.g. +00:00): a moment without a time zone is ambiguous")
    return value


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


_PARSERS: dict[str, Callable[[str], object]] = {
    "string": str,
    "text": str,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "json": _json,
}


def parse_value(type_name: str, text: str, *, values: tuple[str, ...] = ()) -> object:
    """The value ``text`` denotes for an attribute of type ``type_name``.

    Raises:
        ValueError: saying how to write a value of that type.
    """
    if type_name == "enum":
        if text not in values:
            raise ValueError(f"not one of the values {', '.join(values)}")
        return text
    return _PARSERS[type_name](text)


def to_text(value: object) -> str | None:
    """``value`` written the way a model file writes it; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, dt.date | decimal.Decimal | int):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)
