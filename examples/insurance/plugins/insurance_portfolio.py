"""The broker's portfolio: the CRM's copy of clients and policies, and claim intake.

The PAS (the ``pas`` wrapper service) is the system of record for clients and
policies. This service copies what the front office needs into business
objects (Customer, Insurer, Policy), so views, rules and the 360-degree view
can use them, and it takes claims in: a claim is saved in the CRM first and
then passed on to the insurer through the PAS. When the PAS does not answer,
or refuses the claim (a policy not in force that day), the claim is kept with
status ``to-register`` and what the PAS said, for the back office - a claim a
client reported is never lost.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from caruso import Service, ServiceDefinition, hookimpl
from caruso.errors import LegacySystemError

CENT = Decimal("0.01")


@attrs.frozen
class PortfolioSettings:
    """``insurers``: code -> name, for the codes the PAS uses."""

    insurers: dict[str, str] = attrs.field(factory=dict)


class Portfolio(Service):
    """The CRM's copy of the PAS's portfolio, and the claims desk's intake."""

    requires = ("pas", "bom")
    version = "1.0"
    Settings = PortfolioSettings

    def on_start(self) -> None:
        self.pas = self.context.manager.get("pas")
        self.bom = self.context.manager.get("bom")

    def sync_all(self) -> int:
        """Copy every client of the PAS with their policies; returns how many clients."""
        numbers = self.pas.clients()
        for number in numbers:
            self.sync(number)
        return len(numbers)

    def sync(self, client_number: str) -> int:
        """Copy one client and their policies from the PAS; returns the Customer's key."""
        client = self.pas.client(client_number)
        policies = self.pas.policies(client_number)
        with self.bom.unit_of_work(user="portfolio") as session:
            customer = self._customer(session, client)
            for policy in policies:
                self._policy(session, policy, customer)
            session.flush()
            return customer.id

    def policy(self, number: str, client: str | None = None) -> dict[str, Any]:
        """The policy as the PAS holds it now, copied into the CRM; for scripts.

        ``client`` (the client number the caller gave) sets ``mine``: whether the
        policy is theirs; ``date_of_birth`` is the policyholder's, to check.
        """
        found = self.pas.policy(number)
        holder = self.pas.client(found.client)
        with self.bom.unit_of_work(user="portfolio") as session:
            owner = self._customer(session, holder)
            self._policy(session, found, owner)
            session.flush()
            owner_id = owner.id
        answer = attrs.asdict(found)
        answer.update(
            customer_id=owner_id,
            mine=client is None or str(client).strip().upper() == found.client,
            date_of_birth=holder.date_of_birth,
            insurer_name=self.settings.insurers.get(found.insurer, found.insurer),
        )
        return answer

    def report_claim(self, customer: int, policy: str, occurred: date | str, cause: str, description: str,
                     amount: Any, channel: str | None = None) -> dict[str, Any]:
        """Save a claim, then pass it on to the insurer; returns its key, number and status.

        Status ``registered`` with the PAS's claim number, or ``to-register`` when the PAS
        did not take it; ``pas_message`` on the claim then says why.
        """
        day = occurred if isinstance(occurred, date) else date.fromisoformat(str(occurred))
        estimate = Decimal(str(amount)).quantize(CENT)
        with self.bom.unit_of_work(user="portfolio") as session:
            claim = self.bom.Claim(customer_id=int(customer), policy_number=str(policy).strip().upper(),
                                   occurred=day, cause=cause, description=description,
                                   estimated_amount=estimate, channel=channel)
            session.add(claim)
            session.flush()
            key = claim.id
        try:
            receipt = self.pas.register_claim(policy, day, cause, description, estimate)
        except LegacySystemError as exc:  # down, timed out, the breaker open - or the PAS said no
            status, number, reference, message = "to-register", None, None, str(exc)[:300]
        else:
            status, number, reference, message = "registered", receipt.number, receipt.insurer_reference, None
        with self.bom.unit_of_work(user="portfolio") as session:
            claim = self.bom.Claim.get(session, key)
            claim.status, claim.number, claim.insurer_reference = status, number, reference
            claim.pas_message = message
        return {"claim": key, "number": number, "insurer_reference": reference, "status": status}

    def _customer(self, session: Any, client: Any) -> Any:
        Customer = self.bom.Customer
        customer = session.scalars(Customer.select(number=client.number)).first()
        if customer is None:
            customer = Customer(number=client.number, name=client.name)
            session.add(customer)
        customer.name = client.name
        customer.kind = "person" if client.date_of_birth else "organisation"
        customer.date_of_birth = client.date_of_birth
        customer.phone = client.phone or None
        customer.email = client.email or None
        return customer

    def _policy(self, session: Any, found: Any, customer: Any) -> Any:
        insurer = self.bom.Insurer.get(session, found.insurer)
        if insurer is None:
            insurer = self.bom.Insurer(code=found.insurer, name=self.settings.insurers.get(found.insurer, found.insurer))
            session.add(insurer)
        policy = self.bom.Policy.get(session, found.number)
        if policy is None:
            policy = self.bom.Policy(number=found.number)
            session.add(policy)
        policy.product, policy.premium, policy.starts = found.product, found.premium, found.starts
        policy.renews, policy.status = found.renews, found.status
        policy.insurer, policy.customer = insurer, customer
        return policy


@hookimpl
def register_services(app):
    return [ServiceDefinition("portfolio", Portfolio)]
