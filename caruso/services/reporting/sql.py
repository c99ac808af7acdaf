"""The few SQL constructs reports need that the three backends spell differently.

Reports are SQLAlchemy Core expressions, never strings; where SQLite,
PostgreSQL and MariaDB disagree, a construct here is compiled per dialect:

- ``json_text(column, key)``: one field of the event log's JSON ``data`` as text.
  SQLite and MariaDB/MySQL have ``json_extract`` (MariaDB's JSON is text, so no
  cast is possible or needed); PostgreSQL needs the text cast to ``json`` first
  and ``json_extract_path_text``. Reports use it only for *categorical* fields
  (an agent's state, a dial result, a wrap-up code): every duration is computed
  from the events' own ``at`` column (``answered.at - queued.at``), which is a
  plain indexed float on every backend and costs no JSON parsing per row.
- ``smaller(a, b)`` / ``larger(a, b)``: ``min(a, b)`` in SQLite, ``LEAST`` in the
  others; written as ``CASE`` so NULL handling is the same everywhere.
- ``floor_div(x, width)``: the interval an epoch time falls in, as an integer.
- ``epoch_seconds(column)``: a ``UTCDateTime`` column (a business object's
  datetime) as seconds since 1970 UTC, so a plugin's source can place its facts in
  intervals like the event log's: ``EXTRACT(EPOCH ...)`` in PostgreSQL, the Julian
  day in SQLite (which keeps the UTC time as text), ``TIMESTAMPDIFF`` in MariaDB
  (whose ``UNIX_TIMESTAMP`` would read the value in the session's time zone).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

__all__ = ["epoch_seconds", "floor_div", "json_text", "larger", "smaller"]


class json_text(FunctionElement):
    """``json_text(column, "key")``: the JSON field ``key`` of a text column, as text (NULL if absent)."""

    type = sa.String()
    inherit_cache = False  # the key is rendered into the path literal at compile time: never reuse
    name = "json_text"


@compiles(json_text)
def _json_text_default(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    path = sa.literal("$." + key.value)
    return compiler.process(sa.func.json_extract(column, path), **kw)


@compiles(json_text, "mysql")
@compiles(json_text, "mariadb")
def _json_text_mysql(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    path = sa.literal("$." + key.value)
    return compiler.process(sa.func.json_unquote(sa.func.json_extract(column, path)), **kw)


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    column, key = list(element.clauses)
    return compiler.process(
        sa.func.json_extract_path_text(sa.cast(column, postgresql.JSON), sa.literal(key.value)), **kw)


def smaller(a: Any, b: Any) -> ColumnElement:
    """The smaller of two values (portable ``LEAST``)."""
    return sa.case((a < b, a), else_=b)


def larger(a: Any, b: Any) -> ColumnElement:
    """The larger of two values (portable ``GREATEST``)."""
    return sa.case((a > b, a), else_=b)


class floor_div(FunctionElement):
    """``floor_div(value, width)``: ``floor(value / width)`` as an integer.

    PostgreSQL and MariaDB round when casting a float to an integer, so they get
    ``floor``; SQLite may be built without its math functions, but its ``CAST``
    truncates, which is the floor for the positive epoch times of the log.
    """

    type = sa.BigInteger()
    inherit_cache = True
    name = "floor_div"


@compiles(floor_div)
def _floor_div_default(element: floor_div, compiler: Any, **kw: Any) -> str:
    value, width = list(element.clauses)
    return compiler.process(sa.cast(sa.func.floor(value / width), sa.BigInteger), **kw)


@compiles(floor_div, "sqlite")
def _floor_div_sqlite(element: floor_div, compiler: Any, **kw: Any) -> str:
    value, width = list(element.clauses)
    return compiler.process(sa.cast(value / width, sa.BigInteger), **kw)


class epoch_seconds(FunctionElement):
    """``epoch_seconds(column)``: a UTC datetime column as seconds since 1970-01-01 UTC (a float)."""

    type = sa.Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds)
def _epoch_seconds_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return compiler.process((sa.func.julianday(value) - 2440587.5) * 86400.0, **kw)


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return compiler.process(sa.cast(sa.extract("epoch", value), sa.Float), **kw)


@compiles(epoch_seconds, "mysql")
@compiles(epoch_seconds, "mariadb")
def _epoch_seconds_mysql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    micro = sa.func.timestampdiff(sa.literal_column("MICROSECOND"), sa.literal("1970-01-01 00:00:00"), value)
    return compiler.process(micro / 1000000.0, **kw)
