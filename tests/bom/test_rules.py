"""Rules and types enforced on every save: the error names object, attribute and value; nothing is written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from caruso.bom.model import load_model
from caruso.errors import ValidationError, Violation

MODEL = """
<object name="Customer">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" length="20" required="yes"/>
  <attribute name="email" type="string"/>
  <attribute name="age" type="integer"/>
  <attribute name="balance" type="decimal" precision="8" scale="2"/>
  <attribute name="level" type="string" length="10"/>
  <attribute name="since" type="date"/>
  <attribute name="seen" type="datetime"/>
  <attribute name="vip" type="boolean"/>
  <attribute name="tags" type="json"/>
  <attribute name="kind" type="enum"><value>person</value><value>company</value></attribute>
  <range attribute="age" min="0" max="150"/>
  <range attribute="balance" min="-100.00" message="exceeds the credit limit"/>
  <range attribute="since" min="2000-01-01"/>
  <pattern attribute="email" regex="[^@\\s]+@[^@\\s]+"/>
  <allowed attribute="level"><value>gold</value><value>silver</value></allowed>
  <collection name="contacts" object="Contact"/>
</object>
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="phone" type="string"/>
  <reference name="customer" object="Customer" required="yes"/>
  <required attribute="phone" message="a contact needs a phone number"/>
</object>
"""


@pytest.fixture
def model(write_model):
    loaded = load_model([write_model(MODEL)])
    yield loaded
    loaded.dispose()


def violations_of(model, **values) -> list[Violation]:
    """What the validator says about a new Customer with ``values`` (no database needed)."""
    return model.Customer.__caruso__.validator.violations({"name": "Ada", **values})


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("age", -1, "is below the minimum 0"),
        ("age", 151, "is above the maximum 150"),
        ("age", "42", "is a str, expected a whole number (int)"),
        ("age", True, "is a bool, expected a whole number (int)"),
        ("age", 2**40, "does not fit in an integer column (32 bits); use a decimal attribute"),
        ("balance", Decimal("-100.01"), "exceeds the credit limit"),
        ("balance", 1.5, "is a float, expected a decimal.Decimal"),
        ("balance", Decimal("1.234"), "1.234 has more than 2 decimal places; round it first,"
                                      " e.g. with Decimal.quantize(Decimal('0.01'))"),
        ("balance", Decimal("1E+30"), "1E+30 does not fit in DECIMAL(8, 2):"
                                     " at most 6 digits before the decimal point"),
        ("balance", Decimal("1234567.89"), "1234567.89 does not fit in DECIMAL(8, 2):"
                                          " at most 6 digits before the decimal point"),
        ("since", dt.date(1999, 12, 31), "is below the minimum 2000-01-01"),
        ("since", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "is a datetime, expected a datetime.date"),
        ("email", "not an address", "does not match the pattern [^@\\s]+@[^@\\s]+"),
        ("level", "bronze", "is not one of: gold, silver"),
        ("level", "platinum-plus", "is 13 characters long; at most 10 fit"),
        ("vip", "yes", "is a str, expected True or False"),
        ("kind", "robot", "is not one of the values person, company"),
        ("tags", {1, 2}, "{1, 2} cannot be stored as JSON: Object of type set is not JSON serializable"),
        ("name", None, "is required"),
    ],
)
def test_each_rule_and_type_names_the_value(model, attribute, value, message):
    """Every kind of rule and type check yields one violation: object, attribute, value, why."""
    assert [Violation("Customer", attribute, value, message)] == violations_of(model, **{attribute: value})


def test_naive_datetime_is_refused(model):
    """A datetime without a time zone is refused with the way to make it aware."""
    [violation] = violations_of(model, seen=dt.datetime(2026, 1, 5, 9, 0))
    assert ("Customer", "seen") == (violation.object_name, violation.attribute)
    assert "is a naive datetime (no time zone); pass an aware one" in violation.message


def test_valid_values_pass(model):
    """Values inside every rule raise nothing."""
    assert [] == violations_of(
        model, age=150, balance=Decimal("-100.00"), since=dt.date(2000, 1, 1), email="a@b.nl", level="gold",
        vip=False, kind="company", tags=["x"], seen=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )


def test_rule_on_a_new_object_blocks_the_whole_flush(mapped):
    """One bad object among several: ValidationError lists it, and nothing of the flush is written."""
    db = mapped(MODEL)
    Customer = db.model.Customer
    with db.session() as session:
        session.add_all([Customer(name="Ada"), Customer(name="Bo", age=-5), Customer(name="Cy", email="x")])
        with pytest.raises(ValidationError) as caught:
            session.commit()
    assert [Violation("Customer", "age", -5, "is below the minimum 0"),
            Violation("Customer", "email", "x", "does not match the pattern [^@\\s]+@[^@\\s]+")] == sorted(
        caught.value.violations, key=lambda v: v.attribute)
    assert "not saved: " in str(caught.value)
    assert 0 == db.count("Customer")


def test_rule_on_an_update_leaves_the_stored_value(mapped):
    """Changing a saved object to a bad value is refused; the database keeps the old value."""
    db = mapped(MODEL)
    with db.session() as session:
        ada = db.model.Customer(name="Ada", age=30)
        session.add(ada)
        session.commit()
        ada.age = 200
        with pytest.raises(ValidationError, match="Customer.age = 200: is above the maximum 150"):
            session.commit()
    with db.session() as session:
        assert [30] == [c.age for c in session.scalars(db.model.Customer.select())]


def test_required_rule_and_required_reference(mapped):
    """A <required> rule and a required reference are both checked before anything is written."""
    db = mapped(MODEL)
    with db.session() as session:
        session.add(db.model.Contact(phone=""))
        with pytest.raises(ValidationError) as caught:
            session.commit()
    assert [Violation("Contact", "phone", "", "a contact needs a phone number"),
            Violation("Contact", "customer", None, "is required")] == caught.value.violations
    assert 0 == db.count("Contact")


def test_update_checks_only_what_changed(mapped):
    """An update is judged on the attributes it changes: an old value a new rule would refuse stays readable."""
    db = mapped(MODEL)
    with db.session() as session:
        ada = db.model.Customer(name="Ada")
        session.add(ada)
        session.commit()
        ada.vip = True
        session.commit()
        assert [] == db.model.Customer.__caruso__.validator.violations({"vip": True}, only_present=True)


def test_insert_many_checks_every_row_and_writes_nothing_on_error(mapped):
    """A bulk insert with bad rows reports each with its row number; no row is written."""
    db = mapped(MODEL)
    rows = [{"name": "Ada"}, {"name": "Bo", "age": 999}, {"name": None}]
    with db.session() as session:
        with pytest.raises(ValidationError) as caught:
            db.model.insert_many(session, "Customer", rows)
        session.commit()
    assert [Violation("Customer", "age", 999, "is above the maximum 150 (row 2)"),
            Violation("Customer", "name", None, "is required (row 3)")] == caught.value.violations
    assert 0 == db.count("Customer")


def test_insert_many_writes_valid_rows_with_defaults(mapped):
    """Valid rows are inserted in one go; rows may leave attributes out."""
    db = mapped(MODEL)
    with db.session() as session:
        inserted = db.model.insert_many(session, "Customer", [{"name": f"c{i}", "age": i} for i in range(50)]
                                        + [{"name": "last"}])
        session.commit()
    assert (51, 51) == (inserted, db.count("Customer"))


def test_insert_many_refuses_unknown_attributes(model):
    """A misspelt key in a bulk row is a programmer mistake: TypeError with a suggestion."""
    with Session() as session, pytest.raises(TypeError, match="row 1: Customer has no attribute 'agee'"):
        model.insert_many(session, "Customer", [{"name": "Ada", "agee": 3}])


def test_rules_apply_to_any_session(mapped):
    """A plain SQLAlchemy Session (not the storage's) enforces the rules just the same."""
    db = mapped(MODEL)
    with Session(db.storage.engine) as session:
        session.add(db.model.Customer(name="x" * 21))
        with pytest.raises(ValidationError, match="is 21 characters long; at most 20 fit"):
            session.commit()


def test_a_pattern_that_backtracks_forever_refuses_the_value_in_time(write_model):
    """A pattern with nested repetition meets a hostile value: refused with a clear reason, no hang."""
    loaded = load_model([write_model("""
        <object name="Customer">
          <attribute name="id" type="integer" primary-key="yes"/>
          <attribute name="code" type="string"/>
          <pattern attribute="code" regex="(a|aa)+"/>
        </object>
    """)])
    try:
        [violation] = loaded.Customer.__caruso__.validator.violations({"code": "a" * 60 + "b"})
        assert ("code", "checking the value against the pattern '(a|aa)+' took too long;") == (
            violation.attribute, violation.message.split(" simplify")[0])
        assert [] == loaded.Customer.__caruso__.validator.violations({"code": "aaaa"})
    finally:
        loaded.dispose()
