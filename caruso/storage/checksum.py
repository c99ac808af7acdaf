"""A checksum of a table's contents that two different databases agree on.

After ``db transfer`` the copy must hold the same rows as the source, but the
two databases return them differently: in another order (collations differ),
with decimals at another scale (``1.5`` vs ``1.5000000000``), JSON with keys
in another order. Each value is put in one canonical text form, each row is
hashed, and the row hashes are added up modulo 2**128 - a sum, so order does
not matter, yet a missing, extra or duplicated row changes it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

__all__ = ["ChecksumBuilder", "TableChecksum", "canonical", "table_checksum"]

_MODULUS = 2**128


@attrs.frozen
class TableChecksum:
    """Row count and order-independent digest of a table's rows."""

    rows: int
    digest: str


def _decimal(value: decimal.Decimal) -> str:
    return format(value.normalize(), "f") if value.is_finite() else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# Exact type -> text form; looked up first, because this runs for every value of
# every row on both sides of a transfer.
_BY_TYPE: dict[type, Callable[[Any], str]] = {
    type(None): lambda value: "\x00",
    bool: lambda value: "1" if value else "0",
    int: int.__repr__,
    str: str.__str__,
    float: float.__repr__,
    decimal.Decimal: _decimal,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    dict: _json,
    list: _json,
}


def canonical(value: Any) -> str:
    """One text form per value, the same whichever backend returned it."""
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    for kind, convert in _BY_TYPE.items():  # subclasses (an IntEnum, a pendulum datetime)
        if kind is not type(None) and isinstance(value, kind):
            return convert(value)
    return str(value)


def row_hash(row: Sequence[Any]) -> int:
    text = "\x1f".join(canonical(v) for v in row)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest(), "big")


class ChecksumBuilder:
    """Adds rows batch by batch (so a progress bar can follow), then gives the checksum."""

    def __init__(self) -> None:
        self._total = 0
        self._count = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self._total = (self._total + row_hash(row)) % _MODULUS
            self._count += 1

    def result(self) -> TableChecksum:
        return TableChecksum(self._count, f"{self._total:032x}")


def table_checksum(rows: Iterable[Sequence[Any]]) -> TableChecksum:
    """Count and digest of ``rows`` (any order)."""
    builder = ChecksumBuilder()
    builder.add(rows)
    return builder.result()
