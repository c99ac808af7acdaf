"""The sales plugin's figures for the reports: the pipeline by the interval opportunities were created in.

``pipeline`` facts are the plugin's opportunities placed by ``created``, with their
stage and its outcome (open, won, lost) and their value. The value is read through
the model's exact decimal type, so SQLite's scaled integers sum to the same money
as PostgreSQL's and MariaDB's numerics.
"""

from __future__ import annotations

import sqlalchemy as sa

from caruso.services.reporting import SUM, Dimension, Measure, Part, ReportSource, ratio, total
from caruso.services.reporting.sql import epoch_seconds
from caruso.storage.types import ExactDecimal

OPPORTUNITIES = sa.table("sales_opportunity", sa.column("created"), sa.column("stage_name"), sa.column("owner"),
                         sa.column("value", ExactDecimal(14, 2)))
STAGES = sa.table("sales_stage", sa.column("name"), sa.column("outcome"))


class Pipeline(ReportSource):
    """Opportunities by the interval they were created in."""

    name = "pipeline"
    title = "Sales pipeline"
    tables = ("sales_opportunity", "sales_stage")
    dimensions = (
        Dimension("stage", "Stage"), Dimension("owner", "Owner"),
        Dimension("outcome", "Outcome", "open, won or lost: the stage's outcome"),
    )
    measures = (
        Measure("opportunities", "Opportunities", "count", total("opportunities")),
        Measure("value", "Value", "count", total("value"), "the opportunities' expected value"),
        Measure("won", "Won", "count", total("won")),
        Measure("win_rate", "Win rate", "ratio", ratio("won", "closed"), "won / (won + lost)"),
    )

    def facts(self, query):
        o, s = OPPORTUNITIES.c, STAGES.c
        start = epoch_seconds(o.created)
        return (sa.select(start.label("start"), o.stage_name.label("stage"), o.owner, s.outcome, o.value)
                .select_from(OPPORTUNITIES.join(STAGES, s.name == o.stage_name))
                .where(start >= query.start, start < query.end).subquery("pipeline"))

    def parts(self, query, facts):
        def outcome(*wanted):
            return lambda f, _: sa.case((f.c.outcome.in_(wanted), 1), else_=0)

        return (
            Part("opportunities", SUM, lambda f, _: sa.literal(1), integer=True),
            Part("value", SUM, lambda f, _: f.c.value),
            Part("won", SUM, outcome("won"), integer=True),
            Part("closed", SUM, outcome("won", "lost"), integer=True),
        )
