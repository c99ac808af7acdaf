"""A stand-in for a retail bank's core-banking host, speaking XML-RPC over HTTP.

The real thing is a mainframe (or a package on one) that the CRM never touches
directly: the wrapper service ``core-banking`` (``banking_wrapper.py``) is the only
code that talks to it. It answers the way such hosts answer: upper-case field
names, status letters, amounts as strings, faults with numeric codes from a manual.
Besides the online calls it produces the nightly **positions file**, a fixed-width
feed (``banking_positions.py`` declares its record layout).

Run it on its own for a demo, then point ``CORE_BANKING_URL`` at it::

    python legacy/banking_core.py --port 8931

Tests start it in-process: ``server, thread = serve(port=0)``; ``server.url`` is its
address, ``server.calls`` counts the calls per method, ``server.book`` is its state.

Methods:
    system.status()                                         -> {"STATUS": "UP", "SYSTEM", "TIME"}
    card.status(card_ref)                                   -> {"CARD", "STATUS": "A"|"B", "BLOCKNO"}
    card.block(card_ref, reason, requested_by)              -> {"CARD", "STATUS": "B", "BLOCKNO"}
    loan.quote(kind, amount, months)                        -> {"RATE", "MONTHLY", "TOTAL"}
    customer.change_address(cif, street, postcode, city, country) -> {"CHANGENO"}

Faults:
    5101 CARD NOT ON FILE         the reference is not a card of the bank (references C9........)
    5102 CARD ALREADY BLOCKED     the card was blocked before (the text carries the block number)
    5103 INVALID BLOCK REASON     the reason is not LOST, STOLEN, FRAUD or DAMAGED
    5201 LOAN NOT OFFERED         an unknown kind, or amount or term out of the bank's range
    5301 CUSTOMER NOT ON FILE     the CIF is not a customer (CIFs starting with 9)
    5302 INVALID ADDRESS          the postcode or the street is not acceptable

The book is in memory: every well-formed card reference (``C`` and nine digits not
starting with 9) is on file and active until it is blocked, so the stand-in works
with whatever the demo-data generator made.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xmlrpc.client import Fault

from caruso.standin import XmlRpcStandIn, run_standin_cli

SYSTEM = "CORE/7.1 (stand-in)"

CARD_NOT_ON_FILE = 5101
CARD_ALREADY_BLOCKED = 5102
INVALID_BLOCK_REASON = 5103
LOAN_NOT_OFFERED = 5201
CUSTOMER_NOT_ON_FILE = 5301
INVALID_ADDRESS = 5302

BLOCK_REASONS = ("LOST", "STOLEN", "FRAUD", "DAMAGED")
CARD_REFERENCE = re.compile(r"C[0-8][0-9]{8}")
CIF = re.compile(r"[0-8][0-9]{7}")
POSTCODE = re.compile(r"[1-9][0-9]{3} ?[A-Z]{2}")

#: kind -> (yearly rate in percent, smallest amount, largest amount, longest term in months)
LOAN_OFFER = {
    "PERSONAL": (Decimal("7.900"), Decimal(1000), Decimal(75000), 120),
    "CAR": (Decimal("6.450"), Decimal(2500), Decimal(100000), 96),
    "MORTGAGE": (Decimal("3.850"), Decimal(50000), Decimal(2000000), 360),
}
CENT = Decimal("0.01")


class Book:
    """The host's state: card blocks and address changes, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cards: dict[str, dict[str, str]] = {}  # card reference -> {"STATUS", "BLOCKNO", "REASON"}
        self.addresses: dict[str, dict[str, str]] = {}  # CIF -> the last address
        self._numbers = Counter()

    def status(self) -> dict:
        return {"STATUS": "UP", "SYSTEM": SYSTEM, "TIME": datetime.now().strftime("%Y%m%d%H%M%S")}

    def card_status(self, card_ref: str) -> dict:
        with self._lock:
            card = self._card(card_ref)
            return {"CARD": card_ref, **card}

    def block_card(self, card_ref: str, reason: str, requested_by: str) -> dict:
        reason = str(reason).strip().upper()
        if reason not in BLOCK_REASONS:
            raise Fault(INVALID_BLOCK_REASON, f"INVALID BLOCK REASON {reason!r}")
        with self._lock:
            card = self._card(card_ref)
            if card["STATUS"] == "B":
                raise Fault(CARD_ALREADY_BLOCKED, f"CARD {card_ref} ALREADY BLOCKED BLOCKNO {card['BLOCKNO']}")
            card.update(STATUS="B", BLOCKNO=self._next("B"), REASON=reason, BY=str(requested_by)[:20])
            return {"CARD": card_ref, "STATUS": "B", "BLOCKNO": card["BLOCKNO"]}

    def loan_quote(self, kind: str, amount: str, months: int) -> dict:
        offer = LOAN_OFFER.get(str(kind).upper())
        try:
            principal = Decimal(str(amount))
        except InvalidOperation:
            raise Fault(LOAN_NOT_OFFERED, f"LOAN NOT OFFERED: AMOUNT {amount!r}") from None
        months = int(months)
        if offer is None:
            raise Fault(LOAN_NOT_OFFERED, f"LOAN NOT OFFERED: KIND {kind!r}")
        rate, smallest, largest, longest = offer
        if not smallest <= principal <= largest or not 6 <= months <= longest:
            raise Fault(LOAN_NOT_OFFERED, f"LOAN NOT OFFERED: {kind} {principal} OVER {months} MONTHS")
        monthly = annuity(principal, rate, months)
        return {"RATE": str(rate), "MONTHLY": str(monthly), "TOTAL": str((monthly * months).quantize(CENT))}

    def change_address(self, cif: str, street: str, postcode: str, city: str, country: str) -> dict:
        cif = str(cif)
        if not CIF.fullmatch(cif):
            raise Fault(CUSTOMER_NOT_ON_FILE, f"CUSTOMER NOT ON FILE: CIF {cif}")
        postcode = str(postcode).strip().upper()
        if str(country).upper() == "NL" and not POSTCODE.fullmatch(postcode):
            raise Fault(INVALID_ADDRESS, f"INVALID ADDRESS: POSTCODE {postcode!r}")
        if not str(street).strip() or not str(city).strip():
            raise Fault(INVALID_ADDRESS, "INVALID ADDRESS: STREET AND CITY ARE REQUIRED")
        with self._lock:
            number = self._next("A")
            self.addresses[cif] = {"STREET": street, "POSTCODE": postcode, "CITY": city,
                                   "COUNTRY": country, "CHANGENO": number}
            return {"CHANGENO": number}

    def _card(self, card_ref: str) -> dict[str, str]:
        card_ref = str(card_ref)
        if not CARD_REFERENCE.fullmatch(card_ref):
            raise Fault(CARD_NOT_ON_FILE, f"CARD NOT ON FILE: {card_ref}")
        return self.cards.setdefault(card_ref, {"STATUS": "A", "BLOCKNO": "", "REASON": ""})

    def _next(self, prefix: str) -> str:
        self._numbers[prefix] += 1
        return f"{prefix}{self._numbers[prefix]:08d}"


def annuity(principal: Decimal, yearly_rate: Decimal, months: int) -> Decimal:
    """The monthly payment of an annuity loan, to the cent."""
    monthly_rate = yearly_rate / Decimal(1200)
    if not monthly_rate:
        return (principal / months).quantize(CENT, ROUND_HALF_UP)
    factor = (1 + monthly_rate) ** months
    return (principal * monthly_rate * factor / (factor - 1)).quantize(CENT, ROUND_HALF_UP)


class CoreBankingServer(XmlRpcStandIn):
    """The XML-RPC gateway of the host: one thread per connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, book: Book | None = None):
        self.book = book or Book()
        super().__init__(
            {
                "system.status": self.book.status,
                "card.status": self.book.card_status,
                "card.block": self.book.block_card,
                "loan.quote": self.book.loan_quote,
                "customer.change_address": self.book.change_address,
            },
            host,
            port,
        )


def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[CoreBankingServer, threading.Thread]:
    """Start the stand-in on a background thread; stop it with ``server.stop()``."""
    server = CoreBankingServer(host, port)
    return server, server.serve_in_background("core-banking-standin")


def main(argv: list[str] | None = None) -> None:
    run_standin_cli(CoreBankingServer, "A stand-in core-banking host (XML-RPC).", 8931, SYSTEM, argv)


if __name__ == "__main__":
    main()
