"""The ``marketing`` service: saved segments, campaigns over them on a channel, and their responses.

A segment is a saved query - a list of ``[attribute, operator, value]`` conditions
on a business object, all of which must hold - built into SQLAlchemy clauses from a
fixed set of operators, never into SQL text, so marketing staff can save any
segment without being able to write SQL.

A campaign works a segment on one channel:

- ``email``: each member with an e-mail address gets the campaign's subject and
  body, jinja2 templates rendered in the scripts' sandbox with ``customer``,
  through the ``email`` service (so each mail is in the customer's history);
- ``call``: the communication server's campaign of the same name dials the members
  - it names this service as its ``call_list`` - in preview, progressive or
  predictive mode, with everything campaigns do (retries, do-not-call, calling
  hours, the abandon cap); each call's result code comes back as a response.

Every response (``sent``, ``no-address``, a call's code, a reply recorded by
``record_response``) is a ``CampaignResponse``; ``results`` counts them in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from caruso.errors import CarusoError, ValidationError, Violation, did_you_mean
from caruso.services.base import Service

__all__ = ["OPERATORS", "MarketingService"]

log = logging.getLogger("caruso.marketing")

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not-in", "contains", "is-empty", "is-not-empty")


def _clause(column: Any, operator: str, value: Any) -> Any:
    if operator == "=":
        return column == value
    if operator == "!=":
        return sa.or_(column != value, column.is_(None))
    if operator in ("<", "<=", ">", ">="):
        return {"<": column < value, "<=": column <= value, ">": column > value, ">=": column >= value}[operator]
    if operator == "in":
        return column.in_(list(value))
    if operator == "not-in":
        return sa.or_(column.not_in(list(value)), column.is_(None))
    if operator == "contains":
        return sa.func.lower(column).contains(str(value).lower(), autoescape=True)
    if operator == "is-empty":
        return sa.or_(column.is_(None), column == "")
    return sa.and_(column.is_not(None), column != "")


class MarketingService(Service):
    """The default ``marketing`` service."""

    requires = ("bom", "clock")  # and the communication server when it runs (see plugin.py)

    def on_start(self) -> None:
        self.bom = self.context.manager.get("bom")
        self.clock = self.context.manager.get("clock")
        self._subscription = None
        manager = self.context.manager
        server = manager.get("communication") if "communication" in manager else None
        if server is not None and getattr(server, "event_log", None) is not None:
            self._subscription = server.subscribe(self._call_ended, kinds=["completed"])

    def on_stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()

    # --- segments ----------------------------------------------------------------------

    def define_segment(self, name: str, conditions: Sequence[Sequence[Any]], *, object: str = "Customer",
                       description: str | None = None) -> int:
        """Save a segment; its key.

        Raises:
            ValidationError: an unknown object, attribute or operator (with a did-you-mean),
                or a value that does not fit its operator; nothing is saved.
        """
        conditions = [list(condition) for condition in conditions]
        self._clauses(object, conditions)  # refuses what would not run
        with self.bom.unit_of_work() as session:
            segment = self.bom.model.Segment(name=name, object=object, conditions=conditions, description=description)
            session.add(segment)
            session.flush()
            return segment.id

    def members(self, segment: int | str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The segment's objects now (their attribute values), in key order."""
        found = self._segment(segment)
        cls = self.bom.model[found["object"]]
        query = sa.select(cls).where(*self._clauses(found["object"], found["conditions"] or []))
        query = query.order_by(*sa.inspect(cls).primary_key).limit(limit)
        with self.bom.session() as session:
            return [row.to_dict() for row in session.scalars(query)]

    def count(self, segment: int | str) -> int:
        found = self._segment(segment)
        cls = self.bom.model[found["object"]]
        query = sa.select(sa.func.count()).select_from(cls).where(*self._clauses(found["object"], found["conditions"] or []))
        with self.bom.session() as session:
            return session.scalar(query)

    # --- campaigns ----------------------------------------------------------------------

    def create_campaign(self, name: str, segment: int | str, *, channel: str = "email", subject: str | None = None,
                        body: str | None = None) -> int:
        """A campaign over ``segment``; its key. An e-mail campaign needs its subject and body
        templates (checked now); a call campaign needs a communication-server campaign of the
        same name whose ``call_list`` is ``"marketing"``."""
        key = self._segment(segment)["id"]
        if channel == "email":
            if not subject or not body:
                raise ValidationError([Violation("MarketingCampaign", "body", body,
                                                 "an e-mail campaign needs a subject and a body")])
            self._templates(name, subject, body)
        with self.bom.unit_of_work() as session:
            campaign = self.bom.model.MarketingCampaign(name=name, segment_id=key, channel=channel, subject=subject,
                                                        body=body)
            session.add(campaign)
            session.flush()
            return campaign.id

    def launch(self, campaign: int | str) -> dict[str, int]:
        """Run the campaign: send the e-mails, or start the server's call campaign. Returns the
        responses counted so far by outcome."""
        found = self._campaign(campaign)
        now = self.clock.now()
        with self.bom.unit_of_work() as session:
            row = self.bom.model.MarketingCampaign.get(session, found["id"])
            row.status, row.started = "running", now
        if found["channel"] == "call":
            self.context.manager.get("communication").campaigns.start(found["name"])
            return self.results(found["id"])
        self._send_mails(found)
        with self.bom.unit_of_work() as session:
            self.bom.model.MarketingCampaign.get(session, found["id"]).status = "done"
        return self.results(found["id"])

    def call_list(self, campaign: str) -> list[tuple[str, Any, dict[str, Any]]]:
        """For the communication server: the numbers of the campaign's segment, with each customer."""
        found = self._campaign(campaign)
        rows = []
        for member in self.members(found["segment_id"]):
            number = member.get("phone") or member.get("mobile")
            if number:
                rows.append((number, member.get("id"), {"name": member.get("name")}))
        return rows

    def record_response(self, campaign: int | str, customer: Any, outcome: str, *, channel: str | None = None,
                        detail: str | None = None) -> None:
        """A customer's response from outside (a reply, a visit of the landing page, an order)."""
        found = self._campaign(campaign)
        self._respond(found["id"], [(customer, outcome, channel or found["channel"], detail)])

    def results(self, campaign: int | str) -> dict[str, int]:
        """Responses by outcome, counted in the database."""
        found = self._campaign(campaign)
        Response = self.bom.model.CampaignResponse
        query = (sa.select(Response.outcome, sa.func.count()).where(Response.campaign_id == found["id"])
                 .group_by(Response.outcome).order_by(Response.outcome))
        with self.bom.session() as session:
            return {outcome: count for outcome, count in session.execute(query)}

    # --- internals -----------------------------------------------------------------------

    def _send_mails(self, campaign: dict[str, Any]) -> None:
        from caruso.services.scripts._sandbox import ScriptObject

        email = self.context.manager.get("email")
        subject, body = self._templates(campaign["name"], campaign["subject"], campaign["body"])
        responses = []
        for member in self.members(campaign["segment_id"]):
            address = member.get("email")
            if not address:
                responses.append((member.get("id"), "no-address", "email", None))
                continue
            namespace = {"customer": ScriptObject("Customer", member)}
            try:
                email.send_mail([address], subject(namespace), body(namespace), customer=member.get("id"))
            except (CarusoError, ValueError) as exc:
                responses.append((member.get("id"), "failed", "email", str(exc)))
            else:
                responses.append((member.get("id"), "sent", "email", address))
        self._respond(campaign["id"], responses)

    def _call_ended(self, event: Any) -> None:
        """A call of a call campaign ended: its result code (or dial result) is a response."""
        if event.campaign is None:
            return
        try:
            found = self._campaign(event.campaign)
        except ValidationError:
            return  # a campaign of the server's own, not marketing's
        server = self.context.manager.get("communication")
        interaction = server.interactions.get(event.interaction)
        customer = interaction.customer if interaction is not None else None
        data = event.data or {}
        outcome = data.get("code") or data.get("outcome") or "completed"
        try:
            self._respond(found["id"], [(customer, outcome, "call", None)])
        except CarusoError as exc:  # never break the server's operation; the event log still has it
            log.warning("campaign %r: the response of %s was not recorded: %s", found["name"], event.interaction, exc)

    def _respond(self, campaign_id: int, responses: Iterable[tuple[Any, str, str, str | None]]) -> None:
        Response = self.bom.model.CampaignResponse
        now = self.clock.now()
        with self.bom.unit_of_work() as session:
            session.add_all(Response(campaign_id=campaign_id, customer=None if customer is None else str(customer),
                                     outcome=outcome, channel=channel, detail=detail, at=now)
                            for customer, outcome, channel, detail in responses)

    def _templates(self, name: str, subject: str, body: str) -> tuple[Any, Any]:
        from caruso.services.scripts.expressions import ExpressionEngine
        from caruso.services.scripts.model import Where

        engine = ExpressionEngine()
        where = Where(f"marketing campaign {name!r}", None)
        try:
            return engine.compile_template(subject, where), engine.compile_template(body, where)
        except CarusoError as exc:
            raise ValidationError([Violation("MarketingCampaign", "body", body, str(exc))]) from exc

    def _clauses(self, object_name: str, conditions: Sequence[Sequence[Any]]) -> list[Any]:
        model = self.bom.model
        if object_name not in model:
            raise ValidationError([Violation("Segment", "object", object_name,
                                             f"no business object {object_name!r}{did_you_mean(object_name, model)}")])
        cls = model[object_name]
        names = sorted(prop.key for prop in sa.inspect(cls).column_attrs)
        clauses = []
        for condition in conditions:
            if len(condition) not in (2, 3):
                raise ValidationError([Violation("Segment", "conditions", condition,
                                                 "a condition is [attribute, operator, value]")])
            attribute, operator, value = (*condition, None)[:3]
            if attribute not in names:
                raise ValidationError([Violation("Segment", "conditions", attribute,
                                                 f"{object_name} has no attribute {attribute!r}"
                                                 f"{did_you_mean(attribute, names) or '; known: ' + ', '.join(names)}")])
            if operator not in OPERATORS:
                raise ValidationError([Violation("Segment", "conditions", operator,
                                                 f"unknown operator {operator!r}{did_you_mean(operator, OPERATORS)};"
                                                 f" operators: {' '.join(OPERATORS)}")])
            if operator in ("in", "not-in") and not isinstance(value, (list, tuple)):
                raise ValidationError([Violation("Segment", "conditions", value, f"{operator!r} takes a list of values")])
            clauses.append(_clause(getattr(cls, attribute), operator, value))
        return clauses

    def _segment(self, segment: int | str) -> dict[str, Any]:
        return self._find("Segment", segment)

    def _campaign(self, campaign: int | str) -> dict[str, Any]:
        return self._find("MarketingCampaign", campaign)

    def _find(self, object_name: str, key_or_name: int | str) -> dict[str, Any]:
        cls = self.bom.model[object_name]
        where = cls.id == key_or_name if isinstance(key_or_name, int) else cls.name == key_or_name
        with self.bom.session() as session:
            found = session.scalars(sa.select(cls).where(where)).first()
            if found is None:
                raise ValidationError([Violation(object_name, "name", key_or_name, f"no {object_name} {key_or_name!r}")])
            return found.to_dict()
