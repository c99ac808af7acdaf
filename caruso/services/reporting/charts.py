"""The charts of a report, as SVG from pygal.

A line, bar or stacked-bar chart has the intervals along the x axis and one
series per charted measure - per dimension value too when the report groups
by dimensions (``billing: offered``), for the ``MAX_GROUPS`` values with the
largest totals of the first charted measure (180 agents make no readable
chart). A report of one interval has the dimension values along the x axis
instead (an agent's day: one stacked bar per agent). A pie shows the first
charted measure's totals per dimension value. The SVG is inline-ready: no XML declaration, no
script (pygal's tooltips load a script from the web, and it always writes an
inline configuration script: both are removed), so the page stays one
self-contained file that runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pygal
from lxml import etree
from pygal.style import CleanStyle

from caruso.services.reporting.engine import ReportResult

__all__ = ["charts"]

_KINDS = {"line": pygal.Line, "bar": pygal.Bar, "stacked-bar": pygal.StackedBar, "pie": pygal.Pie}
_MAX_LABELS = 24
MAX_GROUPS = 12


def _config(title: str, unit: str) -> dict:
    config = dict(title=title, style=CleanStyle, js=[], disable_xml_declaration=True, width=900, height=380,
                  explicit_size=False, legend_at_bottom=True, show_minor_x_labels=False, x_label_rotation=30,
                  truncate_legend=40, print_values=False)
    if unit == "ratio":
        config["value_formatter"] = lambda v: f"{v:.0%}" if v is not None else ""
    return config


def _inert(svg: str) -> str:
    """The SVG without its ``<script>`` elements."""
    root = etree.fromstring(svg.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    for script in list(root.iter("{http://www.w3.org/2000/svg}script", "script")):
        script.getparent().remove(script)
    return etree.tostring(root, encoding="unicode")


def charts(result: ReportResult) -> Iterator[tuple[str, str]]:
    """(title, svg) for every chart of the report's definition."""
    definition = result.definition
    labels = {m.name: m.label for m in definition.measures}
    for chart in definition.charts:
        title = chart.title or ", ".join(labels[m] for m in chart.measures)
        unit = result.units[chart.measures[0]]
        if chart.type == "pie":
            drawing = pygal.Pie(**_config(title, unit))
            groups = result.group_totals or ()
            for row in groups:
                drawing.add(" / ".join(row.dimensions), row.values[chart.measures[0]] or 0)
            if not groups:
                drawing.add(labels[chart.measures[0]], result.totals[chart.measures[0]] or 0)
            yield title, _inert(drawing.render(is_unicode=True))
            continue
        first = chart.measures[0]
        groups = sorted({row.dimensions for row in result.rows})
        if len(groups) > MAX_GROUPS:
            totals = {row.dimensions: row.values[first] or 0 for row in result.group_totals}
            groups = sorted(sorted(groups, key=lambda g: -totals.get(g, 0))[:MAX_GROUPS])
            title = f"{title} (the {MAX_GROUPS} largest of {len(totals)})"
        drawing = _KINDS[chart.type](**_config(title, unit))
        starts = sorted({row.start for row in result.rows})
        if len(starts) == 1 and groups != [()]:
            cells = {row.dimensions: row for row in result.rows}
            drawing.x_labels = [" / ".join(group) for group in groups]
            for measure in chart.measures:
                drawing.add(labels[measure], [cells[g].values[measure] for g in groups])
            yield title, _inert(drawing.render(is_unicode=True))
            continue
        names = {row.start: row.interval for row in result.rows}
        drawing.x_labels = [names[s] for s in starts]
        step = max(1, len(starts) // _MAX_LABELS)
        drawing.x_labels_major = [names[s] for s in starts[::step]]
        for group in groups:
            cells = {row.start: row for row in result.rows if row.dimensions == group}
            for measure in chart.measures:
                series = [cells[s].values[measure] if s in cells else None for s in starts]
                name = labels[measure] if not group else f"{' / '.join(group)}: {labels[measure]}"
                drawing.add(name, series)
        yield title, _inert(drawing.render(is_unicode=True))
