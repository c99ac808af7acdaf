"""The policy administration system (PAS) behind the Caruso service interface.

Dialogue scripts, the agent desktop and the self-service web ask the service
named ``pas`` for clients, policies and claim registration in clean Python
(``Policy``, ``date``, ``Decimal``) and never see XML-RPC, ``YYYYMMDD`` dates or
fault 5002. Timeouts, retries, the circuit breaker and health come from
``LegacyService``; this module is only the translation (docs/wrapper-services.md).
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from caruso.errors import LegacySystemError, LegacyUnavailable
from caruso.services.legacy import LegacyService, LegacySettings

PRODUCTS = {"AUTO": "car", "HOME": "home", "LIAB": "liability", "BUSI": "business", "TRAV": "travel"}
STATUSES = {"A": "active", "L": "lapsed", "C": "cancelled"}

#: What the PAS's fault codes mean, for the agent or customer who reads the error.
FAULT_MEANINGS = {
    5001: "unknown client: the PAS has no client with that number; check the client number",
    5002: "unknown policy: the PAS has no policy with that number; check the policy number on the policy schedule",
    5003: "the policy did not cover that day (lapsed, cancelled or not yet started); a claims handler must look at it",
    5004: "the PAS refused the amount: give the estimated damage in euros, zero or more",
}


@attrs.frozen(kw_only=True)
class PasSettings(LegacySettings):
    """The common wrapper settings, plus where the PAS listens."""

    url: str = "http://127.0.0.1:8911"


@attrs.frozen
class Client:
    number: str
    name: str
    date_of_birth: date | None
    phone: str
    email: str


@attrs.frozen
class Policy:
    number: str
    client: str
    product: str
    insurer: str
    premium: Decimal
    starts: date
    renews: date
    status: str


@attrs.frozen
class ClaimReceipt:
    """What the PAS answers when it has passed a claim on to the insurer."""

    number: str
    insurer_reference: str


class PolicyAdministration(LegacyService):
    """Clients, policies and claims from the policy administration system."""

    system = "pas"
    Settings = PasSettings

    def connect(self) -> xmlrpc.client.ServerProxy:
        proxy = xmlrpc.client.ServerProxy(self.settings.url, transport=_TimeoutTransport(self.settings.timeout))
        status = proxy.system.status().get("STATUS")
        if status != "UP":
            raise LegacyUnavailable(self.system, "connect", f"the PAS reports status {status!r} instead of 'UP'")
        return proxy

    def disconnect(self, client: xmlrpc.client.ServerProxy) -> None:
        client("close")()

    def translate_error(self, exc: Exception, operation: str) -> LegacySystemError | None:
        if isinstance(exc, xmlrpc.client.Fault) and exc.faultCode in FAULT_MEANINGS:
            meaning = FAULT_MEANINGS[exc.faultCode]
            return LegacySystemError(self.system, operation, f"{meaning} (fault {exc.faultCode}: {exc.faultString})")
        return None

    def clients(self) -> list[str]:
        """Every client number in the PAS."""
        return list(self._remote("client.list", idempotent=True))

    def client(self, number: str) -> Client:
        row = self._remote("client.get", str(number).upper(), idempotent=True)
        return Client(number=row["CLNO"], name=row["NAME"], date_of_birth=_date(row["BIRTH"]),
                      phone=row["PHONE"], email=row["EMAIL"])

    def policies(self, client: str) -> list[Policy]:
        """The client's policies, as the PAS holds them now."""
        return [_policy(row) for row in self._remote("policy.list", str(client).upper(), idempotent=True)]

    def policy(self, number: str) -> Policy:
        return _policy(self._remote("policy.get", str(number).strip().upper(), idempotent=True))

    def register_claim(self, policy: str, occurred: date | str, cause: str, description: str,
                       amount: Decimal | int | str) -> ClaimReceipt:
        """Pass a claim on to the insurer through the PAS.

        Never retried: if the call times out the claim may be registered all
        the same, and a second call would register it twice.
        """
        day = occurred if isinstance(occurred, date) else date.fromisoformat(str(occurred))
        answer = self._remote("claim.register", str(policy).strip().upper(), day.strftime("%Y%m%d"),
                              str(cause), str(description), str(Decimal(str(amount))))
        return ClaimReceipt(number=answer["CLAIMNO"], insurer_reference=answer["INSREF"])

    def renew(self, policy: str) -> date:
        """Confirm the renewal; returns the next renewal date."""
        return _date(self._remote("policy.renew", str(policy).strip().upper())["RENEW"])

    def _remote(self, method: str, *params: Any, idempotent: bool = False) -> Any:
        return self.call(method, lambda proxy: getattr(proxy, method)(*params), idempotent=idempotent)


class _TimeoutTransport(xmlrpc.client.Transport):
    """Sets a socket timeout on the HTTP connection, so a worker is freed when the PAS hangs."""

    def __init__(self, timeout: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


def _policy(row: dict) -> Policy:
    return Policy(
        number=row["POLNO"], client=row["CLNO"], product=PRODUCTS.get(row["PROD"], "other"),
        insurer=row["INS"], premium=Decimal(row["PREM"]), starts=_date(row["START"]),
        renews=_date(row["RENEW"]), status=STATUSES.get(row["STAT"], "cancelled"),
    )


def _date(text: str) -> date | None:
    return datetime.strptime(text, "%Y%m%d").date() if text else None
