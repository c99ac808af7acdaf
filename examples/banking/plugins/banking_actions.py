"""The bank's actions for dialogue scripts and rules.

- ``verify_identity`` - compare the caller's date of birth and the last four digits of one
  of their cards with the CRM's records; every attempt is recorded (``IdentityCheck``), and
  the third failure within a day raises a fraud alert.
- ``block_card`` - block a card at the core-banking system through the ``core-banking``
  wrapper, **only** when this session verified the caller for that very card: a script that
  forgot the verification step still blocks nothing.
- ``change_address`` - the new address at the core and in the CRM, after verification.
- ``open_fraud_request`` - for the rule ``fraud-suspicion``: an urgent service request in
  the ``fraud`` category, whose SLA the bank's service desk counts.

See docs/vertical-banking.md; the action API is in docs/actions.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from caruso import hookimpl
from caruso.errors import ScriptError
from caruso.services.scripts.actions import ActionDefinition, Parameter

#: failed identity checks within this many hours that raise a fraud alert
FAILURES_BEFORE_ALERT = 3
FAILURE_WINDOW_HOURS = 24
#: the variables of the verification fragment (scripts/verify-identity.xml): answers that must be
#: given in the session itself, never filled in from an earlier session or looked up
VERIFICATION_ANSWERS = ("date_of_birth", "card_digits")


def verify_identity(context: Any, date_of_birth: Any, last4: Any, purpose: str = "identification") -> None:
    """Sets ``verified`` (true or false) and ``verified_card`` (the key of the card whose last four
    digits were given, or none); records the attempt. The caller is never told which of the
    two answers was wrong."""
    customer_id = context.state.context.get("customer_id")
    context.set("verified", False)
    context.set("verified_card", None)
    if customer_id is None:
        raise ScriptError("no customer in this session: identify the caller before verifying them")
    model = context.bom.model
    Card, IdentityCheck, Customer = model.Card, model.IdentityCheck, model.Customer
    last4 = str(last4 or "").strip()
    given = _as_date(date_of_birth)
    now = context.clock.now()
    looked_up = sorted(set(context.state.prefilled) & set(VERIFICATION_ANSWERS))
    with context.unit_of_work() as session:
        customer = Customer.get(session, int(customer_id))
        if customer is None:
            raise ScriptError(f"no customer {customer_id!r}: nothing to verify against")
        cards = session.scalars(Card.select(customer_id=customer.id, last4=last4)
                                .where(Card.status != "expired").order_by(Card.id)).all()
        if looked_up:
            reason = f"not answered in this session ({', '.join(looked_up)} filled in from known data)"
        elif customer.date_of_birth is None:
            reason = "no date of birth on file"
        elif given != customer.date_of_birth:
            reason = "the date of birth does not match"
        elif not cards:
            reason = "no card of the customer ends in the digits given"
        else:
            reason = None
        session.add(IdentityCheck(
            customer_id=customer.id, at=now, purpose=str(purpose)[:40], result="failed" if reason else "passed",
            reason=reason, channel=context.state.context.get("channel"), session=_session_id(context),
            agent=context.user))
        if reason is None:
            context.set("verified", True)
            context.set("verified_card", cards[0].id)
            return
        session.flush()
        since = now - dt.timedelta(hours=FAILURE_WINDOW_HOURS)
        failures = session.scalar(sa.select(sa.func.count()).select_from(IdentityCheck).where(
            IdentityCheck.customer_id == customer.id, IdentityCheck.result == "failed", IdentityCheck.at >= since))
        if failures == FAILURES_BEFORE_ALERT:
            session.add(model.FraudAlert(
                customer_id=customer.id, detected=now, source="identity", score=70,
                reason=f"{failures} failed identity checks within {FAILURE_WINDOW_HOURS} hours"))
    context.record_activity(f"identity check for {purpose} failed", kind="note")


def block_card(context: Any, card: Any, reason: str = "lost") -> None:
    """Block the card with key ``card`` at the core-banking system; sets ``block_reference``.

    Raises:
        ScriptError: the session has not verified the caller for this card - nothing is blocked.
    """
    variables = context.state.variables
    if not variables.get("verified") or variables.get("verified_card") is None \
            or int(variables["verified_card"]) != int(card):
        raise ScriptError("the caller's identity is not verified for this card: nothing was blocked")
    model = context.bom.model
    with context.bom.session() as session:
        found = model.Card.get(session, int(card))
        if found is None:
            raise ScriptError(f"no card {card!r}")
        reference, customer_id = found.reference, found.customer_id
    core = context.service("core-banking")
    block = core.block_card(reference, reason, requested_by=context.user or "self-service")
    now = context.clock.now()
    with context.unit_of_work() as session:
        found = model.Card.get(session, int(card))
        found.status, found.blocked_at = "blocked", now
        found.block_reason, found.block_reference = str(reason)[:20], block.block_number
        if reason == "stolen":
            session.add(model.FraudAlert(customer_id=customer_id, card_id=found.id, detected=now,
                                         source="card-stolen", score=80,
                                         reason=f"card ending {found.last4} reported stolen"))
    context.set("block_reference", block.block_number)
    context.set("block_already", block.already)
    context.record_activity(f"card ending {_last4(context, card)} blocked ({reason}), core reference "
                            f"{block.block_number}", kind="note")


def change_address(context: Any, street: str, postcode: str, city: str, country: str = "NL") -> None:
    """The new home address at the core-banking system, then in the CRM; sets ``change_number``."""
    if not context.state.variables.get("verified"):
        raise ScriptError("the caller's identity is not verified: the address was not changed")
    model = context.bom.model
    customer_id = int(context.state.context["customer_id"])
    with context.bom.session() as session:
        customer = model.Customer.get(session, customer_id)
        cif = customer.core_id
    postcode = str(postcode).strip().upper()
    number = context.service("core-banking").change_address(cif, street, postcode, city, country)
    with context.unit_of_work() as session:
        home = session.scalars(model.Address.select(customer_id=customer_id, kind="home")).first()
        if home is None:
            home = model.Address(customer_id=customer_id, kind="home", street=street, postcode=postcode,
                                 city=city, country=country)
            session.add(home)
        else:
            home.street, home.postcode, home.city, home.country = street, postcode, city, country
    context.set("change_number", number)


def open_fraud_request(context: Any, alert: Any) -> None:
    """Open the urgent fraud request for a fraud alert and link the two (the rule ``fraud-suspicion``)."""
    model = context.bom.model
    with context.bom.session() as session:
        found = model.FraudAlert.get(session, int(alert))
        if found is None:
            raise ScriptError(f"no fraud alert {alert!r}")
        subject = f"Fraud suspicion: {found.reason}"[:200]
        customer_id = found.customer_id
    desk = context.service("service-desk")
    key = desk.open(subject, customer=customer_id, kind="request", category="fraud", priority="urgent",
                    description=f"FraudAlert {alert}", channel="internal")
    with context.unit_of_work() as session:
        found = model.FraudAlert.get(session, int(alert))
        found.request_id, found.status = key, "investigating"
    context.set("request", key)


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _session_id(context: Any) -> str | None:
    value = getattr(context.state, "id", None) or getattr(context.state, "session_id", None)
    return str(value)[:40] if value is not None else None


def _last4(context: Any, card: Any) -> str:
    with context.bom.session() as session:
        found = context.bom.model.Card.get(session, int(card))
        return found.last4 if found is not None else "????"


@hookimpl
def register_actions(app):
    return [
        ActionDefinition("verify_identity", verify_identity,
                         ("date_of_birth", "last4", Parameter("purpose", required=False)),
                         "check the caller's date of birth and a card's last four digits (sets verified)"),
        ActionDefinition("block_card", block_card, ("card", Parameter("reason", required=False,
                                                                      description="lost, stolen, fraud, damaged")),
                         "block a card at the core-banking system, after verify_identity"),
        ActionDefinition("change_address", change_address,
                         ("street", "postcode", "city", Parameter("country", required=False)),
                         "change the home address at the core-banking system and in the CRM"),
        ActionDefinition("open_fraud_request", open_fraud_request, ("alert",),
                         "open the urgent fraud service request for a fraud alert"),
    ]
