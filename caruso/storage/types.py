"""Portable column types: the same value comes back on SQLite, PostgreSQL and MariaDB.

The model format names a handful of types ("decimal", "datetime", ...). Left
to SQLAlchemy's generic types, each backend would bend them differently:
SQLite's driver turns NUMERIC into floats (0.1 + 0.2 stops being 0.3), and a
``timezone=True`` flag does nothing on SQLite and MariaDB, so a datetime comes
back naive and nobody knows in which zone. The types here fix that once:

- ``ExactDecimal(precision, scale)``: ``decimal.Decimal`` in and out, never a
  float. On SQLite the value is stored as an integer count of the smallest unit
  (cents for scale 2), which keeps ordering and ``SUM`` exact in SQL too.
- ``UTCDateTime()``: timezone-aware in, timezone-aware UTC out, on every
  backend; naive datetimes are refused instead of guessed at.
- ``JSONType()``: JSON documents (dicts, lists, strings, numbers).
- ``Enumeration(values)``: a string column that accepts only the listed values.
  The check happens in Python on every write, not as a database CHECK
  constraint, so adding a value later is not a schema change.

``PORTABLE_TYPES`` maps the model format's type names to factories that take
keyword arguments (``length``, ``precision``, ``scale``, ``values``); the
modeler builds every column through it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeDecorator

__all__ = [
    "DEFAULT_STRING_LENGTH",
    "MAX_SQLITE_SCALED_PRECISION",
    "PORTABLE_TYPES",
    "Enumeration",
    "ExactDecimal",
    "JSONType",
    "UTCDateTime",
    "portable_type",
]

DEFAULT_STRING_LENGTH = 255
"""Length of a "string" column when the model gives none (MariaDB needs one)."""

MAX_SQLITE_SCALED_PRECISION = 18
"""Above this many digits a scaled value no longer fits SQLite's 64-bit integers;
such decimals are stored as text there (exact, but compared as text in SQL)."""


class ExactDecimal(TypeDecorator):
    """A fixed-point number (money) that stays a ``Decimal`` on every backend.

    Writing a value that does not fit - more decimal places than ``scale`` or
    more digits than ``precision`` - raises ``ValueError`` rather than letting
    the database round or truncate it silently: rounding money is a business
    decision, so the caller makes it explicitly with ``Decimal.quantize``.
    Floats are refused for the same reason; pass ``Decimal``, ``int`` or ``str``.

    Args:
        precision: total number of significant digits.
        scale: digits after the decimal point.
        sqlite_storage: ``"scaled"`` (default) stores an integer count of the
            smallest unit on SQLite; ``"numeric"`` reads a legacy SQLite column
            that already holds NUMERIC/REAL values (exact up to 15 digits).
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2, *, sqlite_storage: str = "scaled"):
        if not isinstance(precision, int) or precision < 1:
            raise ValueError(f"decimal precision must be a positive integer, got {precision!r}")
        if not isinstance(scale, int) or not 0 <= scale <= precision:
            raise ValueError(
                f"decimal scale must be an integer between 0 and the precision ({precision}),"
                f" got {scale!r}"
            )
        if sqlite_storage not in ("scaled", "numeric"):
            raise ValueError(f"sqlite_storage must be 'scaled' or 'numeric', got {sqlite_storage!r}")
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self.sqlite_storage = sqlite_storage
        self._quantum = decimal.Decimal(1).scaleb(-scale)
        self._context = decimal.Context(prec=precision + 2)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite" and self.sqlite_storage == "scaled":
            if self.precision <= MAX_SQLITE_SCALED_PRECISION:
                return dialect.type_descriptor(sa.BigInteger())
            return dialect.type_descriptor(sa.String(self.precision + 2))
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))

    def coerce(self, value: Any) -> decimal.Decimal:
        """The value as a Decimal with exactly ``scale`` places; ValueError if it does not fit."""
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError(
                f"{value!r} is a {type(value).__name__}; an exact decimal column takes"
                " Decimal, int or str (floats cannot hold most decimal fractions)"
            )
        if isinstance(value, int):
            number = decimal.Decimal(value)
        elif isinstance(value, decimal.Decimal):
            number = value
        elif isinstance(value, str):
            try:
                number = decimal.Decimal(value.strip())
            except decimal.InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
        else:
            raise ValueError(
                f"{value!r} ({type(value).__name__}) is not a decimal; pass Decimal, int or str"
            )
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        try:
            quantized = number.quantize(self._quantum, context=self._context)
        except decimal.InvalidOperation:  # more digits than the column's precision holds
            raise ValueError(self._too_large(value)) from None
        if quantized != number:
            raise ValueError(
                f"{value} has more than {self.scale} decimal places; round it first,"
                f" e.g. with Decimal.quantize(Decimal('{self._quantum}'))"
            )
        digits_before_point = len(quantized.as_tuple().digits) - self.scale
        if digits_before_point > self.precision - self.scale and quantized != 0:
            raise ValueError(self._too_large(value))
        return quantized

    def _too_large(self, value: Any) -> str:
        return (
            f"{value} does not fit in DECIMAL({self.precision}, {self.scale}):"
            f" at most {self.precision - self.scale} digits before the decimal point"
        )

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        number = self.coerce(value)
        if dialect.name == "sqlite" and self.sqlite_storage == "scaled":
            if self.precision <= MAX_SQLITE_SCALED_PRECISION:
                return int(number.scaleb(self.scale))
            return str(number)
        return number

    def process_literal_param(self, value, dialect):
        return str(self.process_bind_param(value, dialect))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite" and self.sqlite_storage == "scaled":
            if isinstance(value, int):
                return decimal.Decimal(value).scaleb(-self.scale).quantize(self._quantum)
            return decimal.Decimal(str(value)).quantize(self._quantum)
        if isinstance(value, float):
            value = repr(value)
        return decimal.Decimal(value).quantize(self._quantum, context=self._context)

    @property
    def python_type(self) -> type:
        return decimal.Decimal

    def __repr__(self) -> str:
        return f"ExactDecimal({self.precision}, {self.scale})"


class UTCDateTime(TypeDecorator):
    """A point in time: timezone-aware in, timezone-aware UTC out, on every backend.

    PostgreSQL stores ``timestamp with time zone``; SQLite and MariaDB have no
    zone, so the value is converted to UTC and stored without one, and the
    zone is put back on the way out. MariaDB gets microsecond precision
    (``DATETIME(6)``) so a value round-trips exactly. A naive datetime raises
    ``ValueError``: guessing its zone is how timestamps go wrong by hours.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self):
        super().__init__(timezone=True)

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    @staticmethod
    def coerce(value: Any) -> dt.datetime:
        """The value in UTC; ValueError for naive datetimes and non-datetimes."""
        if not isinstance(value, dt.datetime):
            raise ValueError(
                f"{value!r} ({type(value).__name__}) is not a datetime; pass a timezone-aware"
                " datetime.datetime"
            )
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(
                f"{value.isoformat()} is a naive datetime (no time zone); pass an aware one,"
                " e.g. datetime.now(UTC) or value.replace(tzinfo=ZoneInfo('Europe/Amsterdam'))"
            )
        return value.astimezone(dt.UTC)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        utc = self.coerce(value)
        if dialect.name == "postgresql":
            return utc
        return utc.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    @property
    def python_type(self) -> type:
        return dt.datetime

    def __repr__(self) -> str:
        return "UTCDateTime()"


class JSONType(TypeDecorator):
    """A JSON document; the value must survive ``json.dumps`` (checked on write).

    Built on ``sqlalchemy.JSON`` (JSON on PostgreSQL and MariaDB, JSON text on
    SQLite). Checking serializability up front turns a driver's obscure
    "Object of type X is not JSON serializable" deep in a flush into a message
    that names the value.
    """

    impl = sa.JSON
    cache_ok = True

    def __init__(self):
        super().__init__(none_as_null=True)

    @staticmethod
    def coerce(value: Any) -> Any:
        """The value, once it is known to be a JSON document; ValueError otherwise.

        NaN and infinities are refused: Python's json writes them, but they are not
        JSON and PostgreSQL refuses them.
        """
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{value!r} cannot be stored as JSON: {exc}") from None
        return value

    def process_bind_param(self, value, dialect):
        return None if value is None else self.coerce(value)

    @property
    def python_type(self) -> type:
        return object

    def __repr__(self) -> str:
        return "JSONType()"


class Enumeration(TypeDecorator):
    """A string column that accepts only ``values``; ValueError for anything else.

    Stored as ``VARCHAR`` as long as the longest value. Values read back are
    returned as they are, so a legacy table holding an unlisted code can still
    be read; only writes are checked.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, values: tuple[str, ...]):
        values = tuple(values)
        if not values:
            raise ValueError("an enumeration needs at least one value")
        for value in values:
            if not isinstance(value, str) or not value:
                raise ValueError(f"enumeration values must be non-empty strings, got {value!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"enumeration values repeat: {values!r}")
        super().__init__(length=max(len(v) for v in values))
        self.values = values

    def process_bind_param(self, value, dialect):
        if value is None or value in self.values:
            return value
        raise ValueError(f"{value!r} is not one of the allowed values {', '.join(self.values)}")

    @property
    def python_type(self) -> type:
        return str

    def __repr__(self) -> str:
        return f"Enumeration({self.values!r})"


def _reject_unused(type_name: str, given: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unused = sorted(k for k, v in given.items() if v is not None and k not in allowed)
    if unused:
        accepted = ", ".join(allowed) if allowed else "no options"
        raise ValueError(
            f"{', '.join(unused)} does not apply to type {type_name!r} (it takes {accepted})"
        )


def _string(*, length=None, **other):
    _reject_unused("string", other, ())
    if length is not None and (not isinstance(length, int) or length < 1):
        raise ValueError(f"string length must be a positive integer, got {length!r}")
    return sa.String(length or DEFAULT_STRING_LENGTH)


def _simple(type_name: str, factory: Callable[[], sa.types.TypeEngine]):
    def build(**options):
        _reject_unused(type_name, options, ())
        return factory()

    build.__name__ = f"build_{type_name}"
    build.__doc__ = f"A {type_name!r} column type; takes no options."
    return build


def _decimal(*, precision=None, scale=None, **other):
    _reject_unused("decimal", other, ())
    if precision is None:
        raise ValueError("type 'decimal' needs a precision (total digits), e.g. precision=12 scale=2")
    return ExactDecimal(precision, 0 if scale is None else scale)


def _enum(*, values=None, **other):
    _reject_unused("enum", other, ())
    if not values:
        raise ValueError("type 'enum' needs its allowed values")
    return Enumeration(tuple(values))


PORTABLE_TYPES: dict[str, Callable[..., sa.types.TypeEngine]] = {
    "string": _string,
    "text": _simple("text", sa.Text),
    "integer": _simple("integer", sa.Integer),
    "decimal": _decimal,
    "boolean": _simple("boolean", sa.Boolean),
    "date": _simple("date", sa.Date),
    "datetime": _simple("datetime", UTCDateTime),
    "json": _simple("json", JSONType),
    "enum": _enum,
}
"""Type name in the model format -> factory taking ``length``, ``precision``,
``scale``, ``values`` as keywords (pass None for the ones not given). An option
that does not apply to the type raises ``ValueError`` saying which ones do."""


def portable_type(name: str, **options: Any) -> sa.types.TypeEngine:
    """The column type for a model type name; ValueError naming the known ones if unknown."""
    try:
        factory = PORTABLE_TYPES[name]
    except KeyError:
        from caruso.errors import did_you_mean

        hint = did_you_mean(name, PORTABLE_TYPES) or "; known types: " + ", ".join(PORTABLE_TYPES)
        raise ValueError(f"unknown type {name!r}{hint}") from None
    return factory(**options)
