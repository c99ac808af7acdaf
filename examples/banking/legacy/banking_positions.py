"""The core-banking system's nightly positions file: a fixed-width feed, declared once.

Every night the core writes one file per business day, ``POSyyyymmdd.DAT``: a header,
one detail record per account, a trailer. Records are 80 ASCII characters, fields at
fixed columns, amounts in cents with a separate sign, as COBOL copybooks lay them out::

    H 20261202 CORE/7.1   20261203021500 ...
    D NL91CRSO0417164300                 EUR+000000000123456+000000000223456A ...
    T 000000001+000000000000123456 ...

The layout is declared in :data:`HEADER`, :data:`DETAIL` and :data:`TRAILER` (a field
list each) and read with :mod:`struct` - one ``Struct`` per record type - so the same
declaration writes the file (the stand-in's batch run) and parses it (the wrapper).
A record that does not fit is refused with its line number and the field at fault;
the good records of the file are still usable (see :func:`parse_positions`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Self

import attrs

RECORD_LENGTH = 80


@attrs.frozen
class Field:
    """One field of a record: its name, width in characters and kind.

    Kinds: ``type`` (the record type letter), ``text`` (left-aligned, space-padded),
    ``number`` (right-aligned, zero-padded digits), ``sign`` (``+`` or ``-``), ``date``
    (``YYYYMMDD``), ``stamp`` (``YYYYMMDDHHMMSS``), ``code`` (one of ``values``) and
    ``filler`` (spaces, ignored).
    """

    name: str
    width: int
    kind: str = "text"
    values: tuple[str, ...] = ()


@attrs.frozen
class Layout:
    """The fields of one record type, and the ``struct`` that cuts a record into them."""

    type: str
    fields: tuple[Field, ...]
    struct: struct.Struct = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        width = sum(f.width for f in self.fields)
        if width != RECORD_LENGTH:
            raise ValueError(f"layout {self.type!r} is {width} characters wide, not {RECORD_LENGTH}")
        object.__setattr__(self, "struct", struct.Struct("".join(f"{f.width}s" for f in self.fields)))

    def unpack(self, record: bytes) -> dict[str, str]:
        return {f.name: raw.decode("ascii") for f, raw in zip(self.fields, self.struct.unpack(record))}

    def pack(self, values: dict[str, object]) -> bytes:
        return self.struct.pack(*(_format(f, values.get(f.name)).encode("ascii") for f in self.fields))


HEADER = Layout("H", (
    Field("type", 1, "type"),
    Field("business_date", 8, "date"),
    Field("system", 10, "text"),
    Field("created", 14, "stamp"),
    Field("filler", 47, "filler"),
))

DETAIL = Layout("D", (
    Field("type", 1, "type"),
    Field("account", 34, "text"),
    Field("currency", 3, "text"),
    Field("balance_sign", 1, "sign"),
    Field("balance", 15, "number"),
    Field("available_sign", 1, "sign"),
    Field("available", 15, "number"),
    Field("status", 1, "code", ("A", "B", "C")),
    Field("filler", 9, "filler"),
))

TRAILER = Layout("T", (
    Field("type", 1, "type"),
    Field("count", 9, "number"),
    Field("total_sign", 1, "sign"),
    Field("total", 18, "number"),
    Field("filler", 51, "filler"),
))

LAYOUTS = {layout.type: layout for layout in (HEADER, DETAIL, TRAILER)}
STATUS = {"A": "active", "B": "blocked", "C": "closed"}
STATUS_CODE = {name: code for code, name in STATUS.items()}


@attrs.frozen
class Position:
    """One account's position at the end of a business day."""

    line: int
    account: str
    currency: str
    balance: Decimal
    available: Decimal
    status: str  # active, blocked, closed


@attrs.frozen
class FeedProblem:
    """A record refused: where, and why."""

    file: str
    line: int
    message: str
    whole_file: bool = False  # the file as a whole is suspect: apply none of it

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@attrs.frozen
class PositionsFile:
    """What a positions file holds: its business day, the good records, the refused ones."""

    path: Path
    business_date: date | None
    positions: tuple[Position, ...]
    problems: tuple[FeedProblem, ...]


class RecordError(ValueError):
    """A field of a record does not fit its declaration."""


def parse_positions(path: Path | str) -> PositionsFile:
    """Read a positions file; every record that does not fit the layout becomes a problem with its
    line number, the others positions.

    A problem with the file as a whole - no header on line 1, no trailer at the end (a transfer
    broken off), a trailer whose count or total does not match the details - is marked
    ``whole_file``: records are missing or the file is not what it claims, so none of it should
    be applied. A refused detail record still counts against the trailer (it is there, only
    unreadable), so one bad record does not make the whole file suspect.
    """
    path = Path(path)
    name = str(path)
    problems: list[FeedProblem] = []
    positions: list[Position] = []
    business_date = None
    trailer = None
    total = Decimal(0)
    details = 0
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        return PositionsFile(path, None, (), (FeedProblem(name, 1, "the file is empty: no header, no trailer",
                                                          whole_file=True),))
    for number, raw in enumerate(lines, start=1):
        record = raw.rstrip(b"\r")
        try:
            values = _read(record)
        except RecordError as exc:
            problems.append(FeedProblem(name, number, str(exc), whole_file=number == 1))
            if record[:1] == b"D":
                details += 1
            continue
        kind = values["type"]
        if kind == "H":
            if number == 1:
                business_date = values["business_date"]
            else:
                problems.append(FeedProblem(name, number, "a header record after line 1", whole_file=True))
            continue
        if number == 1:
            problems.append(FeedProblem(name, 1, f"the file starts with a {kind!r} record, not the header 'H'",
                                        whole_file=True))
        if kind == "D":
            details += 1
            positions.append(Position(number, values["account"], values["currency"], values["balance"],
                                      values["available"], STATUS[values["status"]]))
            total += values["balance"]
        elif trailer is None:
            trailer = (number, values)
        else:
            problems.append(FeedProblem(name, number, "a second trailer record", whole_file=True))
    if trailer is None:
        problems.append(FeedProblem(name, len(lines), "no trailer record 'T': the file may be truncated",
                                    whole_file=True))
    else:
        number, values = trailer
        if number != len(lines):
            problems.append(FeedProblem(name, number, "records after the trailer", whole_file=True))
        if values["count"] != details:
            problems.append(FeedProblem(name, number, f"the trailer counts {values['count']} detail records, "
                                                      f"the file has {details}", whole_file=True))
        elif not problems and values["total"] != total:
            problems.append(FeedProblem(name, number, f"the trailer's total {values['total']} is not the sum "
                                                      f"of the balances {total}", whole_file=True))
    return PositionsFile(path, business_date, tuple(positions), tuple(sorted(problems, key=lambda p: p.line)))


class PositionsWriter:
    """Writes a positions file record by record (what the core's batch run does), so a file of a
    million accounts never has to be in memory; the trailer is written on ``close()``::

        with PositionsWriter(path, date(2026, 12, 2)) as feed:
            feed.add(account="NL91CRSO0417164300", balance=Decimal("1234.56"), available=...)
    """

    def __init__(self, path: Path | str, business_date: date, *, system: str = "CORE/7.1",
                 created: datetime | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count, self.total = 0, Decimal(0)
        self._out = self.path.open("wb")
        self._out.write(HEADER.pack({"type": "H", "business_date": business_date, "system": system,
                                     "created": created or datetime.now()}) + b"\n")

    def add(self, *, account: str, balance: Decimal, available: Decimal, currency: str = "EUR",
            status: str = "active") -> None:
        balance, available = Decimal(balance), Decimal(available)
        self._out.write(DETAIL.pack({
            "type": "D", "account": account, "currency": currency, "balance_sign": balance, "balance": balance,
            "available_sign": available, "available": available, "status": STATUS_CODE[status],
        }) + b"\n")
        self.count += 1
        self.total += balance

    def close(self) -> None:
        if not self._out.closed:
            self._out.write(TRAILER.pack({"type": "T", "count": self.count, "total_sign": self.total,
                                          "total": self.total}) + b"\n")
            self._out.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_positions(path: Path | str, business_date: date, positions: Iterable[dict], *,
                    system: str = "CORE/7.1", created: datetime | None = None) -> int:
    """Write a whole positions file; returns the detail records written.

    ``positions`` are mappings with ``account``, ``balance``, ``available`` (Decimals) and
    optionally ``currency`` (EUR) and ``status`` (``active``, ``blocked``, ``closed``).
    """
    with PositionsWriter(path, business_date, system=system, created=created) as feed:
        for position in positions:
            feed.add(**position)
    return feed.count


def iter_records(path: Path | str) -> Iterator[dict]:
    """The raw fields of every record, for inspection (``python -m banking_positions FILE``)."""
    for raw in Path(path).read_bytes().splitlines():
        yield _read(raw)


# --- reading and writing fields ----------------------------------------------------------


def _read(record: bytes) -> dict:
    if len(record) != RECORD_LENGTH:
        raise RecordError(f"a record is {RECORD_LENGTH} characters long, this one has {len(record)}")
    try:
        record.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RecordError(f"column {exc.start + 1}: a byte that is not ASCII ({record[exc.start]:#04x})") from None
    kind = chr(record[0])
    layout = LAYOUTS.get(kind)
    if layout is None:
        raise RecordError(f"unknown record type {kind!r}: expected H (header), D (detail) or T (trailer)")
    raw = layout.unpack(record)
    values: dict = {}
    column = 1
    signs: dict[str, int] = {}
    for field in layout.fields:
        text = raw[field.name]
        try:
            values[field.name] = _parse(field, text)
        except ValueError as exc:
            raise RecordError(f"column {column}, field {field.name!r} ({field.width} characters): {exc}") from None
        if field.kind == "sign":
            signs[field.name.removesuffix("_sign")] = values[field.name]
        column += field.width
    for name, sign in signs.items():
        values[name] = sign * Decimal(values[name]).scaleb(-2)
    if kind == "D" and not values["account"]:
        raise RecordError("column 2, field 'account': empty")
    return values


def _parse(field: Field, text: str):
    if field.kind == "type" or field.kind == "filler":
        return text
    if field.kind == "text":
        return text.rstrip(" ")
    if field.kind == "number":
        if not text.isdigit():
            raise ValueError(f"{text!r} is not {field.width} digits")
        return int(text)
    if field.kind == "sign":
        if text not in "+-" or len(text) != 1:
            raise ValueError(f"{text!r} is not a sign, + or -")
        return -1 if text == "-" else 1
    if field.kind == "date":
        return datetime.strptime(text, "%Y%m%d").date() if text.isdigit() else _bad_date(text)
    if field.kind == "stamp":
        return datetime.strptime(text, "%Y%m%d%H%M%S") if text.isdigit() else _bad_date(text)
    if field.kind == "code":
        if text not in field.values:
            raise ValueError(f"{text!r} is not one of {', '.join(field.values)}")
        return text
    raise AssertionError(field.kind)


def _bad_date(text: str):
    raise ValueError(f"{text!r} is not a date written YYYYMMDD")


def _format(field: Field, value: object) -> str:
    width = field.width
    if field.kind == "filler" or value is None:
        return " " * width
    if field.kind == "sign":
        return "-" if Decimal(value) < 0 else "+"
    if field.kind == "number":
        number = abs(int(Decimal(value).scaleb(2))) if isinstance(value, Decimal) else int(value)
        text = f"{number:0{width}d}"
    elif field.kind == "date":
        text = value.strftime("%Y%m%d")
    elif field.kind == "stamp":
        text = value.strftime("%Y%m%d%H%M%S")
    else:
        text = str(value).ljust(width)
    if len(text) != width:
        raise ValueError(f"field {field.name!r}: {value!r} does not fit in {width} characters")
    return text


if __name__ == "__main__":
    import sys

    found = parse_positions(sys.argv[1])
    print(f"{found.path}: business day {found.business_date}, {len(found.positions)} positions, "
          f"{len(found.problems)} refused")
    for problem in found.problems:
        print(problem)
