"""The ``service-desk`` service: requests with SLA deadlines that escalate level by level.

A request opened in the front office must be solved within ``front_office``
seconds (3 minutes by default); if it is not, it goes to the first escalation
level - a back-office queue with its own target (24 hours by default) - then the
next, each step with a new deadline, as the CRM literature's traceability asks.

The timer is not a thread of this service's own: the plugin ships a ``due`` rule
(``rules/sla.xml``) for the rules plugin, which fires when a request's ``due``
passes on the application's clock and calls the ``escalate_request`` action. So
a simulated day, advancing a manual clock, exercises every deadline, and a restart
neither repeats nor forgets an escalation (the rules' run log remembers).

An escalation that cannot be taken - the level's queue does not exist, or no level
is left - is never dropped: it is recorded as a failed ``Escalation`` (the alarm,
listed by ``alarms()``) and logged; the request stays open and overdue where the
supervisor sees it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import attrs

from caruso.errors import CarusoError, ServiceNotFound, UnknownName, ValidationError, Violation
from caruso.services.base import Service

__all__ = ["CategorySettings", "LevelSettings", "ServiceDesk", "ServiceDeskSettings"]

log = logging.getLogger("caruso.service")

OPEN = ("open", "escalated")


@attrs.frozen
class LevelSettings:
    """One level of responsibility above the front office: its queue and its SLA target (seconds)."""

    queue: str
    target: float = attrs.field(validator=attrs.validators.gt(0))
    name: str = ""


@attrs.frozen
class CategorySettings:
    """``[services.service-desk.settings.categories.NAME]``: the SLA of one category of
    requests, where it differs from everyone's (a fraud suspicion cannot wait a day)."""

    front_office: float | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.gt(0)))
    levels: tuple[LevelSettings, ...] = ()


@attrs.frozen
class ServiceDeskSettings:
    """``[services.service-desk.settings]``.

    Args:
        front_office: seconds the front office has to solve a request at once.
        levels: the escalation levels, in order (``[[services.service-desk.settings.levels]]``
            with ``queue``, ``target`` and a ``name``).
        reference: how a request's reference reads (``{id}`` is its key): in subjects,
            on the back office's work item.
        categories: per request category, its own ``front_office`` target and/or ``levels``;
            what a category leaves out is the general one.
    """

    front_office: float = attrs.field(default=180.0, validator=attrs.validators.gt(0))
    levels: tuple[LevelSettings, ...] = (LevelSettings("backoffice", 86_400.0, "back office"),)
    reference: str = "SR-{id}"
    categories: dict[str, CategorySettings] = attrs.field(factory=dict)

    def front_office_for(self, category: str | None) -> float:
        own = self.categories.get(category) if category else None
        return own.front_office if own is not None and own.front_office is not None else self.front_office

    def levels_for(self, category: str | None) -> tuple[LevelSettings, ...]:
        own = self.categories.get(category) if category else None
        return own.levels if own is not None and own.levels else self.levels


class ServiceDesk(Service):
    """The default ``service-desk`` service."""

    requires = ("bom", "clock", "rules")
    Settings = ServiceDeskSettings

    def on_start(self) -> None:
        manager = self.context.manager
        settings = self.context.settings
        self.config = settings if isinstance(settings, ServiceDeskSettings) else ServiceDeskSettings(**(settings or {}))
        self.bom = manager.get("bom")
        self.clock = manager.get("clock")
        for name in ("ServiceRequest", "Escalation"):
            if name not in self.bom.model:
                raise UnknownName("business object", name, self.bom.model.classes)

    # --- the API -------------------------------------------------------------------

    def open(self, subject: str, *, customer: Any = None, kind: str = "request", category: str = "general",
             priority: str = "normal", description: str | None = None, channel: str | None = None,
             interaction: str | None = None) -> int:
        """Open a request in the front office, due within ``front_office`` seconds; its key.

        Raises:
            ValidationError: a value breaks the model's rules (an unknown kind or priority).
        """
        now = self.clock.now()
        request = self.bom.model.ServiceRequest(
            subject=subject, customer_id=customer, kind=kind, category=category, priority=priority,
            description=description, channel=channel, interaction=interaction, opened=now,
            due=now + dt.timedelta(seconds=self.config.front_office_for(category)))
        with self.bom.unit_of_work() as session:
            session.add(request)
            session.flush()
            return request.id

    def start_sla(self, key: int) -> None:
        """Give an open request without a deadline the front office's: ``opened`` plus
        ``front_office`` seconds (the ``service-sla-start`` rule calls it for requests made
        elsewhere than ``open``)."""
        with self.bom.unit_of_work() as session:
            request = self._request(session, key)
            if request.due is None and request.status == "open":
                request.due = request.opened + dt.timedelta(
                    seconds=self.config.front_office_for(request.category))

    def resolve(self, key: int, resolution: str) -> None:
        """The request is solved: no deadline any more."""
        with self.bom.unit_of_work() as session:
            request = self._request(session, key)
            request.status, request.resolution = "resolved", resolution
            request.resolved, request.due = self.clock.now(), None

    def close(self, key: int) -> None:
        with self.bom.unit_of_work() as session:
            request = self._request(session, key)
            request.status, request.due = "closed", None

    def escalate(self, key: int, reason: str | None = None) -> dict[str, Any]:
        """Move an open request one level up, with that level's deadline, and hand it to the
        level's queue in the communication server; returns the ``Escalation`` recorded.

        When it cannot be done (no level left, the level's queue does not exist, the server
        refuses) the Escalation is ``failed`` with the reason - the alarm - and the request
        keeps its level and deadline, still open and overdue.
        """
        model = self.bom.model
        now = self.clock.now()
        with self.bom.session() as session:
            request = self._request(session, key)
            status, level, snapshot = request.status, request.level + 1, request.to_dict()
        levels = self.config.levels_for(snapshot["category"])
        if status not in OPEN:
            return {"status": "done", "reason": f"the request is {status}; nothing to escalate"}
        escalation = model.Escalation(request_id=key, at=now, level=level, reason=reason)
        changes: dict[str, Any] = {}
        if level > len(levels):
            self._fail(escalation, f"no escalation level above {level - 1}: add one to"
                                   " [[services.service-desk.settings.levels]]")
        else:
            target = levels[level - 1]
            escalation.queue = target.queue
            try:  # before the request's own transaction: the server writes its event log meanwhile
                escalation.interaction = self._hand_over(snapshot, target, level)
            except CarusoError as exc:
                self._fail(escalation, f"level {level} ({target.queue}): {exc}")
            else:
                changes = {"level": level, "queue": target.queue, "status": "escalated",
                           "due": now + dt.timedelta(seconds=target.target)}
        with self.bom.unit_of_work() as session:
            request = self._request(session, key)
            for name, value in changes.items():
                setattr(request, name, value)
            session.add(escalation)
            session.flush()
            return escalation.to_dict()

    def alarms(self) -> list[dict[str, Any]]:
        """The escalations that could not be taken, newest first."""
        Escalation = self.bom.model.Escalation
        with self.bom.session() as session:
            rows = session.scalars(Escalation.select(Escalation.status == "failed").order_by(Escalation.at.desc()))
            return [row.to_dict() for row in rows]

    def overdue(self) -> list[dict[str, Any]]:
        """Open requests past their deadline, the longest overdue first."""
        ServiceRequest = self.bom.model.ServiceRequest
        with self.bom.session() as session:
            rows = session.scalars(ServiceRequest.select(ServiceRequest.status.in_(OPEN),
                                                         ServiceRequest.due < self.clock.now())
                                   .order_by(ServiceRequest.due))
            return [row.to_dict() for row in rows]

    def reference(self, key: int) -> str:
        return self.config.reference.format(id=key)

    # --- internals -----------------------------------------------------------------

    def _request(self, session: Any, key: int) -> Any:
        request = self.bom.model.ServiceRequest.get(session, key)
        if request is None:
            raise ValidationError([Violation("ServiceRequest", "id", key, f"no service request {key!r}")])
        return request

    def _hand_over(self, request: dict[str, Any], target: LevelSettings, level: int) -> str | None:
        """Put the request in the level's queue as a work item (a ``callback``: the back
        office calls the customer back); its interaction id, or None without a server.
        Offered with an ``external`` id per request and level, so doing it twice (a crash
        between this and saving the request) puts it in the queue once."""
        try:
            server = self.context.manager.get("communication")
        except ServiceNotFound:
            return None
        if getattr(server, "router", None) is None or target.queue not in server.router.queues:
            known = sorted(getattr(server.router, "queues", ())) if getattr(server, "router", None) else []
            raise UnknownName("queue", target.queue, known)
        view = server.offer("callback", queue=target.queue, customer=request["customer_id"],
                            subject=f"[{self.reference(request['id'])}] {request['subject']}",
                            data={"service_request": request["id"], "level": level},
                            external=f"service-request:{request['id']}:{level}", sla=target.target)
        return view.id

    @staticmethod
    def _fail(escalation: Any, reason: str) -> None:
        escalation.status = "failed"
        escalation.reason = f"{escalation.reason}; {reason}" if escalation.reason else reason
        log.error("service request %s: escalation to level %s failed: %s", escalation.request_id,
                  escalation.level, reason)


def start_request_sla(context: Any, request: Any) -> None:
    """The ``start_request_sla`` action: give a request made elsewhere its front-office deadline."""
    context.service("service-desk").start_sla(int(request))


def escalate_request(context: Any, request: Any, reason: str | None = None) -> None:
    """The ``escalate_request`` action: move a service request one level up (rules, scripts)."""
    context.service("service-desk").escalate(int(request), reason)
