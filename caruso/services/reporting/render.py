"""A computed report as CSV, JSON or one self-contained HTML file with its charts.

Charts are SVG made by pygal (no script, no external reference: the file opens
offline and can be mailed); the page is a jinja2 template with autoescaping,
so a queue or agent name can never inject markup.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any, TextIO

import jinja2

from caruso.services.reporting.charts import charts
from caruso.services.reporting.engine import ReportResult

__all__ = ["FORMATS", "to_csv", "to_html", "to_json"]

FORMATS = ("html", "csv", "json")


def _header(result: ReportResult) -> list[str]:
    definition = result.definition
    return ["interval", *(d.name for d in definition.dimensions), *(m.name for m in definition.measures)]


def to_csv(result: ReportResult, out: TextIO) -> int:
    """Write one line per interval and group (machine-readable names as headings); rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(result))
    names = [m.name for m in result.definition.measures]
    for row in result.rows:
        writer.writerow([row.interval, *row.dimensions, *("" if row.values[n] is None else row.values[n] for n in names)])
    return len(result.rows)


def to_json(result: ReportResult) -> dict[str, Any]:
    """The report as plain data: what it is, the period, the rows, the totals."""
    definition = result.definition
    dims = [d.name for d in definition.dimensions]
    return {
        "report": definition.name, "title": definition.title, "source": definition.source,
        "interval": result.period.interval, "timezone": str(result.period.timezone),
        "from": result.period.start.isoformat(), "to": result.period.end.isoformat(),
        "units": dict(result.units),
        "rows": [{"interval": row.interval, **dict(zip(dims, row.dimensions)), **row.values} for row in result.rows],
        "groups": [{**dict(zip(dims, row.dimensions)), **row.values} for row in result.group_totals],
        "totals": dict(result.totals),
    }


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("caruso.services.reporting", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)


def format_value(value: Any, unit: str) -> str:
    """How a figure is shown in the HTML table."""
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "seconds":
        return f"{value:,.1f}"
    return f"{value:,}"


_ENVIRONMENT.filters["figure"] = format_value


def to_html(result: ReportResult, *, application: str = "", generated: dt.datetime | None = None) -> str:
    """One self-contained HTML page: title, period, charts (inline SVG), the table and its totals."""
    template = _ENVIRONMENT.get_template("report.html.j2")
    return template.render(
        result=result, definition=result.definition, period=result.period, application=application,
        charts=list(charts(result)), generated=(generated or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        units=result.units,
    )

