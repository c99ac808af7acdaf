"""The utility's own script actions: what the dialogue scripts do beyond asking.

Each one is a few lines over the business objects and the metering wrapper, registered with
the ``register_actions`` hook (docs/actions.md), so the scripts in ``scripts/`` stay
declarative:

- ``submit_meter_reading``: hand a reading to the metering system and keep it in the CRM;
  when the metering system is unreachable the reading is kept as ``pending``, never lost.
- ``open_bills``: what the customer owes, from the legacy billing tables.
- ``arrange_payment``: a payment arrangement for the open bills, written into the billing
  system's own table (``BET_REGELING``).
- ``check_outage``: whether the network already knows of an outage in the caller's area,
  and count the report.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from caruso import hookimpl
from caruso.errors import (
    LegacySystemError,
    LegacyTimeout,
    LegacyUnavailable,
    ScriptError,
)
from caruso.services.scripts.actions import ActionDefinition, Parameter

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")   # what callers' clocks say
SOURCES = {"agent": "agent", "ivr": "ivr", "self-service": "self-service"}
CENT = Decimal("0.01")


def _customer_key(context: Any, given: Any) -> int:
    """The customer's key: the one given (a key or a customer number), else the session's."""
    for candidate in (given, context.state.context.get("customer_id"), context.state.answers.get("customer_number")):
        if candidate in (None, ""):
            continue
        try:
            return int(str(candidate).strip())
        except ValueError:
            raise ScriptError(f"not a customer number: {candidate!r}") from None
    raise ScriptError("the session has no customer: identify the customer first")


def submit_meter_reading(context: Any, product: str, value: Any, low: Any = 0, customer: Any = None,
                         reason: str = "periodic") -> None:
    """Pass a reading on to the metering system and record it as a MeterReading.

    Sets ``reading_status`` (``accepted``, ``implausible`` or ``pending`` when the metering
    system could not be reached), ``reading_number``, ``ean`` and ``expected_max``.
    """
    key = _customer_key(context, customer)
    Connection, Meter, MeterReading = (context.object_class(n) for n in ("Connection", "Meter", "MeterReading"))
    today = context.clock.now().date()
    with context.unit_of_work() as session:
        connection = session.scalars(
            sa.select(Connection).where(Connection.customer_id == key, Connection.product == str(product))
            .order_by(Connection.id).limit(1)).first()
        if connection is None:
            raise ScriptError(f"customer {key} has no {product} connection")
        meter = session.scalars(sa.select(Meter).where(Meter.connection_id == connection.id).limit(1)).first()
        if meter is None:
            raise ScriptError(f"the {product} connection {connection.ean} has no meter on file")
        ean = connection.ean
        if meter.registers == 2 and not low:
            raise ScriptError("this meter has two registers (day and night): give the night reading too")
        status, number, expected = "pending", None, None
        try:
            submission = context.service("metering").submit_reading(
                ean, today, int(value), int(low or 0), origin={"ivr": "ivr", "self-service": "web"}.get(
                    context.state.mode, "agent"))
        except (LegacyUnavailable, LegacyTimeout) as error:     # down, unreachable, too slow: keep it for later
            context.set("metering_error", str(error))
        except LegacySystemError as error:                      # refused (below the last reading, unknown EAN)
            raise ScriptError(str(error)) from None
        else:
            status, number, expected = submission.status, submission.number, submission.expected_max
        session.add(MeterReading(read_on=today, value=int(value), register="normal", meter_id=meter.id,
                                 customer_id=key, source=SOURCES.get(context.state.mode, "agent"),
                                 status=status, reason=str(reason)))
        if low:
            session.add(MeterReading(read_on=today, value=int(low), register="low", meter_id=meter.id,
                                     customer_id=key, source=SOURCES.get(context.state.mode, "agent"),
                                     status=status, reason=str(reason)))
        meter.last_reading = int(value)
        meter.last_read_on = today
    context.set("reading_status", status)
    context.set("reading_number", number)
    context.set("ean", ean)
    context.set("expected_max", expected)


def open_bills(context: Any, customer: Any = None) -> None:
    """Sets ``open_total`` (text, two decimals), ``open_cents`` and ``open_count`` from the billing tables."""
    key = _customer_key(context, customer)
    Bill = context.object_class("Bill")
    with context.unit_of_work() as session:
        bills = session.scalars(sa.select(Bill).where(Bill.customer_id == key, Bill.open_amount > 0)).all()
        total = sum((b.open_amount for b in bills), Decimal("0.00"))
    context.set("open_total", str(total.quantize(CENT)))
    context.set("open_cents", int(total * 100))
    context.set("open_count", len(bills))


def arrange_payment(context: Any, instalments: Any, customer: Any = None) -> None:
    """Put the customer's open bills in a payment arrangement of ``instalments`` months.

    Writes the arrangement into the billing system's table BET_REGELING and marks the bills
    ``R`` (in an arrangement), in one transaction. Sets ``arrangement_number`` and
    ``instalment_amount``.
    """
    key = _customer_key(context, customer)
    months = int(instalments)
    Bill, Arrangement = context.object_class("Bill"), context.object_class("PaymentArrangement")
    start = (context.clock.now().date().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    with context.unit_of_work() as session:
        bills = session.scalars(
            sa.select(Bill).where(Bill.customer_id == key, Bill.open_amount > 0, Bill.status != "R")).all()
        total = sum((b.open_amount for b in bills), Decimal("0.00"))
        if not bills:
            raise ScriptError(f"customer {key} has no open bills to arrange")
        number = (session.scalar(sa.select(sa.func.max(Arrangement.number))) or 0) + 1
        per_month = (total / months).quantize(CENT, rounding=ROUND_UP)
        session.add(Arrangement(number=number, customer_id=key, starts=start, instalments=months,
                                instalment_amount=per_month, total=total, status="A",
                                created_by=(context.user or f"crm-{context.state.mode}")[:20]))
        for bill in bills:
            bill.status = "R"
    context.set("arrangement_number", number)
    context.set("instalment_amount", str(per_month))
    context.set("first_instalment", start)


def check_outage(context: Any, postcode: str, product: str) -> None:
    """Sets ``known_outage`` (true when an active outage of ``product`` covers the postcode's
    area) and ``outage_end``; counts the report on the outage."""
    Outage = context.object_class("Outage")
    area = "".join(ch for ch in str(postcode) if ch.isdigit())[:4]
    with context.unit_of_work() as session:
        outage = session.scalars(sa.select(Outage).where(
            Outage.area == area, Outage.product == str(product), Outage.status == "active")).first()
        if outage is not None:
            outage.reports = (outage.reports or 0) + 1
            end = outage.expected_end
    context.set("known_outage", outage is not None)
    context.set("outage_area", area)
    local = end.astimezone(LOCAL_TIME) if outage is not None and end is not None else None
    context.set("outage_end", local.strftime("%H:%M") if local is not None else None)


@hookimpl
def register_actions(app):
    return [
        ActionDefinition(
            "submit_meter_reading", submit_meter_reading,
            parameters=("product", "value", Parameter("low", required=False, description="the low-rate register"),
                        Parameter("customer", required=False, description="key or customer number"),
                        Parameter("reason", required=False, description="periodic, move-in, move-out, complaint")),
            description="pass a meter reading to the metering system and keep it in the CRM",
        ),
        ActionDefinition("open_bills", open_bills, parameters=(Parameter("customer", required=False),),
                         description="what the customer owes, from the legacy billing tables"),
        ActionDefinition("arrange_payment", arrange_payment,
                         parameters=("instalments", Parameter("customer", required=False)),
                         description="a payment arrangement for the open bills, in the billing system"),
        ActionDefinition("check_outage", check_outage, parameters=("postcode", "product"),
                         description="whether an outage is known in the caller's area"),
    ]
