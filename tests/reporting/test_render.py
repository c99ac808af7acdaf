"""A computed report as CSV, JSON and one self-contained HTML page with SVG charts."""

from __future__ import annotations

import io
import json
import re

from lxml import etree, html

from caruso.services.reporting.render import to_csv, to_html, to_json
from tests.reporting.conftest import T0, hours


def _day(log) -> None:
    log.contact("c1", "billing", 600, answer=610, agent="anna", end=710, complete=730)
    log.contact("c2", "<b>vip</b>", 700, abandon=760)
    log.flush()


def test_csv_has_one_line_per_interval_and_queue(local_reporting):
    """Machine-readable headings, empty cells for unknown rates, the numbers as computed."""
    log, reports = local_reporting
    _day(log)
    result = reports.run("voicemail", T0, T0 + hours(1))
    out = io.StringIO()
    to_csv(result, out)
    assert "interval,queue,left,called_back,not_called_back,average_time_to_callback,longest_time_to_callback\n" \
        == out.getvalue()
    result = reports.run("contact-statistics", T0, T0 + hours(1))
    out = io.StringIO()
    assert 2 == to_csv(result, out)
    assert ["interval,queue,offered,answered,abandoned,short_abandoned,answered_within,service_level,"
            "average_speed_of_answer,longest_wait,average_talk_time,average_handle_time,transfers,voicemails",
            "2026-03-02T08:00+00:00,<b>vip</b>,1,0,1,0,0,0.0,,60.0,,,0,0",
            "2026-03-02T08:00+00:00,billing,1,1,0,0,1,1.0,10.0,10.0,100.0,120.0,0,0"] == out.getvalue().splitlines()


def test_json_carries_the_period_rows_and_totals(local_reporting):
    """Plain data, readable by any tool: rows keyed by dimension and measure names."""
    log, reports = local_reporting
    _day(log)
    data = json.loads(json.dumps(to_json(reports.run("contact-statistics", T0, T0 + hours(1)))))
    assert ("contact-statistics", "hour", "2026-03-02T08:00:00+00:00", 2, 2) == (
        data["report"], data["interval"], data["from"], len(data["rows"]), data["totals"]["offered"])
    assert {"interval": "2026-03-02T08:00+00:00", "queue": "billing", "offered": 1} == {
        k: data["rows"][1][k] for k in ("interval", "queue", "offered")}


def test_html_is_one_self_contained_page_with_its_charts(local_reporting):
    """Two inline SVG charts (pygal), the table with totals, no script and nothing fetched from elsewhere,
    and a queue name with markup shown as text (autoescape)."""
    log, reports = local_reporting
    _day(log)
    page = to_html(reports.run("contact-statistics", T0, T0 + hours(2)), application="Test CRM")
    tree = html.fromstring(page)
    assert 2 == len(tree.xpath("//figure/*[local-name()='svg']"))
    assert [] == tree.xpath("//script | //*[local-name()='script'] | //link | //img | //iframe")
    assert [] == re.findall(r'(?:src|href)\s*=\s*"(?!#)', page)
    assert ["<b>vip</b>"] == [td.text for td in tree.xpath("//tbody/tr[1]/td[2]")]
    assert (2, 0) == (page.count("<td>&lt;b&gt;vip&lt;/b&gt;</td>"), page.count("<b>vip</b>"))  # row, total
    assert ["Contact statistics"] == [h.text for h in tree.xpath("//h1")]
    totals = [td.text for td in tree.xpath("//tr[@class='total'][last()]/td")]
    assert ["Total", None, "2", "1"] == totals[:4]


def test_html_of_an_empty_period_says_so(local_reporting):
    """No data: the page says it, the charts are drawn without points, nothing fails."""
    _log, reports = local_reporting
    page = to_html(reports.run("agent-availability", T0, T0 + hours(24)))
    tree = html.fromstring(page)
    assert (["No data in this period."], 1) == ([p.text for p in tree.xpath("//p[@class='empty']")],
                                                len(tree.xpath("//figure")))
    svg = tree.xpath("//figure/*[local-name()='svg']")[0]
    assert "svg" == etree.QName(svg).localname


def test_a_chart_of_many_agents_shows_the_largest_twelve(local_reporting):
    """15 agents, one day: the chart has the agents along the x axis, only the 12 with the most talk time,
    and says so in its title; the table still has all 15."""
    log, reports = local_reporting
    for n in range(15):
        log.agent(f"agent-{n:02d}", 0, "ready")
        log.contact(f"c{n}", "billing", 100, answer=100, agent=f"agent-{n:02d}", end=100 + 60 * (n + 1),
                    complete=100 + 60 * (n + 1))
    log.flush()
    result = reports.run("agent-availability", T0, T0 + hours(2))
    page = html.fromstring(to_html(result))
    (title,) = [f.get("aria-label") for f in page.xpath("//figure")]
    assert "Time in each state (the 12 largest of 15)" == title
    svg = page.xpath("//figure/*")[0]
    labels = list(dict.fromkeys(e.text for e in svg.iter() if e.get("class") == "x_label"))
    assert [f"agent-{n:02d}" for n in range(3, 15)] == labels  # talk 60 s x (n + 1): the last 12
    assert 15 == len(page.xpath("//tbody/tr[not(@class)]"))
