"""The ``sales`` service: leads scored hot or cold, opportunities through stages, quotes to the ERP, a forecast.

Two things are configuration, because every business has its own: the stages an
opportunity moves through (each with the probability the forecast weighs it by,
and whether it is won or lost), and how a lead is scored (sandboxed expressions
over the lead, each worth points; the total against the ``hot`` and ``warm``
thresholds makes the rating). Stages become rows of ``SalesStage`` at start and
an opportunity *references* one, so the database itself refuses a stage that is
not configured.

An accepted quote becomes a ``SalesOrder`` handed to the ERP through a wrapper
service (``erp``, calling ``erp_method`` with the order): the ERP's number comes
back as ``erp_reference``. When the ERP refuses or is down the order stays,
``failed`` with the error, until ``retry_orders()`` - never lost, never sent twice
(an order already ``sent`` is not sent again).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from caruso.errors import CarusoError, ConfigError, Problem, ValidationError, Violation, did_you_mean
from caruso.services.base import Service

__all__ = ["SalesService", "SalesSettings", "ScoreRule", "StageSettings"]

log = logging.getLogger("caruso.sales")

GROUPS = ("stage", "owner", "month", "outcome")


@attrs.frozen
class StageSettings:
    """One stage: its name, the forecast's probability (0 to 1), and ``open``, ``won`` or ``lost``."""

    name: str
    probability: float
    outcome: Literal["open", "won", "lost"] = "open"


@attrs.frozen
class ScoreRule:
    """Points a lead earns when ``when`` (a sandboxed expression over ``lead``) holds."""

    when: str
    points: int


DEFAULT_STAGES = (
    StageSettings("initiation", 0.1), StageSettings("qualification", 0.25), StageSettings("rfp-received", 0.5),
    StageSettings("quote-sent", 0.7), StageSettings("won", 1.0, "won"), StageSettings("lost", 0.0, "lost"),
)
DEFAULT_SCORING = (
    ScoreRule("lead.source == 'referral'", 30), ScoreRule("lead.source == 'web'", 15),
    ScoreRule("lead.source in ('campaign', 'call')", 10), ScoreRule("lead.company", 10),
    ScoreRule("lead.budget and lead.budget >= 10000", 25), ScoreRule("lead.budget and lead.budget >= 50000", 15),
    ScoreRule("lead.email", 5), ScoreRule("lead.phone", 5),
)


@attrs.frozen
class SalesSettings:
    """``[services.sales.settings]``.

    Args:
        stages: the opportunity stages in order (``[[services.sales.settings.stages]]``).
        scoring: the lead-scoring rules (``[[services.sales.settings.scoring]]``).
        hot: the score from which a lead is hot; ``warm``: from which it is warm.
        erp: the wrapper service sales orders go to; None: orders wait as ``new``.
        erp_method: the wrapper's method, called with the order as a dict.
        country: the calling code for national phone numbers of leads (``31``).
    """

    stages: tuple[StageSettings, ...] = DEFAULT_STAGES
    scoring: tuple[ScoreRule, ...] = DEFAULT_SCORING
    hot: int = 60
    warm: int = 30
    erp: str | None = None
    erp_method: str = "create_sales_order"
    country: str | None = None


class SalesService(Service):
    """The default ``sales`` service."""

    requires = ("bom", "clock")
    Settings = SalesSettings

    def on_start(self) -> None:
        from caruso.services.scripts.expressions import ExpressionEngine
        from caruso.services.scripts.model import Expr, Where

        settings = self.context.settings
        self.config = settings if isinstance(settings, SalesSettings) else SalesSettings(**(settings or {}))
        self.bom = self.context.manager.get("bom")
        self.clock = self.context.manager.get("clock")
        problems = _stage_problems(self.config.stages)
        engine = ExpressionEngine()
        self._scoring = []
        for index, rule in enumerate(self.config.scoring):
            where = Where(f"caruso.toml [[services.sales.settings.scoring]] #{index + 1}", None)
            try:
                self._scoring.append((engine.compile_condition(Expr(rule.when, where)), rule.points))
            except CarusoError as exc:
                problems.append(f"services.sales.settings.scoring.{index}.when: {exc}")
        if problems:
            config = getattr(self.context.app, "config", None)
            raise ConfigError([Problem(str(config.path) if config else None, None, p) for p in problems])
        self.stages = {stage.name: stage for stage in self.config.stages}
        self._stages_written = self._write_stages()

    # --- leads ---------------------------------------------------------------------

    def score(self, values: dict[str, Any]) -> tuple[int, str]:
        """A lead's score and rating (``hot``, ``warm``, ``cold``) from its values."""
        from caruso.services.scripts._sandbox import ScriptObject

        lead = ScriptObject("Lead", values)
        total = sum(points for condition, points in self._scoring if condition({"lead": lead}))
        rating = "hot" if total >= self.config.hot else "warm" if total >= self.config.warm else "cold"
        return total, rating

    def capture_lead(self, name: str, *, source: str = "other", email: str | None = None, phone: str | None = None,
                     company: str | None = None, campaign: str | None = None, interest: str | None = None,
                     budget: Decimal | int | str | None = None, owner: str | None = None) -> int:
        """Record a lead from a campaign, the web or a call, scored and rated; its key.

        A national phone number is written in E.164 with ``country``.

        Raises:
            ValidationError: the e-mail address or phone number is not one (with the reason),
                or another value breaks the model; nothing is stored.
        """
        from caruso.services.communication.identify import normalise_number

        if phone:
            phone = normalise_number(phone, self.config.country) or phone  # what does not read is refused below
        values = {"name": name, "source": source, "email": email or None, "phone": phone or None,
                  "company": company, "campaign": campaign, "interest": interest,
                  "budget": Decimal(str(budget)) if budget is not None else None, "owner": owner}
        values["score"], values["rating"] = self.score(values)
        with self.bom.unit_of_work() as session:
            lead = self.bom.model.Lead(**values)
            session.add(lead)
            session.flush()
            return lead.id

    def convert(self, lead: int, *, opportunity: str, value: Decimal | int | str = 0,
                close_date: dt.date | None = None, owner: str | None = None) -> int:
        """Turn a lead into an opportunity at the first stage, on the lead's customer or a
        new one made from the lead; the opportunity's key."""
        model = self.bom.model
        first = self.config.stages[0].name
        self._ensure_stages()
        with self.bom.unit_of_work() as session:
            found = self._get(session, "Lead", lead)
            if found.customer_id is None:
                customer = model.Customer(name=found.company or found.name,
                                          kind="organisation" if found.company else "person",
                                          email=found.email, phone=found.phone)
                session.add(customer)
                session.flush()
                found.customer_id = customer.id
            created = model.Opportunity(name=opportunity, value=Decimal(str(value)), close_date=close_date,
                                        owner=owner or found.owner, stage_name=first, customer_id=found.customer_id,
                                        lead_id=found.id)
            found.status = "converted"
            session.add(created)
            session.flush()
            return created.id

    # --- opportunities ---------------------------------------------------------------

    def move(self, opportunity: int, stage: str, *, reason: str | None = None) -> None:
        """Move an opportunity to ``stage``; a lost stage needs the reason.

        Raises:
            ValidationError: no such stage (with a did-you-mean), or lost without a reason.
        """
        known = self.stages.get(stage)
        if known is None:
            raise ValidationError([Violation("Opportunity", "stage", stage,
                                             f"no stage {stage!r}{did_you_mean(stage, self.stages) or ''};"
                                             f" the stages are {', '.join(self.stages)}")])
        if known.outcome == "lost" and not (reason or "").strip():
            raise ValidationError([Violation("Opportunity", "lost_reason", reason,
                                             f"an opportunity moved to {stage!r} needs the reason it was lost")])
        self._ensure_stages()
        with self.bom.unit_of_work() as session:
            found = self._get(session, "Opportunity", opportunity)
            found.stage_name = stage
            if known.outcome == "lost":
                found.lost_reason = reason

    def quote(self, opportunity: int, lines: Iterable[tuple[str, Decimal | int | str, Decimal | int | str]], *,
              valid_until: dt.date | None = None) -> int:
        """A quote of ``(product, quantity, unit price)`` lines; its key."""
        model = self.bom.model
        with self.bom.unit_of_work() as session:
            self._get(session, "Opportunity", opportunity)
            quote = model.Quote(opportunity_id=opportunity, valid_until=valid_until)
            total = Decimal(0)
            for product, quantity, price in lines:
                quantity, price = Decimal(str(quantity)), Decimal(str(price))
                quote.lines.append(model.QuoteLine(product=product, quantity=quantity, unit_price=price))
                total += quantity * price
            quote.total = total.quantize(Decimal("0.01"))
            session.add(quote)
            session.flush()
            return quote.id

    def accept_quote(self, quote: int) -> dict[str, Any]:
        """The customer accepts: the quote becomes a sales order, handed to the ERP; the order."""
        model = self.bom.model
        with self.bom.unit_of_work() as session:
            found = self._get(session, "Quote", quote)
            found.status = "accepted"
            customer = self._get(session, "Opportunity", found.opportunity_id).customer_id
            order = model.SalesOrder(quote_id=quote, customer_id=customer, total=found.total)
            session.add(order)
            session.flush()
            key = order.id
        return self._send(key)

    def retry_orders(self) -> list[dict[str, Any]]:
        """Hand every order the ERP has not taken yet (``new``, ``failed``) to it again."""
        SalesOrder = self.bom.model.SalesOrder
        with self.bom.session() as session:
            keys = list(session.scalars(sa.select(SalesOrder.id).where(SalesOrder.status.in_(("new", "failed")))
                                        .order_by(SalesOrder.id)))
        return [self._send(key) for key in keys]

    def forecast(self, by: Sequence[str] = ("stage",), *, start: dt.date | None = None,
                 end: dt.date | None = None) -> list[dict[str, Any]]:
        """Opportunities closing from ``start`` to ``end`` grouped ``by`` stage, owner, month
        (of the close date, as 202703) or outcome: count, value, and value weighted by the
        stage's configured probability."""
        unknown = [name for name in by if name not in GROUPS]
        if unknown:
            raise ValueError(f"forecast groups by {', '.join(GROUPS)}, not {', '.join(unknown)}")
        Opportunity, SalesStage = self.bom.model.Opportunity, self.bom.model.SalesStage
        columns = {
            "stage": Opportunity.stage_name, "owner": Opportunity.owner, "outcome": SalesStage.outcome,
            "month": (sa.extract("year", Opportunity.close_date) * 100
                      + sa.extract("month", Opportunity.close_date)),
        }
        groups = [columns[name].label(name) for name in by]
        # Summed per stage in the database, weighted here: the portable decimal type keeps
        # scaled integers on SQLite, so a product of two decimals is not computed in SQL.
        query = (sa.select(*groups, Opportunity.stage_name.label("_stage"), sa.func.count().label("count"),
                           sa.func.sum(Opportunity.value).label("value"))
                 .join(SalesStage, SalesStage.name == Opportunity.stage_name)
                 .group_by(*groups, Opportunity.stage_name))
        if start is not None:
            query = query.where(Opportunity.close_date >= start)
        if end is not None:
            query = query.where(Opportunity.close_date <= end)
        with self.bom.session() as session:
            rows = session.execute(query).mappings().all()
        totals: dict[tuple, dict[str, Any]] = {}
        for row in rows:
            group = tuple(int(row[name]) if name == "month" and row[name] is not None else row[name] for name in by)
            total = totals.setdefault(group, {**dict(zip(by, group, strict=True)), "count": 0,
                                              "value": Decimal(0), "weighted": Decimal(0)})
            value = Decimal(row["value"] or 0)
            stage = self.stages.get(row["_stage"])
            total["count"] += row["count"]
            total["value"] += value
            total["weighted"] += value * Decimal(str(stage.probability if stage else 0))
        cents = Decimal("0.01")
        return [{**total, "value": total["value"].quantize(cents), "weighted": total["weighted"].quantize(cents)}
                for _group, total in sorted(totals.items(), key=lambda item: tuple(
                    (part is None, part) for part in item[0]))]

    # --- internals -----------------------------------------------------------------

    def _send(self, key: int) -> dict[str, Any]:
        """Hand one order to the ERP (unless it was already taken)."""
        model = self.bom.model
        with self.bom.session() as session:
            order = self._get(session, "SalesOrder", key)
            if order.status == "sent" or self.config.erp is None:
                return order.to_dict()
            quote = self._get(session, "Quote", order.quote_id)
            payload = {"order": order.id, "customer": order.customer_id, "total": str(order.total),
                       "lines": [{"product": line.product, "quantity": str(line.quantity),
                                  "unit_price": str(line.unit_price)}
                                 for line in session.scalars(quote.select_related("lines"))]}
        changes: dict[str, Any]
        try:
            erp = self.context.manager.get(self.config.erp)
            reference = getattr(erp, self.config.erp_method)(payload)
            changes = {"status": "sent", "erp_reference": str(reference), "error": None}
        except CarusoError as exc:
            log.warning("sales order %s: the ERP did not take it: %s", key, exc)
            changes = {"status": "failed", "error": str(exc)}
        with self.bom.unit_of_work() as session:
            order = model.SalesOrder.get(session, key)
            for name, value in changes.items():
                setattr(order, name, value)
            session.flush()
            return order.to_dict()

    def _get(self, session: Any, name: str, key: Any) -> Any:
        found = self.bom.model[name].get(session, key)
        if found is None:
            raise ValidationError([Violation(name, "id", key, f"no {name} {key!r}")])
        return found

    def _ensure_stages(self) -> None:
        """Write the stages now if the tables were not there at start (``caruso db upgrade`` since)."""
        if not self._stages_written:
            self._stages_written = self._write_stages()

    def _write_stages(self) -> bool:
        """Make ``SalesStage`` the configured stages; a stage no longer configured stays
        while opportunities still reference it (with a warning), otherwise it goes.
        False when the tables are not there yet."""
        SalesStage, Opportunity = self.bom.model.SalesStage, self.bom.model.Opportunity
        engine = self.context.manager.get("storage").engine
        if not sa.inspect(engine).has_table(SalesStage.__table__.name):
            return False  # before `caruso db upgrade`: written on first use
        try:
            with self.bom.unit_of_work() as session:
                existing = {stage.name: stage for stage in session.scalars(sa.select(SalesStage))}
                for position, stage in enumerate(self.config.stages):
                    row = existing.pop(stage.name, None) or SalesStage(name=stage.name)
                    row.position, row.probability, row.outcome = position, Decimal(str(stage.probability)), stage.outcome
                    session.add(row)
                for name, row in existing.items():
                    used = session.scalar(sa.select(sa.func.count()).where(Opportunity.stage_name == name))
                    if used:
                        log.warning("stage %r is no longer configured but %d opportunities are in it", name, used)
                    else:
                        session.delete(row)
        except CarusoError as exc:  # the database is away: written on first use
            log.warning("sales stages not written yet: %s", exc)
            return False
        return True


def _stage_problems(stages: Sequence[StageSettings]) -> list[str]:
    problems, seen = [], set()
    for index, stage in enumerate(stages):
        key = f"services.sales.settings.stages.{index}"
        if stage.name in seen:
            problems.append(f"{key}.name: two stages are named {stage.name!r}")
        seen.add(stage.name)
        if not 0 <= stage.probability <= 1:
            problems.append(f"{key}.probability: a probability from 0 to 1, not {stage.probability}")
    if stages and stages[0].outcome != "open":
        problems.append("services.sales.settings.stages.0: the first stage is where opportunities start; make it open")
    for outcome in ("won", "lost"):
        if not any(stage.outcome == outcome for stage in stages):
            problems.append(f"services.sales.settings.stages: no stage has outcome = {outcome!r}")
    return problems
