"""The audit trail: who changed which attribute of which object, when, from what to what."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from caruso.bom.audit import acting_as
from caruso.errors import ValidationError

MODEL = """
<object name="Customer" auditable="yes">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <attribute name="balance" type="decimal" precision="10" scale="2" default="0"/>
  <reference name="manager" object="Agent"/>
  <range attribute="balance" min="0"/>
</object>
<object name="Agent">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string"/>
</object>
"""


def entries(db) -> list[tuple]:
    AuditEntry = db.model.AuditEntry
    with db.session() as session:
        rows = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.object, e.object_key, e.action, e.attribute, e.old_value, e.new_value, e.who, e.at)
                for e in rows]


def test_insert_update_delete_are_recorded_with_who_and_when(mapped):
    """Each change leaves entries: all values on insert and delete, one per changed attribute on update."""
    db = mapped(MODEL)
    Customer, Agent = db.model.Customer, db.model.Agent
    start = db.clock.now()
    with db.session(caruso_user="agent-7") as session:
        ada = Customer(name="Ada")
        session.add(ada)
        session.add(Agent(name="Kim"))
        session.commit()
        db.clock.advance(60)
        kim = session.scalars(Agent.select()).one()
        ada.name, ada.balance, ada.manager = "Ada L.", Decimal("12.50"), kim
        session.commit()
        db.clock.advance(60)
        session.delete(ada)
        session.commit()
    found = entries(db)
    created = json.loads(found[0][5])
    assert {"id": "1", "name": "Ada", "balance": "0.00", "manager_id": None} == created
    assert ("Customer", "1", "insert", None, None, "agent-7", start) == (*found[0][:5], *found[0][6:])
    later = start.replace(minute=start.minute + 1)
    assert [
        ("Customer", "1", "update", "name", "Ada", "Ada L.", "agent-7", later),
        ("Customer", "1", "update", "balance", "0.00", "12.50", "agent-7", later),
        ("Customer", "1", "update", "manager", None, "1", "agent-7", later),
    ] == found[1:4]
    assert ("Customer", "1", "delete", None) == found[4][:4]
    assert "Ada L." == json.loads(found[4][4])["name"]
    assert 5 == len(found)


def test_who_comes_from_the_context_when_the_session_does_not_say(mapped):
    """Code that does not open the session itself names the user with acting_as()."""
    db = mapped(MODEL)
    with acting_as("web:self-service"), db.session() as session:
        session.add(db.model.Customer(name="Bo"))
        session.commit()
    with db.session() as session:
        session.add(db.model.Customer(name="Cy"))
        session.commit()
    assert ["web:self-service", "unknown"] == [e[6] for e in entries(db)]


def test_refused_or_rolled_back_changes_leave_no_entry(mapped):
    """A save refused by a rule, or rolled back, records nothing: entries share the transaction."""
    db = mapped(MODEL)
    with db.session() as session:
        session.add(db.model.Customer(name="Di", balance=Decimal("-1")))
        with pytest.raises(ValidationError):
            session.commit()
        session.rollback()
        session.add(db.model.Customer(name="Ed"))
        session.flush()
        session.rollback()
    assert [] == entries(db)
