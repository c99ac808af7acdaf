"""The KPI reference keeps up with the sources: every measure and dimension has its formula."""

from __future__ import annotations

import re
from pathlib import Path

from caruso.services.reporting.alerts import KPIS
from caruso.services.reporting.sources import BUILTIN_SOURCES

DOCS = Path(__file__).parent.parent.parent / "docs"


def test_every_measure_and_dimension_is_in_kpis_md():
    """docs/kpis.md has a section per built-in source naming each of its measures and dimensions."""
    text = (DOCS / "kpis.md").read_text(encoding="utf-8")
    missing = []
    for source in BUILTIN_SOURCES:
        match = re.search(rf"^## Source `{source.name}`\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        section = match.group(1) if match else ""
        missing += [f"{source.name}.{name}" for name in source.measure_names() + source.dimension_names()
                    if f"`{name}`" not in section]
    assert [] == missing


def test_every_alert_kpi_is_in_reporting_md():
    """docs/reporting.md lists every KPI an alert rule may name."""
    text = (DOCS / "reporting.md").read_text(encoding="utf-8")
    assert [] == [kpi for kpi in KPIS if f"`{kpi}`" not in text]
