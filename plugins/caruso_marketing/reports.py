"""The marketing plugin's figures for the reports: campaign responses by when they came.

``campaign-responses`` facts are the plugin's ``marketing_response`` rows placed by
``at``, with their campaign's name and channel; every outcome is counted, and the
common ones (sent, a positive answer) have measures of their own.
"""

from __future__ import annotations

import sqlalchemy as sa

from caruso.services.reporting import SUM, Dimension, Measure, Part, ReportSource, ratio, total
from caruso.services.reporting.sql import epoch_seconds

RESPONSES = sa.table("marketing_response", sa.column("at"), sa.column("outcome"), sa.column("channel"),
                     sa.column("campaign_id"))
CAMPAIGNS = sa.table("marketing_campaign", sa.column("id"), sa.column("name"))

POSITIVE = ("interested", "ordered", "converted", "accepted")
"""Outcomes counted as a positive response (``positive`` and the response rate)."""


class CampaignResponses(ReportSource):
    """Responses to marketing campaigns by the interval they came in."""

    name = "campaign-responses"
    title = "Campaign responses"
    tables = ("marketing_response", "marketing_campaign")
    dimensions = (
        Dimension("campaign", "Campaign"), Dimension("outcome", "Outcome"),
        Dimension("channel", "Channel", "email or call"),
    )
    measures = (
        Measure("responses", "Responses", "count", total("responses")),
        Measure("reached", "Reached", "count", total("reached"), "sent e-mails and answered calls"),
        Measure("positive", "Positive", "count", total("positive"), "interested, ordered, converted, accepted"),
        Measure("positive_rate", "Positive / reached", "ratio", ratio("positive", "reached")),
    )

    def facts(self, query):
        r, c = RESPONSES.c, CAMPAIGNS.c
        start = epoch_seconds(r.at)
        return (sa.select(start.label("start"), c.name.label("campaign"), r.outcome, r.channel)
                .select_from(RESPONSES.join(CAMPAIGNS, c.id == r.campaign_id))
                .where(start >= query.start, start < query.end).subquery("responses"))

    def parts(self, query, facts):
        unreached = ("no-address", "failed", "no-answer", "busy", "voicemail", "abandoned", "do-not-call", "invalid")
        return (
            Part("responses", SUM, lambda f, _: sa.literal(1), integer=True),
            Part("reached", SUM, lambda f, _: sa.case((f.c.outcome.in_(unreached), 0), else_=1), integer=True),
            Part("positive", SUM, lambda f, _: sa.case((f.c.outcome.in_(POSITIVE), 1), else_=0), integer=True),
        )
