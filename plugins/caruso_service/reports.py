"""The service plugin's figures for the reports: requests by when they were opened, and how they fared.

``service-requests`` facts are the plugin's ``service_request`` rows placed by
``opened``; ``handled_at_once`` counts the requests resolved without an escalation
- by construction, within the front office's target (``front_office``).
"""

from __future__ import annotations

import sqlalchemy as sa

from caruso.services.reporting import SUM, Dimension, Measure, Part, ReportSource, ratio, total
from caruso.services.reporting.sql import epoch_seconds

REQUESTS = sa.table("service_request", sa.column("opened"), sa.column("status"), sa.column("level"),
                    sa.column("category"), sa.column("priority"), sa.column("kind"), sa.column("channel"))


def _count(condition):
    return lambda facts, _overlap: sa.case((condition(facts), 1), else_=0)


class ServiceRequests(ReportSource):
    """Service requests by the interval they were opened in."""

    name = "service-requests"
    title = "Service requests"
    tables = ("service_request",)
    dimensions = (
        Dimension("category", "Category"), Dimension("priority", "Priority"),
        Dimension("kind", "Kind", "request, complaint or question"), Dimension("channel", "Channel"),
    )
    measures = (
        Measure("opened", "Opened", "count", total("opened")),
        Measure("resolved", "Resolved", "count", total("resolved")),
        Measure("escalated", "Escalated", "count", total("escalated"),
                "requests that went up at least one level of responsibility"),
        Measure("handled_at_once", "Solved by the front office", "count", total("at_once")),
        Measure("front_office_rate", "Front-office SLA compliance", "ratio", ratio("at_once", "opened"),
                "resolved without escalation / opened"),
    )

    def facts(self, query):
        r = REQUESTS.c
        start = epoch_seconds(r.opened)
        return (sa.select(start.label("start"), r.status, r.level, r.category, r.priority, r.kind, r.channel)
                .where(start >= query.start, start < query.end).subquery("service_requests"))

    def parts(self, query, facts):
        resolved = lambda f: f.c.status.in_(("resolved", "closed"))  # noqa: E731
        return (
            Part("opened", SUM, lambda f, _: sa.literal(1), integer=True),
            Part("resolved", SUM, _count(resolved), integer=True),
            Part("escalated", SUM, _count(lambda f: f.c.level > 0), integer=True),
            Part("at_once", SUM, _count(lambda f: sa.and_(resolved(f), f.c.level == 0)), integer=True),
        )
