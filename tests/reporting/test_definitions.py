"""Report definition files: the DTD, the checks against the sources, the messages with file:line."""

from __future__ import annotations

import pytest

from caruso.errors import ReportDefinitionError
from caruso.services.reporting.definitions import BUILTIN_FOLDER, Chart, Column, Filter, read_definitions
from caruso.services.reporting.service import report_sources

SOURCES = report_sources(None)

GOOD = """<?xml version="1.0"?>
<report name="billing-today" title="Billing today" source="contacts" interval="15min">
  <description>  The billing queue,
     every quarter of an hour. </description>
  <parameter name="short-abandon" value="10"/>
  <dimension name="channel" label="Medium"/>
  <measure name="offered"/>
  <measure name="service_level" label="SL"/>
  <filter dimension="queue" in="billing"/>
  <filter dimension="channel" not-in="email sms"/>
  <chart type="line" measures="service_level"/>
</report>
"""


def _write(tmp_path, text, name="report.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ReportDefinitionError) as caught:
        read_definitions([path], SOURCES)
    return [str(p).replace(str(path), "report.xml") for p in caught.value.problems]


def test_a_definition_is_read_with_defaults_and_labels(tmp_path):
    """Labels default to the source's, the parameters are numbers, filters and charts as written."""
    path = _write(tmp_path, GOOD)
    definition = read_definitions([path], SOURCES)["billing-today"]
    assert ("Billing today", "contacts", "15min", "The billing queue, every quarter of an hour.") == (
        definition.title, definition.source, definition.interval, definition.description)
    assert (Column("channel", "Medium"),) == definition.dimensions
    assert (Column("offered", "Offered"), Column("service_level", "SL")) == definition.measures
    assert {"short-abandon": 10.0} == dict(definition.parameters)
    assert (Filter("queue", ("billing",)), Filter("channel", ("email", "sms"), exclude=True)) == definition.filters
    assert (Chart("line", ("service_level",)),) == definition.charts
    assert f"{path}:2" == definition.where


def test_an_unknown_measure_is_named_with_its_line_and_a_did_you_mean(tmp_path):
    """The misspelt measure is reported at its own line, with the closest name."""
    text = GOOD.replace('<measure name="offered"/>', '<measure name="ofered"/>')
    assert ['report.xml:7: <measure name="ofered">: unknown measure \'ofered\' of source \'contacts\' '
            "(did you mean 'offered'?)"] == _problems(tmp_path, text)


def test_unknown_dimension_parameter_and_chart_measure_are_all_reported(tmp_path):
    """Every problem of the file at once, each at its line."""
    text = (GOOD.replace('<dimension name="channel" label="Medium"/>', '<dimension name="queues"/>')
                .replace('name="short-abandon"', 'name="short_abandon"')
                .replace('measures="service_level"', 'measures="service_level answered"'))
    assert [
        "report.xml:5: <parameter name=\"short_abandon\">: unknown parameter 'short_abandon' of source "
        "'contacts' (did you mean 'short-abandon'?)",
        "report.xml:6: <dimension name=\"queues\">: unknown dimension 'queues' of source 'contacts' "
        "(did you mean 'queue'?)",
        "report.xml:11: <chart>: charts measure 'answered', which the report does not show; the report "
        "shows: offered, service_level",
    ] == _problems(tmp_path, text)


def test_an_unknown_source_lists_the_known_ones(tmp_path):
    """source="contact" is close to contacts."""
    text = GOOD.replace('source="contacts"', 'source="contact"')
    assert ["report.xml:2: <report name=\"billing-today\">: unknown source 'contact' (did you mean 'contacts'?)"] == \
        _problems(tmp_path, text)


def test_the_dtd_is_enforced(tmp_path):
    """A report without measures and with an unknown interval breaks reports.dtd, at the root's line."""
    text = """<report name="x" title="X" source="agents" interval="minute">
  <dimension name="agent"/>
</report>
"""
    problems = _problems(tmp_path, text)
    assert [("report.xml:1", "breaks reports.dtd"), ("report.xml:1", "breaks reports.dtd")] == [
        tuple(p.split(": ")[:2]) for p in problems]


def test_a_filter_needs_in_or_not_in(tmp_path):
    """Neither (or both) is a problem of the filter element."""
    text = GOOD.replace('<filter dimension="queue" in="billing"/>', '<filter dimension="queue"/>')
    assert ['report.xml:9: <filter>: give exactly one of in="..." and not-in="..."'] == _problems(tmp_path, text)


def test_two_reports_of_one_name(tmp_path):
    """The second file naming an existing report is refused, naming the first."""
    first = _write(tmp_path, GOOD, "a.xml")
    second = _write(tmp_path, GOOD, "b.xml")
    with pytest.raises(ReportDefinitionError) as caught:
        read_definitions([first, second], SOURCES)
    assert [f"{second}:2: <report name=\"billing-today\">: a report named 'billing-today' is already defined "
            f"at {first}:2; rename one of them"] == [str(p) for p in caught.value.problems]


def test_an_entity_declaration_is_refused(tmp_path):
    """The XML readers' safety rules hold for reports too: no entities, no external DTD."""
    text = '<!DOCTYPE report [<!ENTITY x "y">]>\n' + GOOD.split("\n", 1)[1]
    assert ["report.xml:1: refused: the DOCTYPE declares entities; Caruso's formats use none, remove them"] == \
        _problems(tmp_path, text)


def test_the_built_in_reports_are_valid():
    """The files shipped in caruso/services/reporting/reports/ read cleanly against the built-in sources."""
    assert ["agent-availability", "campaign-outcomes", "campaign-results", "contact-statistics", "voicemail"] == \
        sorted(read_definitions([BUILTIN_FOLDER], SOURCES))
