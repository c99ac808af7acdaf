"""Monitoring and reporting: the live status monitor, configurable reports with charts, KPI alerts.

- ``monitor`` service (``monitor.py``): a snapshot of now and a push stream of
  changes, folded from the event log (``live.py``); alert rules (``alerts.py``)
  delivered on the monitor, e-mail and SMS (``notifiers.py``).
- ``reports`` service (``service.py``): report definitions (XML, ``reports.dtd``;
  ``definitions.py``) computed in SQL over sources of facts (``source.py``,
  ``sources.py``, ``engine.py``), rendered as CSV, JSON or HTML with SVG charts
  (``render.py``, ``charts.py``).

See docs/reporting.md, docs/kpis.md, docs/report-definitions.md and
docs/reporting-plugins.md.
"""

from caruso.services.reporting.source import (
    MAX,
    MIN,
    SUM,
    Dimension,
    FactQuery,
    Measure,
    Part,
    ReportSource,
    ratio,
    total,
)

__all__ = ["MAX", "MIN", "SUM", "Dimension", "FactQuery", "Measure", "Part", "ReportSource", "ratio", "total"]
