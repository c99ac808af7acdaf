"""Schema management on each real backend: additive changes applied, the rest refused or left alone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from caruso.errors import SchemaChangeRefused
from caruso.storage import Storage


def _columns(storage: Storage, table: str) -> list[str]:
    return sorted(c["name"].lower() for c in sa.inspect(storage.engine).get_columns(table))


def _tables(storage: Storage) -> list[str]:
    return sorted(sa.inspect(storage.engine).get_table_names())


def test_a_fresh_database_gets_every_table_and_is_then_up_to_date(storage, crm_metadata):
    """status lists the missing tables, upgrade creates them, and status is then empty."""
    metadata = crm_metadata()
    before = storage.status(metadata)
    applied = storage.upgrade(metadata)
    after = storage.status(metadata)
    assert ["add table contact", "add table customer"] == sorted(
        c.description for c in before.changes if c.description.startswith("add table")
    )
    assert ["contact", "customer"] == _tables(storage)
    assert before.changes == applied.changes
    assert (True, "the database matches the models") == (after.up_to_date, str(after))


def test_a_new_model_version_is_applied_additively_and_keeps_the_data(crm, crm_metadata):
    """A new column, index, reference, unique rule and table arrive; the rows already there
    stay (on SQLite the unique rule rebuilds a table that others refer to)."""
    storage, metadata = crm
    with storage.transaction() as conn:
        conn.execute(metadata.tables["customer"].insert(), [{"id": 1, "name": "Ada"}])
        conn.execute(metadata.tables["contact"].insert(), [{"id": 1, "customer": 1, "phone": "+31 20 1"}])
    extended = crm_metadata(extended=True)
    diff = storage.status(extended)
    storage.upgrade(extended)
    assert [
        "add column customer.parent_id INTEGER",
        "add column customer.segment VARCHAR(20)",
        "add index ix_customer_segment on customer (segment)",
        "add reference fk_customer_parent_id_customer: customer (parent_id) -> customer (id)",
        "add table activity",
        "add unique rule uq_contact_phone on contact (phone)",
    ] == sorted(c.description for c in diff.changes)
    assert (True, True) == (all(c.kind == "additive" for c in diff.changes), storage.status(extended).up_to_date)
    customer = extended.tables["customer"]
    with storage.transaction() as conn:
        conn.execute(customer.insert(), [{"id": 2, "name": "Bob", "parent": 1, "segment": "b2b"}])
        rows = conn.execute(sa.select(customer.c.id, customer.c.name, customer.c.parent).order_by(customer.c.id)).all()
        contacts = conn.execute(sa.select(extended.tables["contact"])).all()
    assert [(1, "Ada", None), (2, "Bob", 1)] == [tuple(r) for r in rows]
    assert [(1, 1, "+31 20 1")] == [tuple(r) for r in contacts]


def test_tables_no_model_names_and_legacy_tables_are_never_touched(storage, crm_metadata, legacy_metadata):
    """Even with --allow-destructive: a foreign table keeps existing, a legacy table keeps its
    shape (the model's extra column is not added), and neither appears in the status."""
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE billing_export (id INTEGER PRIMARY KEY, amount INTEGER)")
        conn.exec_driver_sql("INSERT INTO billing_export VALUES (1, 100)")
    sa.Table(
        "CUSTMAST", sa.MetaData(), sa.Column("CUST_NO", sa.Integer, primary_key=True),
        sa.Column("CUST_NM", sa.String(60)), sa.Column("OLD_FLAG", sa.CHAR(1)),
    ).create(storage.engine)
    storage.upgrade(crm_metadata())
    legacy = legacy_metadata()
    status = storage.status(legacy)
    storage.upgrade(legacy, allow_destructive=True)
    with storage.engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT id, amount FROM billing_export").all()
    assert (True, "the database matches the models") == (status.up_to_date, str(status))
    assert ["billing_export", "contact", "custmast", "customer"] == sorted(t.lower() for t in _tables(storage))
    assert ["cust_nm", "cust_no", "old_flag"] == _columns(storage, "CUSTMAST")
    assert [(1, 100)] == [tuple(r) for r in kept]


def test_a_missing_legacy_table_blocks_the_upgrade(storage, legacy_metadata):
    """A legacy table is never created: if it is not there, the URL is probably wrong."""
    with pytest.raises(SchemaChangeRefused) as caught:
        storage.upgrade(legacy_metadata())
    assert ["legacy table CUSTMAST (LegacyCustomer) does not exist in this database; legacy tables are"
            " never created - check the storage URL or the table name in the model"] == caught.value.changes
    assert [] == _tables(storage)


def test_destructive_changes_need_to_be_allowed(crm, crm_metadata):
    """A column the model dropped is listed, refused by default, and dropped when allowed,
    keeping the other columns' data."""
    storage, metadata = crm
    with storage.transaction() as conn:
        conn.execute(metadata.tables["customer"].insert(), [{"id": 1, "name": "Ada", "region": "NL"}])
    slimmer = crm_metadata()
    customer = slimmer.tables["customer"]
    customer._columns.remove(customer.c.profile)
    with pytest.raises(SchemaChangeRefused) as caught:
        storage.upgrade(slimmer)
    refused_columns = _columns(storage, "customer")
    storage.upgrade(slimmer, allow_destructive=True)
    with storage.transaction() as conn:
        row = conn.execute(sa.select(customer.c.name, customer.c.region)).one()
    assert ["drop column customer.profile (no model names it; its data would be lost)"] == caught.value.changes
    assert "caruso db upgrade --allow-destructive" in str(caught.value)
    assert "profile" in refused_columns
    assert "profile" not in _columns(storage, "customer")
    assert ("Ada", "NL") == tuple(row)
    assert storage.status(slimmer).up_to_date


def test_a_required_column_needs_a_default_when_the_table_has_rows(crm, crm_metadata):
    """Existing rows would have no value: blocked with a hint; with a default it is added."""
    storage, metadata = crm
    with storage.transaction() as conn:
        conn.execute(metadata.tables["customer"].insert(), [{"id": 1, "name": "Ada"}])
    without_default = crm_metadata()
    without_default.tables["customer"].append_column(sa.Column("tier", sa.String(10), nullable=False))
    with pytest.raises(SchemaChangeRefused, match="give it a default in the model, or make it optional"):
        storage.upgrade(without_default)
    with_default = crm_metadata()
    with_default.tables["customer"].append_column(
        sa.Column("tier", sa.String(10), nullable=False, server_default="basic")
    )
    storage.upgrade(with_default)
    with storage.transaction() as conn:
        tier = conn.execute(sa.select(with_default.tables["customer"].c.tier)).scalar_one()
    assert "basic" == tier


def test_a_longer_string_is_additive(crm, crm_metadata):
    """Widening a string column loses nothing, so plain upgrade applies it."""
    storage, _ = crm
    wider = crm_metadata()
    wider.tables["contact"].c.phone.type = sa.String(60)
    diff = storage.status(wider)
    storage.upgrade(wider)
    assert [("additive", "alter column contact.phone: type VARCHAR(30) -> VARCHAR(60)")] == [
        (c.kind, c.description) for c in diff.changes
    ]
    assert storage.status(wider).up_to_date
