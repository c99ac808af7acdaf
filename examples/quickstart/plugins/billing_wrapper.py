"""The legacy billing host behind the Caruso service interface.

Agents' screens, dialogue scripts and the self-service web ask the service
named ``billing`` for invoices and balances in clean Python (``Invoice``,
``Decimal``) and never see XML-RPC, upper-case field names or fault 4001.
Registered from the example's ``caruso.toml``::

    [services.billing]
    implementation = "billing_wrapper:BillingService"

    [services.billing.settings]
    url = "http://127.0.0.1:8901"
    timeout = 5.0

Timeouts, retries, the circuit breaker and health come from ``LegacyService``;
this module is only the translation. See docs/wrapper-services.md.
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from caruso.errors import LegacySystemError, LegacyUnavailable
from caruso.services.legacy import LegacyService, LegacySettings

#: What the host's fault codes mean, for the agent who reads the error.
FAULT_MEANINGS = {
    4001: "unknown customer: billing has no customer with that number; check the customer number",
    4002: "billing refused the amount: give a positive amount with at most two decimals",
    4003: "this payment reference is already booked: the payment is on the account, do not record it again",
}


@attrs.frozen(kw_only=True)
class BillingSettings(LegacySettings):
    """The common wrapper settings, plus where the billing host listens.

    Args:
        url: the host's XML-RPC endpoint, ``http://`` or ``https://``.
    """

    url: str = "http://127.0.0.1:8901"


@attrs.frozen
class Invoice:
    """One invoice as an agent sees it."""

    number: str
    issued: date
    due: date
    amount: Decimal
    open_amount: Decimal

    @property
    def paid(self) -> bool:
        return self.open_amount == 0


@attrs.frozen
class Payment:
    """A booked payment: the host's payment number and the balance after it."""

    number: str
    balance: Decimal


class BillingService(LegacyService):
    """Invoices, balances and payments from the legacy billing host."""

    system = "billing"
    Settings = BillingSettings

    def connect(self) -> xmlrpc.client.ServerProxy:
        """A proxy with a socket timeout, checked with ``system.status`` (the host's login)."""
        transport_class = _SafeTimeoutTransport if self.settings.url.startswith("https:") else _TimeoutTransport
        proxy = xmlrpc.client.ServerProxy(self.settings.url, transport=transport_class(self.settings.timeout))
        status = proxy.system.status().get("STATUS")
        if status != "UP":
            raise LegacyUnavailable(self.system, "connect", f"the host reports status {status!r} instead of 'UP'")
        return proxy

    def disconnect(self, client: xmlrpc.client.ServerProxy) -> None:
        client("close")()

    def translate_error(self, exc: Exception, operation: str) -> LegacySystemError | None:
        if isinstance(exc, xmlrpc.client.Fault) and exc.faultCode in FAULT_MEANINGS:
            meaning = FAULT_MEANINGS[exc.faultCode]
            return LegacySystemError(self.system, operation, f"{meaning} (fault {exc.faultCode}: {exc.faultString})")
        return None

    def invoices(self, customer_no: str) -> list[Invoice]:
        """The customer's invoices, oldest first."""
        rows = self._remote("invoices.list", str(customer_no), idempotent=True)
        return [_invoice(row) for row in rows]

    def balance(self, customer_no: str) -> Decimal:
        """What the customer owes; negative when they are in credit."""
        return Decimal(self._remote("account.balance", str(customer_no), idempotent=True))

    def record_payment(self, customer_no: str, amount: Decimal | str, reference: str) -> Payment:
        """Book a payment against the oldest open invoices.

        Never retried: if it times out, the payment may still be booked. The
        host refuses a second payment with the same ``reference`` (fault 4003),
        so repeating it by hand with the same reference is safe.
        """
        answer = self._remote("account.record_payment", str(customer_no), _money(amount), str(reference))
        return Payment(number=answer["PAYNO"], balance=Decimal(answer["BALANCE"]))

    def _remote(self, method: str, *params: Any, idempotent: bool = False) -> Any:
        return self.call(method, lambda proxy: getattr(proxy, method)(*params), idempotent=idempotent)


class _TimeoutMixin:
    """Sets a socket timeout on the HTTP connection, so a worker is freed when the host hangs."""

    def __init__(self, timeout: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


class _TimeoutTransport(_TimeoutMixin, xmlrpc.client.Transport):
    pass


class _SafeTimeoutTransport(_TimeoutMixin, xmlrpc.client.SafeTransport):
    pass


def _invoice(row: dict) -> Invoice:
    return Invoice(
        number=row["INVNO"],
        issued=_date(row["INVDATE"]),
        due=_date(row["DUEDATE"]),
        amount=Decimal(row["AMOUNT"]),
        open_amount=Decimal(row["OPEN"]),
    )


def _date(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def _money(amount: Decimal | str) -> str:
    """The amount as the host reads it; the host itself refuses more than two decimals (fault 4002)."""
    if isinstance(amount, float):
        raise TypeError("give the amount as a Decimal or a string, not a float: a float cannot hold cents exactly")
    try:
        return str(Decimal(amount))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
