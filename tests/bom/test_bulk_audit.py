"""Bulk inserts of auditable objects: one executemany for the rows, one for their audit entries.

Every test runs on SQLite, PostgreSQL and MariaDB (the ``mapped`` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from caruso.bom.audit import acting_as
from caruso.errors import ValidationError, Violation

MODEL = """
<object name="Customer" auditable="yes">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" column="CUST_NM" required="yes"/>
  <attribute name="balance" type="decimal" precision="10" scale="2" default="0"/>
  <attribute name="vip" type="boolean" default="no"/>
  <attribute name="since" type="date"/>
  <reference name="manager" object="Agent"/>
  <range attribute="balance" min="0"/>
</object>
<object name="Agent">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string"/>
</object>
<object name="Region" auditable="yes">
  <attribute name="country" type="string" length="2" primary-key="yes"/>
  <attribute name="code" type="string" length="10" primary-key="yes"/>
  <attribute name="name" type="string"/>
</object>
"""


def entries(db) -> list[dict]:
    """Every audit entry, in the order written, as a dict (``values``: the decoded JSON)."""
    AuditEntry = db.model.AuditEntry
    with db.session() as session:
        found = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        return [{"object": e.object, "object_key": e.object_key, "action": e.action, "attribute": e.attribute,
                 "old_value": e.old_value, "values": json.loads(e.new_value), "who": e.who, "at": e.at}
                for e in found]


def customers(db) -> dict[int, dict]:
    """The Customer rows by key, each as its attribute values."""
    Customer = db.model.Customer
    with db.session() as session:
        return {c.id: c.to_dict() for c in session.scalars(sa.select(Customer))}


def new_agent(db) -> int:
    with db.session() as session:
        agent = db.model.Agent(name="Kim")
        session.add(agent)
        session.commit()
        return agent.id


def test_bulk_insert_records_what_a_session_insert_records(mapped):
    """The same rows inserted through a session and by insert_many leave the same audit
    entries - object, action, every value, who, when - and the same rows; only keys differ."""
    db = mapped(MODEL)
    Customer = db.model.Customer
    kim = new_agent(db)
    rows = [
        {"name": "Ada", "balance": Decimal("12.50"), "manager_id": kim, "since": dt.date(2024, 1, 31)},
        {"name": "Bo"},
        {"name": "Cy", "vip": True, "balance": Decimal("0.10"), "since": None},
    ]
    with db.session(caruso_user="agent-7") as session:
        session.add_all(Customer(**row) for row in rows)
        session.commit()
    by_session = sorted(entries(db), key=lambda e: int(e["object_key"]))
    with db.session(caruso_user="agent-7") as session:
        assert 3 == db.model.insert_many(session, "Customer", rows)
        session.commit()
    by_bulk = entries(db)[3:]

    def without_key(entry: dict) -> dict:
        assert entry["object_key"] == entry["values"]["id"]
        return {**entry, "object_key": None, "values": {**entry["values"], "id": None}}

    assert 3 == len(by_bulk)
    assert [without_key(e) for e in by_session] == [without_key(e) for e in by_bulk]
    assert {"id": by_bulk[0]["object_key"], "name": "Ada", "balance": "12.50", "vip": "no",
            "since": "2024-01-31", "manager_id": str(kim)} == by_bulk[0]["values"]
    assert ("Customer", "insert", None, None, "agent-7", db.clock.now()) == tuple(
        by_bulk[0][k] for k in ("object", "action", "attribute", "old_value", "who", "at"))
    stored = sorted(customers(db).items())
    assert [{**values, "id": None} for _, values in stored[:3]] == [{**values, "id": None} for _, values in stored[3:]]


def test_keys_come_back_in_row_order(mapped):
    """Each audit entry names the key the database gave its row, over several batches of
    the executemany; entries are written in row order."""
    db = mapped(MODEL)
    rows = [{"name": f"c{i:04d}", "balance": Decimal(i % 97) + Decimal("0.25")} for i in range(2_500)]
    with db.session() as session:
        db.model.insert_many(session, "Customer", rows)
        session.commit()
    found = entries(db)
    stored = customers(db)
    assert [row["name"] for row in rows] == [e["values"]["name"] for e in found]
    assert {str(key): values["name"] for key, values in stored.items()} == {
        e["object_key"]: e["values"]["name"] for e in found}
    assert [str(stored[int(e["object_key"])]["balance"]) for e in found] == [e["values"]["balance"] for e in found]


def test_a_bad_row_refuses_the_batch_and_writes_no_row_and_no_entry(mapped):
    """Every refused value is named with its row number; neither rows nor audit entries are written."""
    db = mapped(MODEL)
    rows = [{"name": "Ada"}, {"name": "Bo", "balance": Decimal(-1)}, {"name": "Cy"}, {"name": None}]
    with db.session(caruso_user="agent-7") as session:
        with pytest.raises(ValidationError) as caught:
            db.model.insert_many(session, "Customer", rows)
        session.commit()
    assert [Violation("Customer", "balance", Decimal(-1), "is below the minimum 0 (row 2)"),
            Violation("Customer", "name", None, "is required (row 4)")] == caught.value.violations
    assert (0, []) == (db.count("Customer"), entries(db))


def test_who_and_when_are_recorded_as_for_a_session_insert(mapped):
    """Who: the session's user, else the context's (acting_as), else unknown; when: the model's clock."""
    db = mapped(MODEL)
    db.clock.advance(3600)
    with db.session(caruso_user="import-job") as session, acting_as("web:self-service"):
        db.model.insert_many(session, "Customer", [{"name": "Ada"}])
        session.commit()
    with acting_as("web:self-service"), db.session() as session:
        db.model.insert_many(session, "Customer", [{"name": "Bo"}])
        session.commit()
    db.clock.advance(60)
    with db.session() as session:
        db.model.insert_many(session, "Customer", [{"name": "Cy"}])
        session.commit()
    start = db.clock.now() - dt.timedelta(seconds=3660)
    hour, later = start + dt.timedelta(hours=1), start + dt.timedelta(seconds=3660)
    assert [("Ada", "import-job", hour), ("Bo", "web:self-service", hour), ("Cy", "unknown", later)] == [
        (e["values"]["name"], e["who"], e["at"]) for e in entries(db)]


def test_a_rolled_back_bulk_insert_leaves_no_entry(mapped):
    """Rows and entries share the session's transaction."""
    db = mapped(MODEL)
    with db.session() as session:
        db.model.insert_many(session, "Customer", [{"name": "Ada"}, {"name": "Bo"}])
        session.rollback()
    assert (0, []) == (db.count("Customer"), entries(db))


def test_a_key_given_by_the_rows_is_the_entry_key(mapped):
    """An object whose (composite) key is not generated: the entry's key is the row's, parts joined by /."""
    db = mapped(MODEL)
    with db.session() as session:
        db.model.insert_many(session, "Region", [{"country": "NL", "code": "UT", "name": "Utrecht"},
                                                 {"country": "BE", "code": "VAN"}])
        session.commit()
    assert [("NL/UT", {"country": "NL", "code": "UT", "name": "Utrecht"}),
            ("BE/VAN", {"country": "BE", "code": "VAN", "name": None})] == [
        (e["object_key"], e["values"]) for e in entries(db)]


def test_objects_that_are_not_auditable_leave_no_entry(mapped):
    """A bulk insert of an object without audit trail writes its rows only."""
    db = mapped(MODEL)
    with db.session() as session:
        assert 2 == db.model.insert_many(session, "Agent", [{"name": "Kim"}, {"name": "Lu"}])
        assert 0 == db.model.insert_many(session, "Customer", [])
        session.commit()
    assert (2, []) == (db.count("Agent"), entries(db))


def test_bulk_inserts_fire_no_rules_watchers(mapped):
    """Rules-engine watchers see a session's insert and not a bulk insert's rows, as documented."""
    from caruso_rules.watch import unwatch, watch

    db = mapped(MODEL)
    Customer = db.model.Customer

    class Plan:
        def change(self, obj, kind):
            return (kind, obj.name)

    class Engine:
        def __init__(self):
            self.plans = {"Customer": Plan()}
            self.handled = []

        def handle(self, changes):
            self.handled.extend(changes)

    engine = Engine()
    watch(Customer, engine)
    try:
        with db.session() as session:
            session.add(Customer(name="Ada"))
            session.commit()
            db.model.insert_many(session, "Customer", [{"name": "Bo"}])
            session.commit()
    finally:
        unwatch(Customer)
    assert [("created", "Ada")] == engine.handled
    assert ["Ada", "Bo"] == [e["values"]["name"] for e in entries(db)]


def test_keys_given_for_a_generated_key_are_the_entry_keys(mapped):
    """Rows that bring their own values for a generated key (a generator numbering its
    customers) are recorded under those keys."""
    db = mapped(MODEL)
    with db.session() as session:
        db.model.insert_many(session, "Customer", [{"id": 10, "name": "Ada"}, {"id": 12, "name": "Bo"}])
        session.commit()
    assert [("10", "10", "Ada"), ("12", "12", "Bo")] == [
        (e["object_key"], e["values"]["id"], e["values"]["name"]) for e in entries(db)]
    assert {10: "Ada", 12: "Bo"} == {key: values["name"] for key, values in customers(db).items()}
