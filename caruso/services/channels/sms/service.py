"""The ``sms`` service: SMS in through a signed webhook, out through an HTTP gateway.

Inbound (``POST /sms/inbound``, JSON ``{"id", "from", "to", "text"}``): the
signature is checked first (``signing.py``) - a bad one is answered 403 and
nothing is read further, let alone stored. The number is normalised to E.164
(``phonenumbers``, national numbers read with ``country``), a flood from one
number is refused (429), a webhook delivered again (same gateway ``id``) is
answered as the first time. The message joins the number's open ``sms``
interaction, or offers a new one; the customer is matched by number with the
communication server's ``identify`` settings.

Outbound (``send_sms``): the message is stored ``queued`` and recorded in the
history, then a worker thread posts it to the gateway with retries
(``gateway.py``, ``retry.py``). The gateway's delivery-status callbacks
(``POST /sms/status``, JSON ``{"id", "status", "error"}``, signed the same way)
update it: ``delivered``, ``undelivered``, ``failed``.

``asgi`` is the Starlette application with both routes; with ``port`` set the
service serves it itself on uvicorn.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import attrs
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from caruso.errors import (
    CarusoError,
    DeliveryFailed,
    ServiceStateError,
    SignatureInvalid,
    StorageError,
)
from caruso.services.base import DEGRADED, DOWN, Health
from caruso.services.channels.base import ChannelService, NewContactSettings
from caruso.services.channels.flood import FloodGuard, FloodLimit
from caruso.services.communication.identify import normalise_number
from caruso.services.channels.history import customer_text
from caruso.services.channels.retry import OutboxWorker, RetryPolicy
from caruso.services.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from caruso.services.channels.sms.gateway import GatewayClient, GatewaySettings
from caruso.services.channels.sms.store import SmsStore

__all__ = ["SmsChannel", "SmsSettings", "e164"]

log = logging.getLogger("caruso.channels.sms")

STATUSES = ("sent", "delivered", "undelivered", "failed")


@attrs.frozen
class SmsSettings:
    """``[services.sms.settings]``.

    Args:
        secret: the shared secret inbound webhooks are signed with; required to receive.
        max_skew: seconds a signed request may be old (or ahead): replays are refused.
        host, port: serve the webhook on its own (port 0: a free one); None: only ``asgi``.
        number: the company's sending number (``from``), E.164.
        country: calling code for national numbers (default: the server's ``identify.country``).
        queue: the queue new SMS wait in (default: the server's default queue).
        max_length: characters per message, in and out (longer inbound: 413).
        gateway: the outbound gateway.
        retry: how sending is retried.
        flood: messages from one number in a window; more: 429.
        new_contact: create a business object for a number no customer has.
    """

    secret: str | None = None
    max_skew: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    host: str = "127.0.0.1"
    port: int | None = None
    number: str | None = None
    country: str | None = None
    queue: str | None = None
    max_length: int = attrs.field(default=1600, validator=attrs.validators.gt(0))
    gateway: GatewaySettings = GatewaySettings()
    retry: RetryPolicy = RetryPolicy()
    flood: FloodLimit = FloodLimit(messages=10, per=60.0)
    new_contact: NewContactSettings = NewContactSettings(address="phone")


def e164(number: str, country: str | None = None) -> str:
    """``number`` in E.164 (``+31612345678``); ``ValueError`` when it is no possible number."""
    normal = normalise_number(number, country)
    if normal is None:
        raise ValueError(f"{number!r} is not a phone number")
    return normal


class SmsChannel(ChannelService):
    """The default ``sms`` service (see the module docstring and docs/channels.md)."""

    channel = "sms"
    Settings = SmsSettings

    def __init__(self) -> None:
        self.store: SmsStore | None = None
        self.worker: OutboxWorker | None = None
        self.gateway: GatewayClient | None = None
        self.web: Any = None
        self.last_error: str | None = None
        self._receiving = threading.Lock()
        self.asgi = Starlette(routes=[
            Route("/sms/inbound", self._inbound, methods=["POST"]),
            Route("/sms/status", self._status, methods=["POST"]),
        ])

    def on_start(self) -> None:
        super().on_start()
        settings = self.config = self.settings_of(SmsSettings)
        from caruso.services.channels.checks import check_sms, raise_problems

        raise_problems(self.context.name, check_sms(settings, {status.name for status in self.server.queue_status()}))
        identify = getattr(self.server.config, "identify", None)
        self.country = settings.country or (identify.country if identify is not None else None)
        if not (settings.secret or settings.gateway.url or settings.port is not None):
            log.info("sms channel: no webhook secret or gateway configured; it stays idle")
            return  # no table, no threads in an application that does not use SMS
        self.history.open()
        self.store = SmsStore(self.manager.get("storage"))
        self.store.open()
        self._flood = FloodGuard(settings.flood, self.clock.monotonic)
        self.gateway = GatewayClient(settings.gateway)
        self.worker = OutboxWorker("caruso-sms-outbox", self.send_due)
        self.worker.start()
        if settings.port is not None:
            from caruso.services.channels.web import ServerThread

            self.web = ServerThread(self.asgi, host=settings.host, port=settings.port, name="caruso-sms")
            self.web.start()

    def on_stop(self) -> None:
        for part in (self.web, self.worker):
            if part is not None:
                part.stop()
        self.web = self.worker = None
        if self.gateway is not None:
            self.gateway.close()
        if self.store is not None:
            self.store.close()
            self.store = None

    def health(self) -> Health:
        if self.store is None:
            if getattr(self, "config", None) is not None:
                return Health(detail="idle: no webhook secret or gateway is configured")
            return Health(DOWN, "not started")
        waiting = [row for row in self.store.with_states(("queued",)) if row["attempts"] > 0]
        failed = self.store.with_states(("failed",))
        if waiting or failed:
            return Health(DEGRADED, f"{len(waiting)} SMS waiting for the gateway, {len(failed)} failed: "
                                    f"{self.last_error or (waiting or failed)[0]['last_error']}")
        return Health(detail=f"{self.store.count()} SMS")

    @property
    def port(self) -> int | None:
        return self.web.port if self.web is not None else None

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _running(self) -> None:
        if self.store is None:
            raise ServiceStateError("the SMS channel is idle: configure [services.sms.settings] gateway (to send)"
                                    " and secret (to receive); see docs/channels.md")

    # --- the webhook ------------------------------------------------------------------

    async def _verified(self, request: Request) -> bytes:
        body = await request.body()
        if not self.config.secret:
            raise SignatureInvalid("no secret is configured ([services.sms.settings] secret): nothing is accepted")
        verify(self.config.secret, body, request.headers.get(SIGNATURE_HEADER),
               request.headers.get(TIMESTAMP_HEADER), now=self._now(), max_skew=self.config.max_skew)
        return body

    async def _inbound(self, request: Request) -> JSONResponse:
        import asyncio

        try:
            body = await self._verified(request)
        except SignatureInvalid as exc:
            log.warning("sms webhook from %s refused: %s", request.client.host if request.client else "?", exc)
            return JSONResponse({"error": str(exc)}, status_code=403)
        try:
            message = orjson.loads(body)
            gateway_id, sender, text = str(message["id"]), str(message["from"]), message["text"]
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"expected JSON with id, from and text: {exc}"}, status_code=400)
        try:
            result = await asyncio.to_thread(self.receive, gateway_id, sender, text)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except CarusoError as exc:
            code = getattr(exc, "code", None)
            if code in (413, 429):
                return JSONResponse({"error": str(exc)}, status_code=code)
            log.warning("sms webhook: %s; the gateway should deliver it again", exc)
            return JSONResponse({"error": "temporarily unavailable; deliver it again later"}, status_code=503)
        return JSONResponse(result)

    def receive(self, gateway_id: str, sender: str, text: str) -> dict[str, Any]:
        """Take one inbound SMS (already authenticated); what became of it.

        Raises:
            ValueError: the sender is no phone number.
            MessageRefused: too long (413) or a flood (429).
            CarusoError: the database is unavailable (the gateway delivers it again).
        """
        from caruso.errors import MessageRefused

        number = e164(sender, self.country)
        if len(text) > self.config.max_length:
            raise MessageRefused(f"an SMS of {len(text)} characters is longer than max_length ({self.config.max_length})",
                                 code=413, limit="max_length")
        with self._receiving:  # one at a time from "seen before?" to its row: no double delivery
            known = self.store.inbound(gateway_id)
            if known is not None:
                return {"sms": known["id"], "interaction": known["interaction"], "duplicate": True}
            if not self._flood.allow(number):
                raise MessageRefused(f"too many messages from {number!r}: {self._flood.describe()}", code=429,
                                     limit="flood")
            customer, priority, _ = self.customer_for(self.config.new_contact, number)
            sms_id = self.store.add(direction="inbound", gateway_id=gateway_id, number=number, text=text,
                                    state="received", customer=customer_text(customer), at=self._now(), attempts=0)
        last = self.store.last_with_interaction(number)
        view = self.open_interaction(last["interaction"]) if last is not None else None
        if view is None:
            view = self.server.offer("sms", queue=self.config.queue, address=number, customer=customer,
                                     subject=text[:60], priority=priority, external=f"sms:{gateway_id}",
                                     parent=last["interaction"] if last is not None else None,
                                     data={"sms": sms_id})
            joined = False
        else:
            joined = True
        self.record("inbound", customer=customer if customer is not None else view.customer, address=number,
                    agent=view.agent, interaction=view.id, summary=text, body=f"sms:{sms_id}",
                    data={"gateway_id": gateway_id})
        self.store.update(sms_id, interaction=view.id)
        return {"sms": sms_id, "interaction": view.id, "joined": joined, "duplicate": False}

    async def _status(self, request: Request) -> JSONResponse:
        import asyncio

        try:
            body = await self._verified(request)
        except SignatureInvalid as exc:
            return JSONResponse({"error": str(exc)}, status_code=403)
        try:
            report = orjson.loads(body)
            gateway_id, status = str(report["id"]), str(report["status"])
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"expected JSON with id and status: {exc}"}, status_code=400)
        if status not in STATUSES:
            return JSONResponse({"error": f"status must be one of {', '.join(STATUSES)}"}, status_code=400)
        try:
            found = await asyncio.to_thread(self.delivery_status, gateway_id, status, report.get("error"))
        except StorageError:
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if not found:
            return JSONResponse({"error": f"no SMS with gateway id {gateway_id!r}"}, status_code=404)
        return JSONResponse({"ok": True})

    def delivery_status(self, gateway_id: str, status: str, error: str | None = None) -> bool:
        """A status report from the gateway; False when no message has that id."""
        row = self.store.outbound(gateway_id)
        if row is None:
            return False
        self.store.update(row["id"], state=status, status_at=self._now(), last_error=error)
        return True

    # --- sending ----------------------------------------------------------------------

    def send_sms(self, to: str, text: str, *, customer: Any = None, interaction: str | None = None,
                 agent: str | None = None) -> str:
        """Queue an SMS to ``to`` (normalised to E.164) and record it; its reference.

        Raises:
            ValueError: ``to`` is no phone number, or the text is empty or too long.
        """
        self._running()
        number = e164(to, self.country)
        if not text or len(text) > self.config.max_length:
            raise ValueError(f"an SMS needs 1 to {self.config.max_length} characters, not {len(text or '')}")
        if customer is None and interaction is None:
            customer, _ = self.identify(number)
        now = self._now()
        sms_id = self.store.add(direction="outbound", number=number, text=text, state="queued",
                                interaction=interaction, customer=customer_text(customer), agent=agent, at=now,
                                attempts=0, next_at=now)
        self.record("outbound", customer=customer, address=number, agent=agent, interaction=interaction,
                    summary=text, body=f"sms:{sms_id}")
        if self.worker is not None:
            self.worker.wake()
        return str(sms_id)

    def reply(self, interaction: str, text: str, *, agent: str | None = None) -> str:
        """Answer the customer of an SMS interaction."""
        view = self.server.interaction(interaction)
        return self.send_sms(view.address, text, customer=view.customer, interaction=interaction, agent=agent)

    def send_due(self) -> float | None:
        """Post every due SMS to the gateway; seconds until the next is due."""
        for row in self.store.due(self._now()):
            try:
                gateway_id = self.gateway.send(row["number"], self.config.number, row["text"], str(row["id"]),
                                               now=self._now())
            except DeliveryFailed as exc:
                self.last_error = str(exc)
                attempts = row["attempts"] + 1
                final = exc.permanent or attempts >= self.config.retry.max_attempts
                self.store.update(row["id"], state="failed" if final else "queued", attempts=attempts,
                                  next_at=self._now() + self.config.retry.delay(attempts), last_error=str(exc))
                if not exc.permanent:
                    break  # the gateway is away: the rest waits for the next round
                continue
            self.last_error = None
            self.store.update(row["id"], state="sent", gateway_id=gateway_id, attempts=row["attempts"] + 1,
                              status_at=self._now(), last_error=None)
        following = self.store.next_due()
        return None if following is None else max(0.0, following - self._now())

    def message(self, reference: str) -> dict[str, Any]:
        """One SMS's row (state, gateway id, attempts, last error)."""
        self._running()
        row = self.store.get(int(reference))
        if row is None:
            raise ValueError(f"no SMS {reference}")
        return row

    def outbox(self) -> list[dict[str, Any]]:
        """Outgoing SMS not yet taken by the gateway, and the failed ones."""
        self._running()
        return self.store.with_states(("queued", "failed"))

    def retry(self, reference: str) -> None:
        """Queue a failed SMS again, due now."""
        self._running()
        self.store.update(int(reference), state="queued", attempts=0, next_at=self._now())
        self.worker.wake()
