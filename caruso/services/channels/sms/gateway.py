"""The client of the SMS gateway: one signed HTTP POST per message, with httpx.

The request (JSON)::

    POST <gateway url>
    Authorization: Bearer <token>            (when configured)
    X-Caruso-Timestamp / X-Caruso-Signature   (when a secret is configured; see signing.py)
    {"to": "+31612345678", "from": "+3197010203040", "text": "...",
     "reference": "42", "status_callback": "https://crm.example.com/sms/status"}

A 2xx answer takes the message (``{"id": "<the gateway's id>"}``; the id is
what its delivery-status callbacks name); a 4xx refuses it for good
(``DeliveryFailed(permanent=True)``); a 5xx, a timeout or no connection is
tried again later. Gateways with another format (Twilio, MessageBird, ...)
are a subclass overriding ``request`` and ``message_id``, or another ``sms``
service.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import orjson

from caruso.errors import DeliveryFailed
from caruso.services.channels.signing import signed_headers

__all__ = ["GatewayClient", "GatewaySettings"]


@attrs.frozen
class GatewaySettings:
    """``gateway``: where outgoing SMS go.

    Args:
        url: the gateway's send URL; None: SMS wait in the outbox until one is configured.
        token: a bearer token, when the gateway wants one (use ``${ENV}``).
        secret: sign requests with this shared secret (the gateway may check it).
        status_callback: the public URL of Caruso's ``/sms/status``, given to the gateway.
        timeout: seconds per request.
    """

    url: str | None = None
    token: str | None = None
    secret: str | None = None
    status_callback: str | None = None
    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))


class GatewayClient:
    """Sends one SMS per ``send`` call (a ``httpx.Client`` with keep-alive underneath)."""

    def __init__(self, settings: GatewaySettings):
        self.settings = settings
        self._client: httpx.Client | None = None  # made at the first send (loading TLS roots takes a while)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def request(self, number: str, sender: str | None, text: str, reference: str) -> dict[str, Any]:
        """The JSON body for one message."""
        body: dict[str, Any] = {"to": number, "text": text, "reference": reference}
        if sender:
            body["from"] = sender
        if self.settings.status_callback:
            body["status_callback"] = self.settings.status_callback
        return body

    def message_id(self, answer: httpx.Response) -> str | None:
        """The gateway's id of the message it took."""
        try:
            found = answer.json().get("id")
        except (ValueError, AttributeError):
            return None
        return str(found) if found is not None else None

    def send(self, number: str, sender: str | None, text: str, reference: str, *, now: float) -> str | None:
        """POST one message; the gateway's id. ``DeliveryFailed`` when it did not take it."""
        settings = self.settings
        if not settings.url:
            raise DeliveryFailed("no SMS gateway is configured ([services.sms.settings.gateway] url)")
        body = orjson.dumps(self.request(number, sender, text, reference))
        headers = {"Content-Type": "application/json"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        if settings.secret:
            headers.update(signed_headers(settings.secret, body, now))
        if self._client is None:
            self._client = httpx.Client(timeout=settings.timeout)
        try:
            answer = self._client.post(settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"cannot reach the SMS gateway {settings.url}: {exc}") from exc
        if answer.status_code >= 400:
            raise DeliveryFailed(f"the SMS gateway answered {answer.status_code}: {answer.text[:200]}",
                                 permanent=answer.status_code < 500 and answer.status_code != 429)
        return self.message_id(answer)
