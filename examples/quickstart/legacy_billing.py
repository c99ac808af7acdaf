"""A stand-in for a utility company's legacy billing host, speaking XML-RPC over HTTP.

Many billing systems of the 2000s were put on the network this way, and they
answer like this one: upper-case field names, dates as ``YYYYMMDD`` strings,
amounts as strings with two decimals (XML-RPC has no decimal type and nobody
trusted floats with money), and faults with numeric codes from a manual.

Run it for the quickstart, then point ``[services.billing.settings] url`` at it::

    python legacy_billing.py --port 8901

Tests start it in-process: ``server, thread = serve(port=0)``; ``server.url``
is its address, ``server.calls`` counts the calls per method and
``server.latency`` adds seconds to every business call, to play the month-end
batch run that makes the host slow.

Methods:
    system.status()                                   -> {"STATUS": "UP", "SYSTEM": ..., "TIME": ...}
    invoices.list(customer_no)                        -> [{"INVNO", "INVDATE", "DUEDATE", "AMOUNT", "OPEN", "STATUS"}]
    account.balance(customer_no)                      -> "126.70" (owed; negative is credit)
    account.record_payment(customer_no, amount, ref)  -> {"PAYNO": "P00000101", "BALANCE": "42.20"}

Faults:
    4001 CUSTOMER NOT FOUND           the customer number is not on file
    4002 INVALID AMOUNT               not a positive amount with at most two decimals
    4003 DUPLICATE PAYMENT REFERENCE  a payment with this reference is already booked
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal, InvalidOperation
from xmlrpc.client import Fault

from caruso.standin import XmlRpcStandIn, run_standin_cli

CUSTOMER_NOT_FOUND = 4001
INVALID_AMOUNT = 4002
DUPLICATE_REFERENCE = 4003

SYSTEM = "BILL/3.2 (stand-in)"
CENT = Decimal("0.01")

# customer number -> (name, [(invoice number, issued, due, amount, amount still open)])
OPENING_LEDGER = {
    "100234": (
        "Bakkerij De Vries",
        [
            ("2025-004711", "20250901", "20251001", "84.50", "0.00"),
            ("2025-005288", "20251001", "20251031", "91.20", "0.00"),
            ("2025-005902", "20251101", "20251201", "126.70", "126.70"),
        ],
    ),
    "100587": (
        "Jansen Installatietechniek B.V.",
        [
            ("2025-005301", "20251001", "20251031", "412.35", "212.35"),
            ("2025-005977", "20251101", "20251201", "398.10", "398.10"),
        ],
    ),
    "101112": (
        "Hotel Zeezicht",
        [
            ("2025-004002", "20250801", "20250831", "1250.00", "0.00"),
        ],
    ),
}


class Ledger:
    """The customers' invoices and payments, in memory, guarded by one lock."""

    def __init__(self, opening: dict | None = None):
        opening = OPENING_LEDGER if opening is None else opening
        self._lock = threading.Lock()
        self._invoices = {
            customer_no: [
                {
                    "INVNO": number,
                    "INVDATE": issued,
                    "DUEDATE": due,
                    "AMOUNT": Decimal(amount),
                    "OPEN": Decimal(still_open),
                }
                for number, issued, due, amount, still_open in invoices
            ]
            for customer_no, (_, invoices) in opening.items()
        }
        self._credit = {customer_no: Decimal("0.00") for customer_no in opening}
        self._payments: dict[str, str] = {}  # reference -> payment number

    def status(self) -> dict:
        return {"STATUS": "UP", "SYSTEM": SYSTEM, "TIME": datetime.now().strftime("%Y%m%d%H%M%S")}

    def invoices(self, customer_no: str) -> list[dict]:
        with self._lock:
            return [_invoice_record(invoice) for invoice in self._customer(customer_no)]

    def balance(self, customer_no: str) -> str:
        with self._lock:
            return _money(self._balance(customer_no))

    def record_payment(self, customer_no: str, amount: str, reference: str) -> dict:
        """Book a payment against the oldest open invoices; what is left over becomes credit."""
        with self._lock:
            invoices = self._customer(customer_no)
            paid = _amount(amount)
            reference = str(reference).strip().upper()
            if reference in self._payments:
                raise Fault(
                    DUPLICATE_REFERENCE,
                    f"DUPLICATE PAYMENT REFERENCE {reference} (PAYMENT {self._payments[reference]})",
                )
            left = paid
            for invoice in invoices:
                applied = min(left, invoice["OPEN"])
                invoice["OPEN"] -= applied
                left -= applied
            self._credit[customer_no] += left
            payment_no = f"P{len(self._payments) + 101:08d}"
            self._payments[reference] = payment_no
            return {"PAYNO": payment_no, "BALANCE": _money(self._balance(customer_no))}

    def _customer(self, customer_no: str) -> list[dict]:
        try:
            return self._invoices[str(customer_no)]
        except KeyError:
            raise Fault(CUSTOMER_NOT_FOUND, f"CUSTOMER NOT FOUND: {customer_no}") from None

    def _balance(self, customer_no: str) -> Decimal:
        owed = sum((invoice["OPEN"] for invoice in self._customer(customer_no)), Decimal("0.00"))
        return owed - self._credit[customer_no]


def _invoice_record(invoice: dict) -> dict:
    return {
        "INVNO": invoice["INVNO"],
        "INVDATE": invoice["INVDATE"],
        "DUEDATE": invoice["DUEDATE"],
        "AMOUNT": _money(invoice["AMOUNT"]),
        "OPEN": _money(invoice["OPEN"]),
        "STATUS": "O" if invoice["OPEN"] else "P",
    }


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        raise Fault(INVALID_AMOUNT, f"INVALID AMOUNT: {text!r}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise Fault(INVALID_AMOUNT, f"INVALID AMOUNT: {text!r}")
    return amount


def _money(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


class BillingServer(XmlRpcStandIn):
    """The XML-RPC server: one thread per connection, like the host's gateway."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ledger: Ledger | None = None):
        self.ledger = ledger or Ledger()
        super().__init__(
            {
                "system.status": self.ledger.status,
                "invoices.list": self.ledger.invoices,
                "account.balance": self.ledger.balance,
                "account.record_payment": self.ledger.record_payment,
            },
            host,
            port,
        )


def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[BillingServer, threading.Thread]:
    """Start the stand-in on a background thread; stop it with ``server.stop()``."""
    server = BillingServer(host, port)
    return server, server.serve_in_background("legacy-billing")


def main(argv: list[str] | None = None) -> None:
    run_standin_cli(BillingServer, "A stand-in legacy billing host (XML-RPC).", 8901, SYSTEM, argv,
                    hint=f"customers {', '.join(OPENING_LEDGER)}")


if __name__ == "__main__":
    main()
