"""Computing a report: one SQL query per report, grouped by interval and dimensions.

The database does the work over the facts (millions of events): it groups
them by interval and by the report's dimensions and computes every part. Python
receives one row per interval and group, turns parts into measures and adds
the totals. Intervals are found one of two ways (see ``intervals.py``):
arithmetic on the fact's epoch seconds for fixed widths (one pass, no join),
or a join with a temporary table of the period's interval boundaries for
calendar intervals, and for every source of spans, whose facts are cut at the
boundaries (``overlap`` = the seconds of the span inside the interval).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.services.reporting.definitions import ReportDefinition
from caruso.services.reporting.intervals import Period
from caruso.services.reporting.source import FactQuery, Part, ReportSource
from caruso.services.reporting.sql import floor_div, larger, smaller

__all__ = ["ReportResult", "Row", "compute"]

NONE_LABEL = "(none)"
_counter = itertools.count(1)


@attrs.frozen
class Row:
    """One interval (and group) of a report: ``values`` by measure name."""

    start: float
    interval: str
    dimensions: tuple[str, ...]
    values: Mapping[str, Any]


@attrs.frozen
class ReportResult:
    """A computed report: its definition, the period, the rows and the totals over the period."""

    definition: ReportDefinition
    period: Period
    rows: tuple[Row, ...]
    totals: Mapping[str, Any]
    group_totals: tuple[Row, ...]
    units: Mapping[str, str]

    @property
    def empty(self) -> bool:
        return not any(row.values.get(m.name) for row in self.rows for m in self.definition.measures)


def compute(definition: ReportDefinition, source: ReportSource, period: Period, connection: Any, *,
            app: Any = None, until: float | None = None, empty: bool = False) -> ReportResult:
    """Run ``definition`` over ``period`` on ``connection``; ``until`` is now (open spans end
    there); ``empty`` when the source's tables do not exist yet (no query is made)."""
    names = [d.name for d in definition.dimensions]
    needed = tuple(dict.fromkeys(names + [f.dimension for f in definition.filters]))
    query = FactQuery(period.start_epoch, period.end_epoch, needed, definition.parameters,
                      until if until is not None else period.end_epoch, app)
    facts = source.facts(query)
    parts = list(source.parts(query, facts))
    grouped = [facts.c[name] for name in names]
    filters = [(facts.c[f.dimension].not_in(f.values) | facts.c[f.dimension].is_(None)) if f.exclude
               else facts.c[f.dimension].in_(f.values) for f in definition.filters]
    width = None if source.spans else period.width
    raw: list[tuple[float, tuple, dict[str, Any]]] = []
    if empty or period.end_epoch <= period.start_epoch:
        pass
    elif width is not None:
        key = floor_div(facts.c.start, width).label("interval")
        statement = (sa.select(key, *grouped, *[p.sql(facts, None).label(p.name) for p in parts])
                     .where(*filters).group_by(key, *grouped))
        for record in connection.execute(statement):
            raw.append((max(record[0] * width, period.start_epoch), tuple(record[1:1 + len(names)]),
                        _parts(parts, record[1 + len(names):])))
    else:
        raw = list(_joined(connection, period, facts, parts, grouped, filters, source.spans, len(names)))
    # Ordered here, not by the database: NULLs and collations sort differently on each backend.
    raw.sort(key=lambda entry: (entry[0], tuple((v is not None, str(v)) for v in entry[1])))
    return _result(definition, source, period, parts, raw, bool(names))


def _joined(connection: Any, period: Period, facts: Any, parts: Sequence[Part], grouped: list, filters: list,
            spans: bool, dimensions: int) -> Iterator[tuple[float, tuple, dict[str, Any]]]:
    """The rows through a temporary table of interval boundaries (dropped again)."""
    table = sa.Table(f"caruso_report_interval_{next(_counter)}", sa.MetaData(),
                     sa.Column("lo", sa.Float(precision=53), primary_key=True),
                     sa.Column("hi", sa.Float(precision=53), nullable=False),
                     prefixes=["TEMPORARY"])
    table.create(connection)
    try:
        connection.execute(table.insert(), [{"lo": lo, "hi": hi} for lo, hi in period.boundaries()])
        if spans:
            overlap = smaller(facts.c.end, table.c.hi) - larger(facts.c.start, table.c.lo)
            joined = sa.and_(facts.c.start < table.c.hi,
                             sa.or_(facts.c.end > table.c.lo, facts.c.start >= table.c.lo))
        else:
            overlap = None
            joined = sa.and_(facts.c.start >= table.c.lo, facts.c.start < table.c.hi)
        statement = (
            sa.select(table.c.lo, *grouped, *[p.sql(facts, overlap).label(p.name) for p in parts])
            .select_from(facts.join(table, joined)).where(*filters)
            .group_by(table.c.lo, *grouped)
        )
        for record in connection.execute(statement).all():
            yield float(record[0]), tuple(record[1:1 + dimensions]), _parts(parts, record[1 + dimensions:])
    finally:
        table.drop(connection)


def _parts(parts: Sequence[Part], values: Sequence[Any]) -> dict[str, Any]:
    return {part.name: part.value(value) for part, value in zip(parts, values)}


def _empty(parts: Sequence[Part]) -> dict[str, Any]:
    return {part.name: part.value(None) for part in parts}


def _merge(parts: Sequence[Part], a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {part.name: part.merge(a[part.name], b[part.name]) for part in parts}


def _result(definition: ReportDefinition, source: ReportSource, period: Period, parts: Sequence[Part],
            raw: list[tuple[float, tuple, dict[str, Any]]], grouped: bool) -> ReportResult:
    measures = [source.measure(m.name) for m in definition.measures]

    def values(merged: dict[str, Any]) -> dict[str, Any]:
        return {m.name: m.compute(merged) for m in measures}

    if not grouped:  # every interval of the period, the empty ones too (a chart needs them)
        by_start = {start: found for start, _, found in raw}
        raw = [(lo, (), by_start.get(lo, _empty(parts))) for lo, _hi in period.boundaries()]
    rows = tuple(Row(start, period.label(start), tuple(NONE_LABEL if v is None else str(v) for v in key),
                     values(found)) for start, key, found in raw)
    overall = _empty(parts)
    groups: dict[tuple, dict[str, Any]] = {}
    for _start, key, found in raw:
        overall = _merge(parts, overall, found)
        label = tuple(NONE_LABEL if v is None else str(v) for v in key)
        groups[label] = _merge(parts, groups[label], found) if label in groups else found
    group_totals = tuple(Row(period.start_epoch, "total", key, values(found))
                         for key, found in sorted(groups.items())) if grouped else ()
    return ReportResult(definition, period, rows, values(overall), group_totals,
                        {m.name: m.unit for m in measures})
