"""Reflection: an existing (legacy) database -> a draft model that loads and works as it is."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from lxml import etree

from caruso.bom import naming
from caruso.bom.model import load_model
from caruso.bom.plugin import bom
from caruso.bom.reflect import reflect_database
from caruso.errors import DatabaseUnavailable, ModelError
from caruso.storage.manager import Storage

LEGACY_SCHEMA = (
    "CREATE TABLE CUST_MAST (CUST_NO INTEGER NOT NULL PRIMARY KEY, CUST_NM VARCHAR(60) NOT NULL,"
    " CUST_EMAIL VARCHAR(120), BAL_AMT NUMERIC(12, 2), CRT_DT DATE, UNIQUE (CUST_EMAIL))",
    "CREATE TABLE CUST_CONTACTS (CONTACT_ID INTEGER NOT NULL PRIMARY KEY, CUST_NO INTEGER NOT NULL,"
    " CONTACT_NM VARCHAR(60), TEL VARCHAR(20), FOREIGN KEY (CUST_NO) REFERENCES CUST_MAST (CUST_NO))",
    "CREATE INDEX IX_CONTACT_CUST ON CUST_CONTACTS (CUST_NO)",
    "CREATE TABLE ORDER_LINES (ORD_NO INTEGER NOT NULL, LINE_NO INTEGER NOT NULL, QTY INTEGER,"
    " PRIMARY KEY (ORD_NO, LINE_NO))",
    "INSERT INTO CUST_MAST (CUST_NO, CUST_NM, BAL_AMT, CRT_DT) VALUES (1001, 'Ada', 12.50, '1999-03-01')",
    "INSERT INTO CUST_CONTACTS (CONTACT_ID, CUST_NO, CONTACT_NM, TEL) VALUES (1, 1001, 'Amy', '555-1')",
)


def upper_columns(element) -> dict[str, str]:
    """The element's attributes, column names upper-cased (PostgreSQL folds unquoted names to lower case)."""
    found = dict(element.attrib)
    if "column" in found:
        found["column"] = found["column"].upper()
    return found


@pytest.fixture
def legacy(database_url):
    """A database as a company runs it: upper-case abbreviations, no Caruso tables."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        for statement in LEGACY_SCHEMA:
            connection.exec_driver_sql(statement)
    engine.dispose()
    return database_url


def test_reflected_model_has_readable_names_and_exact_mapping(legacy):
    """Classes and attributes get readable names; tables and columns keep their exact names."""
    root = etree.fromstring(reflect_database(legacy).encode())
    objects = {o.get("name"): o for o in root.iterchildren("object")}
    assert ["CustomerContact", "CustomerMaster", "OrderLine"] == sorted(objects)
    customer = objects["CustomerMaster"]
    assert ("cust_mast", "yes") == (customer.get("table").lower(), customer.get("legacy"))
    attributes = {a.get("name"): upper_columns(a) for a in customer.iterchildren("attribute")}
    assert ["number", "name", "email", "balance_amount", "created_date"] == list(attributes)
    assert {"name": "name", "type": "string", "length": "60", "column": "CUST_NM", "required": "yes"} == (
        attributes["name"]
    )
    assert ("decimal", "12", "2") == tuple(attributes["balance_amount"][k] for k in ("type", "precision", "scale"))
    assert "yes" == attributes["email"]["unique"]
    [reference] = objects["CustomerContact"].iterchildren("reference")
    assert {"name": "customer", "object": "CustomerMaster", "column": "CUST_NO", "required": "yes",
            "indexed": "yes"} == (
        upper_columns(reference)
    )
    [collection] = customer.iterchildren("collection")
    assert ("customer_contacts", "CustomerContact", "customer") == (
        collection.get("name"), collection.get("object"), collection.get("reference")
    )
    keys = [a.get("name") for a in objects["OrderLine"].iterchildren("attribute") if a.get("primary-key")]
    assert ["order_number", "line_number"] == keys


def test_reflected_model_loads_and_reads_the_legacy_data(legacy, tmp_path):
    """The draft loads unchanged, reads existing rows exactly and writes new ones; the schema is left alone."""
    path = tmp_path / "legacy.xml"
    path.write_text(reflect_database(legacy))
    model = load_model([path])
    storage = Storage(legacy)
    try:
        storage.register(model.metadata)
        assert storage.status().up_to_date
        Customer, Contact = model.CustomerMaster, model.CustomerContact
        with storage.session() as session:
            ada = session.get(Customer, 1001)
            assert ("Ada", Decimal("12.50"), dt.date(1999, 3, 1)) == (ada.name, ada.balance_amount, ada.created_date)
            assert ["Amy"] == [c.name for c in ada.customer_contacts]
            session.add(Contact(id=2, customer=ada, name="Bob", phone="555-2"))
            session.commit()
        with storage.engine.connect() as connection:
            assert [("Amy", 1001), ("Bob", 1001)] == connection.execute(
                sa.select(Contact.name, Contact.customer_number).order_by(Contact.id)
            ).all()
    finally:
        model.dispose()
        storage.close()


def test_reflect_only_the_named_tables(legacy):
    """--table limits the draft; a reference to a table left out is left out too."""
    root = etree.fromstring(reflect_database(legacy, tables=["CUST_CONTACTS"]).encode())
    [obj] = root.iterchildren("object")
    assert ("CustomerContact", []) == (obj.get("name"), list(obj.iterchildren("reference")))


def test_unknown_table_suggests_a_close_one(legacy):
    """Naming a table the database lacks is an error with a suggestion."""
    with pytest.raises(ModelError, match="no table 'CUST_MASTR' in the database \\(did you mean"):
        reflect_database(legacy, tables=["CUST_MASTR"])


def test_missing_sqlite_file_is_not_created(tmp_path):
    """Reflecting a SQLite file that does not exist fails instead of creating an empty database."""
    missing = tmp_path / "nope.db"
    with pytest.raises(DatabaseUnavailable, match="no such SQLite file"):
        reflect_database(f"sqlite:///{missing}")
    assert not missing.exists()


def test_table_without_primary_key_gets_a_comment(tmp_path):
    """A table with no key and no unique column gets a comment asking for one."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE LOG (MSG TEXT, AT_TS TIMESTAMP)")
    engine.dispose()
    text = reflect_database(url)
    assert "LOG has no primary key: mark the attribute(s) that identify a row" in text
    assert '<attribute name="at_timestamp" type="datetime" column="AT_TS"/>' in text


def test_cli_writes_the_model_file(legacy, tmp_path):
    """`caruso bom reflect URL --table T -o FILE` writes the draft and says how many objects it holds."""
    output = tmp_path / "draft.xml"
    result = CliRunner().invoke(bom, ["reflect", legacy, "--table", "CUST_MAST", "-o", str(output)])
    assert 0 == result.exit_code, result.output
    assert f"wrote {output}: 1 object (review the names, then load it)\n" == result.output
    assert 'name="CustomerMaster"' in output.read_text()


@pytest.mark.parametrize(
    ("table", "column", "expected"),
    [("CUSTOMER", "CUST_NM", "name"), ("tbl_orders", "ORD_DT", "date"), ("ACTIVITIES", "ACT_TYPE", "act_type"),
     ("addresses", "class", "class_"), ("X", "2ND_LINE", "c_2nd_line"), ("Item", "select", "select_")],
)
def test_attribute_names(table, column, expected):
    """Column names become readable, valid, non-reserved attribute names."""
    assert expected == naming.attribute_name(column, table)


@pytest.mark.parametrize(
    ("table", "expected"),
    [("CUST_MAST", "CustomerMaster"), ("tbl_activities", "Activity"), ("addresses", "Address"),
     ("OrderLines", "OrderLine"), ("status", "Status")],
)
def test_class_names(table, expected):
    """Table names become singular CamelCase class names, with common prefixes dropped."""
    assert expected == naming.class_name(table)
