"""The core-banking system behind the Caruso service interface: the service ``core-banking``.

Scripts, rules and screens ask it in clean Python - ``block_card("C100000042", "lost")``,
``loan_quote("car", Decimal("15000"), 48)`` - and never see XML-RPC, status letters or
fault 5102. Two ways in, as most banks have them:

- **online calls** (XML-RPC over HTTP) for what must happen now: blocking a card, a loan
  quote, an address change;
- the **nightly positions file** (a fixed-width feed, ``banking_positions.py``) for the
  balances, read with :meth:`CoreBankingService.import_positions`.

Timeouts, retries, the circuit breaker and health come from ``LegacyService``, the XML-RPC
client from ``XmlRpcLegacyService``
(docs/wrapper-services.md). When the host does not answer, health says
``core banking unreachable: ...`` and the rest of the CRM carries on: the customer's
360-degree view is the CRM's own data.
"""

from __future__ import annotations

import logging
import xmlrpc.client
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from banking_positions import FeedProblem, parse_positions

from caruso.errors import LegacySystemError, LegacyUnavailable
from caruso.services.base import Health
from caruso.services.legacy import LegacySettings
from caruso.services.xmlrpc_legacy import XmlRpcLegacyService

log = logging.getLogger("caruso.banking")

FAULT_MEANINGS = {
    5101: "the card is not on file at the core-banking system; check the card reference",
    5103: "the core-banking system does not know that reason for a block: use lost, stolen, fraud or damaged",
    5201: "the bank does not offer that loan: check the kind, the amount and the term",
    5301: "the customer is not on file at the core-banking system; check the customer's core number (CIF)",
    5302: "the core-banking system refused the address: check the postcode (1234 AB) and the street",
}
ALREADY_BLOCKED = 5102

REASONS = {"lost": "LOST", "stolen": "STOLEN", "fraud": "FRAUD", "damaged": "DAMAGED"}


@attrs.frozen(kw_only=True)
class CoreBankingSettings(LegacySettings):
    """The common wrapper settings, plus where the host listens and where its feed lands.

    Args:
        url: the host's XML-RPC gateway.
        feed_dir: the folder the nightly positions files arrive in.
    """

    url: str = "http://127.0.0.1:8931"
    feed_dir: Path = Path("feeds")


@attrs.frozen
class CardBlock:
    """A card the host has blocked: the host's block number; ``already`` when it was blocked before."""

    card: str
    block_number: str
    already: bool = False


@attrs.frozen
class LoanQuote:
    kind: str
    amount: Decimal
    months: int
    rate: Decimal
    monthly: Decimal
    total: Decimal


@attrs.frozen
class PositionsImport:
    """What an import of a positions file did: accounts updated, unknown, and the records refused."""

    file: str
    business_date: Any
    updated: int
    unknown: int
    refused: tuple[FeedProblem, ...]


class CoreBankingService(XmlRpcLegacyService):
    """Cards, loans, addresses and positions from the core-banking host."""

    system = "core banking"
    Settings = CoreBankingSettings
    fault_meanings = FAULT_MEANINGS

    # --- connection -----------------------------------------------------------------

    def check(self, proxy: xmlrpc.client.ServerProxy) -> None:
        status = proxy.system.status().get("STATUS")
        if status != "UP":
            raise LegacyUnavailable(self.system, "connect", f"the host reports status {status!r} instead of 'UP'")

    def health(self) -> Health:
        """The base class's verdict; when it is down, it starts with "core banking unreachable"."""
        found = super().health()
        if found.status == "down":
            return Health("down", f"core banking unreachable: {found.detail}")
        return found

    # --- online calls ------------------------------------------------------------------

    def card_status(self, card: str) -> str:
        """``active`` or ``blocked``, as the host has it now."""
        answer = self.remote("card.status", str(card), idempotent=True)
        return "blocked" if answer["STATUS"] == "B" else "active"

    def block_card(self, card: str, reason: str = "lost", requested_by: str = "crm") -> CardBlock:
        """Block a card at the host. Blocking is final, so a card already blocked is no error:
        the answer says ``already`` with the first block's number. Never retried automatically
        (a timeout may still have blocked the card); repeating it by hand is safe for that reason.
        """
        code = REASONS.get(str(reason).lower())
        if code is None:
            raise ValueError(f"the reason for a block is one of {', '.join(REASONS)}, not {reason!r}")
        try:
            answer = self.remote("card.block", str(card), code, str(requested_by or "crm"))
        except LegacySystemError as error:
            fault = error.__cause__
            if isinstance(fault, xmlrpc.client.Fault) and fault.faultCode == ALREADY_BLOCKED:
                return CardBlock(str(card), fault.faultString.rsplit(" ", 1)[-1], already=True)
            raise
        return CardBlock(str(card), answer["BLOCKNO"])

    def loan_quote(self, kind: str, amount: Any, months: int) -> LoanQuote:
        """What a loan of ``amount`` over ``months`` would cost: the rate and the monthly payment."""
        principal = _money(amount)
        answer = self.remote("loan.quote", str(kind).upper(), str(principal), int(months), idempotent=True)
        return LoanQuote(str(kind), principal, int(months), Decimal(answer["RATE"]), Decimal(answer["MONTHLY"]),
                         Decimal(answer["TOTAL"]))

    def change_address(self, cif: str, street: str, postcode: str, city: str, country: str = "NL") -> str:
        """Record a new address at the host; its change number."""
        answer = self.remote("customer.change_address", str(cif), street, postcode, city, country)
        return answer["CHANGENO"]

    # --- the positions feed ------------------------------------------------------------

    def read_positions(self, path: Path | str):
        """Parse a positions file (``banking_positions.PositionsFile``): positions and refused records."""
        return parse_positions(self._feed_path(path))

    def import_positions(self, path: Path | str) -> PositionsImport:
        """Update the CRM's accounts from a positions file.

        Good records are applied in one transaction; each refused record is logged with its
        ``file:line`` and returned in ``refused`` (parked for an operator), never silently
        skipped, and never stops the rest of the file. A file without a valid header or trailer
        (a truncated transfer) is refused whole: nothing is applied.
        """
        found = self.read_positions(path)
        for problem in found.problems:
            log.error("positions feed: refused %s", problem)
        if found.business_date is None or any(problem.whole_file for problem in found.problems):
            return PositionsImport(str(found.path), found.business_date, 0, 0, found.problems)
        bom = self.context.manager.get("bom")
        table = bom.model.Account.__table__
        updated = 0
        with bom.unit_of_work(user="core-banking-feed") as session:
            statement = (sa.update(table).where(table.c.number == sa.bindparam("k_number"))
                         .values(balance=sa.bindparam("k_balance"), available=sa.bindparam("k_available"),
                                 status=sa.bindparam("k_status"), positions_date=sa.bindparam("k_day")))
            rows = [{"k_number": p.account, "k_balance": p.balance, "k_available": p.available,
                     "k_status": p.status, "k_day": found.business_date} for p in found.positions]
            for start in range(0, len(rows), 5000):
                result = session.execute(statement, rows[start:start + 5000],
                                         execution_options={"synchronize_session": False})
                updated += result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0
        return PositionsImport(str(found.path), found.business_date, updated, len(found.positions) - updated,
                               found.problems)

    # --- helpers -------------------------------------------------------------------------

    def _feed_path(self, path: Path | str) -> Path:
        path = Path(path)
        if not path.is_absolute():
            path = Path(self.settings.feed_dir) / path
        return path


def _money(amount: Any) -> Decimal:
    if isinstance(amount, float):
        amount = str(amount)  # a script's number answer: 15000.0
    try:
        return Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
