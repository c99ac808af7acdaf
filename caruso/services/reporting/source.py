"""What a report is computed from: a source of facts, its dimensions, parts and measures.

A **source** turns the database (the event log, a business object's table)
into a selectable of **facts**, one row per thing counted: a contact, a span of
an agent's time, a dial. Every fact has a ``start`` time (and, for spans, an
``end``), the **dimension** columns a report may group or filter by, and the
raw columns its parts read.

A **part** is one SQL aggregate over the facts of an interval: ``sum``,
``max`` or ``min`` of an expression. The database computes the parts, grouped
by interval and dimensions, in one query. A **measure** is what a report shows,
computed from parts in Python once the rows are back (``service level =
answered within / settled``): divisions by zero become None, not errors, and
integer division means the same thing on every backend. Parts merge (sums add,
maxima take the larger), so a report's totals are exact, not averages of averages.

A plugin contributes a source by subclassing ``ReportSource`` and returning
the class from the ``register_report_sources`` hook (see docs/reporting-plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import sqlalchemy as sa

__all__ = ["MAX", "MIN", "SUM", "Dimension", "FactQuery", "Measure", "Part", "ReportSource", "ratio", "total"]

SUM, MAX, MIN = "sum", "max", "min"


@attrs.frozen
class Part:
    """One aggregate the database computes per interval and group.

    Args:
        name: how measures refer to it.
        aggregate: ``sum``, ``max`` or ``min``.
        expression: ``expression(facts, overlap)`` -> a SQL expression per fact;
            ``overlap`` is the seconds of a span inside the interval (None for
            sources of point facts).
        integer: a count (ints on every backend, 0 when there are no facts).
    """

    name: str
    aggregate: str
    expression: Callable[[Any, Any], Any]
    integer: bool = False

    def sql(self, facts: Any, overlap: Any) -> Any:
        function = {SUM: sa.func.sum, MAX: sa.func.max, MIN: sa.func.min}[self.aggregate]
        return function(self.expression(facts, overlap))

    def value(self, raw: Any) -> int | float | None:
        """The database's value as a plain number (MariaDB sums are Decimals, PostgreSQL's numerics)."""
        if raw is None:
            return 0 if self.integer else (0.0 if self.aggregate == SUM else None)
        return int(raw) if self.integer else float(raw)

    def merge(self, a: int | float | None, b: int | float | None) -> int | float | None:
        if a is None:
            return b
        if b is None:
            return a
        if self.aggregate == SUM:
            return a + b
        return max(a, b) if self.aggregate == MAX else min(a, b)


@attrs.frozen
class Measure:
    """A figure a report shows, computed from parts.

    Args:
        name: the name report files use (``service_level``).
        label: the column heading.
        unit: ``count``, ``seconds`` or ``ratio`` (how it is formatted and charted).
        compute: ``compute(parts)`` -> the value, from the merged parts by name.
        description: the exact formula, for docs/kpis.md and ``caruso report --list``.
    """

    name: str
    label: str
    unit: str
    compute: Callable[[Mapping[str, Any]], Any]
    description: str = ""


@attrs.frozen
class Dimension:
    """A column of the facts a report may group and filter by."""

    name: str
    label: str
    description: str = ""


def total(part: str) -> Callable[[Mapping[str, Any]], Any]:
    """A measure that is one part as it is (a count, a maximum); seconds rounded to the millisecond."""
    def compute(parts: Mapping[str, Any]) -> Any:
        value = parts[part]
        return round(value, 3) if isinstance(value, float) else value
    return compute


def ratio(numerator: str, denominator: str, *, digits: int = 4) -> Callable[[Mapping[str, Any]], Any]:
    """numerator / denominator, rounded; None when the denominator is 0 (no data is not 0%)."""
    def compute(parts: Mapping[str, Any]) -> Any:
        below = parts[denominator]
        if not below:
            return None
        return round(parts[numerator] / below, digits)
    return compute


@attrs.frozen
class FactQuery:
    """What a source is asked for: the period (epoch seconds), the dimensions and raw columns
    needed, the report's parameters, and the application (for settings such as queue targets)."""

    start: float
    end: float
    dimensions: tuple[str, ...]
    parameters: Mapping[str, Any]
    until: float
    app: Any = None


class ReportSource:
    """The default base class for a source of facts (see the module docstring).

    Class attributes describe it; ``facts`` builds the SQL. ``spans`` is True for
    a source whose facts last (an agent's states): the engine then cuts each span
    at the interval boundaries and gives the parts the seconds inside (``overlap``).
    ``parameters`` are the ``<parameter>`` names a report may give, with defaults
    (numbers), ``tables`` the tables the facts read (a report on a database
    without them is empty, not an error).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    spans: ClassVar[bool] = False
    dimensions: ClassVar[Sequence[Dimension]] = ()
    measures: ClassVar[Sequence[Measure]] = ()
    parameters: ClassVar[Mapping[str, float]] = {}
    tables: ClassVar[Sequence[str]] = ()

    def __init__(self, metadata: sa.MetaData):
        self.metadata = metadata

    def facts(self, query: FactQuery) -> sa.Subquery:
        """A subquery of facts with ``start`` (and ``end`` for spans), every dimension in
        ``query.dimensions`` and the columns the parts read, for facts in the period."""
        raise NotImplementedError

    def parts(self, query: FactQuery, facts: sa.Subquery) -> Sequence[Part]:
        """The parts the measures read, as SQL over ``facts`` (they may depend on the
        report's parameters, such as the short-abandon threshold)."""
        raise NotImplementedError

    @classmethod
    def dimension_names(cls) -> list[str]:
        return [d.name for d in cls.dimensions]

    @classmethod
    def measure_names(cls) -> list[str]:
        return [m.name for m in cls.measures]

    @classmethod
    def measure(cls, name: str) -> Measure:
        return next(m for m in cls.measures if m.name == name)

    @classmethod
    def dimension(cls, name: str) -> Dimension:
        return next(d for d in cls.dimensions if d.name == name)
