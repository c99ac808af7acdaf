"""The modeler on real databases (SQLite, PostgreSQL, MariaDB): mapping, types, references, queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from caruso.bom.model import load_model
from caruso.errors import IntegrityViolation

CRM = """
<object name="Customer" table="CUSTOMERS">
  <attribute name="id" type="integer" primary-key="yes" column="CUST_ID"/>
  <attribute name="name" type="string" length="100" column="CUST_NM" required="yes" indexed="yes"/>
  <attribute name="email" type="string" length="120" unique="yes"/>
  <attribute name="balance" type="decimal" precision="12" scale="2" default="0"/>
  <attribute name="segment" type="enum" default="retail"><value>retail</value><value>business</value></attribute>
  <attribute name="active" type="boolean" default="yes"/>
  <attribute name="born" type="date"/>
  <attribute name="created" type="datetime" default="now"/>
  <attribute name="profile" type="json"/>
  <attribute name="notes" type="text"/>
  <reference name="parent" object="Customer" on-delete="set-null"/>
  <collection name="branches" object="Customer" reference="parent" order-by="name"/>
  <collection name="contacts" object="Contact" order-by="name"/>
  <collection name="activities" object="Activity" order-by="-occurred id"/>
</object>
<object name="Contact">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="name" type="string" required="yes"/>
  <reference name="customer" object="Customer" required="yes" on-delete="cascade"/>
</object>
<object name="Activity">
  <attribute name="id" type="integer" primary-key="yes"/>
  <attribute name="kind" type="enum" default="call"><value>call</value><value>email</value></attribute>
  <attribute name="occurred" type="datetime" required="yes"/>
  <reference name="customer" object="Customer" required="yes"/>
  <reference name="contact" object="Contact" on-delete="set-null"/>
  <index attributes="customer occurred"/>
</object>
"""

AMSTERDAM_SUMMER = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def crm(mapped):
    """The CRM model on a fresh database of each backend."""
    return mapped(CRM)


@pytest.fixture
def crm_model(write_model):
    """The CRM model, loaded but on no database (for what needs none)."""
    model = load_model([write_model(CRM)])
    yield model
    model.dispose()


def test_every_portable_type_round_trips(crm):
    """Each type comes back as it went in: exact decimals, UTC datetimes, dates, JSON, booleans."""
    Customer = crm.model.Customer
    moment = dt.datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=AMSTERDAM_SUMMER)
    with crm.session() as session:
        session.add(Customer(
            name="Ada", email="ada@example.com", balance=Decimal("1234567890.10"), segment="business",
            active=False, born=dt.date(1815, 12, 10), created=moment, profile={"tags": ["vip"], "n": 1},
            notes="long text " * 100,
        ))
        session.commit()
    with crm.session() as session:
        ada = session.scalars(Customer.select(name="Ada")).one()
        assert Decimal("1234567890.10") == ada.balance
        assert moment == ada.created
        assert dt.UTC == ada.created.tzinfo
        assert dt.datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=dt.UTC) == ada.created
        assert (dt.date(1815, 12, 10), False, "business") == (ada.born, ada.active, ada.segment)
        assert {"tags": ["vip"], "n": 1} == ada.profile
        assert "long text " * 100 == ada.notes


def test_decimals_stay_exact_in_sums(crm):
    """Ten times 0.10 is exactly 1.00, in Python and in SQL, on every backend."""
    Customer = crm.model.Customer
    with crm.session() as session:
        session.add_all(Customer(name=f"c{i}", balance=Decimal("0.10")) for i in range(10))
        session.commit()
        total = sum(session.scalars(sa.select(Customer.balance)))
        assert Decimal("1.00") == total


def test_defaults_apply_to_new_objects(crm):
    """Attributes left out start at the model default; "now" is the model's clock."""
    with crm.session() as session:
        customer = crm.model.Customer(name="Bo")
        assert (Decimal("0.00"), "retail", True, crm.clock.now()) == (
            customer.balance, customer.segment, customer.active, customer.created
        )
        session.add(customer)
        session.commit()
        assert Decimal("0.00") == session.get(crm.model.Customer, customer.id).balance


def test_legacy_names_map_onto_readable_attributes(crm):
    """Table CUSTOMERS with columns CUST_ID and CUST_NM is Customer.id and Customer.name."""
    with crm.session() as session:
        session.add(crm.model.Customer(name="Cy"))
        session.commit()
    columns = {c["name"] for c in sa.inspect(crm.storage.engine).get_columns("CUSTOMERS")}
    assert {"CUST_ID", "CUST_NM"} <= columns
    with crm.storage.engine.connect() as connection:
        assert ["Cy"] == connection.execute(sa.text('SELECT "CUST_NM" FROM "CUSTOMERS"')
                                            if crm.storage.dialect_name != "mysql"
                                            else sa.text("SELECT CUST_NM FROM CUSTOMERS")).scalars().all()
    table = crm.model.metadata.tables["CUSTOMERS"]
    assert ("Customer", False, "name") == (
        table.info["caruso_object"], table.info["caruso_legacy"], table.c.CUST_NM.info["caruso_attribute"]
    )


def test_references_and_collections(crm):
    """Contacts come back in the collection's order, and each points at its customer."""
    Customer, Contact = crm.model.Customer, crm.model.Contact
    with crm.session() as session:
        ada = Customer(name="Ada")
        ada.contacts.extend([Contact(name="Zed"), Contact(name="Amy")])
        session.add(ada)
        session.commit()
        key = ada.id
    with crm.session() as session:
        ada = session.get(Customer, key)
        assert ["Amy", "Zed"] == [c.name for c in ada.contacts]
        assert {ada} == {c.customer for c in ada.contacts}
        assert [key, key] == [c.customer_id for c in ada.contacts]


def test_select_related_reads_the_latest_activities(crm):
    """select_related composes: the latest 3 activities, newest first, of one customer only."""
    Customer, Activity = crm.model.Customer, crm.model.Activity
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    with crm.session() as session:
        ada, bo = Customer(name="Ada"), Customer(name="Bo")
        session.add_all([ada, bo])
        for i in range(6):
            session.add(Activity(customer=ada, occurred=start + dt.timedelta(hours=i)))
            session.add(Activity(customer=bo, occurred=start + dt.timedelta(hours=i, minutes=1)))
        session.commit()
        latest = session.scalars(ada.select_related("activities").limit(3)).all()
    assert [start + dt.timedelta(hours=h) for h in (5, 4, 3)] == [a.occurred for a in latest]
    assert {"Ada"} == {a.customer.name for a in latest}


def test_select_composes_with_sqlalchemy(crm):
    """Customer.select() is a plain Select: filter_by pairs, where clauses, order and limit."""
    Customer = crm.model.Customer
    with crm.session() as session:
        session.add_all(Customer(name=n, segment=s) for n, s in
                        [("Ada", "business"), ("Bo", "retail"), ("Cy", "business"), ("Di", "business")])
        session.commit()
        statement = Customer.select(Customer.name != "Cy", segment="business").order_by(Customer.name.desc())
        assert isinstance(statement, sa.Select)
        assert ["Di", "Ada"] == [c.name for c in session.scalars(statement)]
        assert 3 == session.scalar(sa.select(sa.func.count()).where(Customer.segment == "business"))


def test_tree_of_objects_through_a_self_reference(crm):
    """A reference to the same object (parent) and its collection (branches) form a tree."""
    Customer = crm.model.Customer
    with crm.session() as session:
        head = Customer(name="Head", branches=[Customer(name="West"), Customer(name="East")])
        session.add(head)
        session.commit()
        key = head.id
    with crm.session() as session:
        head = session.get(Customer, key)
        assert ["East", "West"] == [b.name for b in head.branches]
        assert {head} == {b.parent for b in head.branches}


def test_on_delete_cascade_and_set_null(crm):
    """Deleting a customer deletes its contacts (cascade); deleting a contact clears activities' contact."""
    Customer, Contact, Activity = crm.model.Customer, crm.model.Contact, crm.model.Activity
    when = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    with crm.session() as session:
        ada, bo = Customer(name="Ada"), Customer(name="Bo")
        ada.contacts.append(Contact(name="Amy"))
        amy2 = Contact(name="Amy2", customer=bo)
        session.add_all([ada, bo, Activity(customer=bo, contact=amy2, occurred=when)])
        session.commit()
        session.delete(ada)
        session.delete(amy2)
        session.commit()
    assert (0, 1) == (crm.count("Contact"), crm.count("Activity"))
    with crm.session() as session:
        assert [None] == session.scalars(sa.select(Activity.contact_id)).all()


def test_on_delete_restrict_names_object_and_reference(crm):
    """A customer with activities cannot be deleted; storage's error names the reference."""
    Customer, Activity = crm.model.Customer, crm.model.Activity
    with crm.session() as session:
        ada = Customer(name="Ada")
        session.add_all([ada, Activity(customer=ada, occurred=dt.datetime(2026, 1, 5, tzinfo=dt.UTC))])
        session.commit()
        session.delete(ada)
        with pytest.raises(IntegrityViolation) as caught:
            session.commit()
    assert "foreign_key" == caught.value.kind
    assert 1 == crm.count("Customer")


def test_unique_violation_names_object_and_attribute(crm):
    """Two customers with one e-mail: storage translates the refusal to Customer.email."""
    Customer = crm.model.Customer
    with crm.session() as session:
        session.add(Customer(name="Ada", email="same@example.com"))
        session.commit()
        session.add(Customer(name="Eve", email="same@example.com"))
        with pytest.raises(IntegrityViolation) as caught:
            session.commit()
    assert ("unique", "Customer", ("email",)) == (
        caught.value.kind, caught.value.object_name, caught.value.attributes
    )
    assert 1 == crm.count("Customer")


def test_composite_natural_keys(mapped):
    """A natural composite key (country, code) and a reference to it over two columns."""
    db = mapped("""
<object name="Region">
  <attribute name="country" type="string" length="2" primary-key="yes"/>
  <attribute name="code" type="string" length="10" primary-key="yes"/>
  <attribute name="name" type="string"/>
  <collection name="offices" object="Office"/>
</object>
<object name="Office">
  <attribute name="id" type="integer" primary-key="yes" generated="no"/>
  <reference name="region" object="Region" column="REG_CTRY REG_CODE" required="yes"/>
</object>""")
    Region, Office = db.model.Region, db.model.Office
    with db.session() as session:
        utrecht = Region(country="NL", code="UT", name="Utrecht")
        session.add_all([utrecht, Office(id=7, region=utrecht), Office(id=8, region=utrecht)])
        session.commit()
    with db.session() as session:
        region = session.get(Region, ("NL", "UT"))
        assert [7, 8] == sorted(o.id for o in region.offices)
        assert ("NL", "UT") == (session.get(Office, 7).region_country, session.get(Office, 7).region_code)


def test_legacy_order_lines_share_the_key_column(mapped):
    """A reference may reuse a key column (ORDER_ID is part of the line's key and the reference)."""
    db = mapped("""
<object name="Order" table="ORDERS">
  <attribute name="id" type="integer" primary-key="yes" column="ORDER_ID"/>
  <collection name="lines" object="OrderLine" order-by="number"/>
</object>
<object name="OrderLine" table="ORDER_LINES">
  <attribute name="order_id" type="integer" primary-key="yes" generated="no" column="ORDER_ID"/>
  <attribute name="number" type="integer" primary-key="yes" column="LINE_NO"/>
  <attribute name="quantity" type="integer"/>
  <reference name="order" object="Order" column="ORDER_ID" required="yes"/>
</object>""")
    Order, Line = db.model.Order, db.model.OrderLine
    with db.session() as session:
        order = Order(lines=[Line(number=2, quantity=5), Line(number=1, quantity=3)])
        session.add(order)
        session.commit()
        key = order.id
    with db.session() as session:
        lines = session.get(Order, key).lines
        assert [(key, 1, 3), (key, 2, 5)] == [(line.order_id, line.number, line.quantity) for line in lines]


def test_classes_are_reachable_by_name(crm_model):
    """model.Customer and model["Customer"] are the same generated class; unknown names suggest."""
    assert crm_model.Customer is crm_model["Customer"]
    assert "caruso.bom.generated" == crm_model.Customer.__module__
    with pytest.raises(KeyError, match="did you mean 'Contact'"):
        crm_model["Contcat"]
    with pytest.raises(AttributeError, match="did you mean 'Activity'"):
        _ = crm_model.Activty


def test_unknown_constructor_argument_is_a_type_error(crm_model):
    """A misspelt attribute in the constructor is a programmer mistake, with a suggestion."""
    with pytest.raises(TypeError, match="Customer has no attribute 'nmae' \\(did you mean 'name'\\?\\)"):
        crm_model.Customer(nmae="Ada")
