"""Refused writes and lost connections, on each real backend, in business terms."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import registry

from caruso.errors import DatabaseUnavailable, IntegrityViolation
from caruso.storage import Storage


def _count(storage: Storage, table: sa.Table) -> int:
    with storage.transaction() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _insert(storage: Storage, table: sa.Table, *rows: dict) -> None:
    with storage.transaction() as conn:
        conn.execute(table.insert(), list(rows))


def test_a_duplicate_names_the_object_the_attribute_and_the_value(crm):
    """The second customer with the same e-mail address is refused as Customer.email."""
    storage, metadata = crm
    customer = metadata.tables["customer"]
    _insert(storage, customer, {"id": 1, "name": "Ada", "email": "ada@example.com"})
    with pytest.raises(IntegrityViolation) as caught:
        _insert(storage, customer, {"id": 2, "name": "Ada II", "email": "ada@example.com"})
    error = caught.value
    assert ("unique", "Customer", ("email",)) == (error.kind, error.object_name, error.attributes)
    assert str(error).startswith("Customer.email must be unique: ")
    assert "ada@example.com" in str(error)
    assert 1 == _count(storage, customer)


def test_a_rule_over_two_columns_names_both_attributes(crm):
    """A unique rule over (region, number) names both, in model order."""
    storage, metadata = crm
    customer = metadata.tables["customer"]
    _insert(storage, customer, {"id": 1, "name": "A", "region": "NL", "number": 7})
    with pytest.raises(IntegrityViolation) as caught:
        _insert(storage, customer, {"id": 2, "name": "B", "region": "NL", "number": 7})
    assert ("Customer", ("region", "number")) == (caught.value.object_name, caught.value.attributes)
    assert "Customer (region, number) must be unique together" in str(caught.value)


def test_a_missing_required_value_names_the_attribute_not_the_legacy_column(crm):
    """Column CUST_NM holds Customer.name: the message speaks of the attribute."""
    storage, metadata = crm
    with pytest.raises(IntegrityViolation) as caught:
        _insert(storage, metadata.tables["customer"], {"id": 1, "name": None})
    assert ("not_null", ("name",)) == (caught.value.kind, caught.value.attributes)
    assert str(caught.value).startswith("Customer.name is required but has no value")


def test_a_reference_to_a_missing_object_names_the_reference(crm):
    """A contact for customer 999 that does not exist: Contact.customer refers to nothing."""
    storage, metadata = crm
    _insert(storage, metadata.tables["customer"], {"id": 1, "name": "Ada"})
    with pytest.raises(IntegrityViolation) as caught:
        _insert(storage, metadata.tables["contact"], {"id": 1, "customer": 999, "phone": "1"})
    error = caught.value
    assert ("foreign_key", "Contact", ("customer",)) == (error.kind, error.object_name, error.attributes)
    assert str(error).startswith("Contact.customer refers to a Customer that does not exist")
    assert 0 == _count(storage, metadata.tables["contact"])


def test_deleting_a_referenced_object_names_who_still_refers_to_it(crm):
    """Customer 1 has a contact: deleting it is refused and the message names Contact.customer."""
    storage, metadata = crm
    customer, contact = metadata.tables["customer"], metadata.tables["contact"]
    _insert(storage, customer, {"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"})
    _insert(storage, contact, {"id": 1, "customer": 1, "phone": "1"})
    with pytest.raises(IntegrityViolation) as caught:
        with storage.transaction() as conn:
            conn.execute(customer.delete().where(customer.c.id == 2))
            conn.execute(customer.delete().where(customer.c.id == 1))
    assert ("foreign_key", "Customer") == (caught.value.kind, caught.value.object_name)
    assert str(caught.value).startswith(
        "Customer cannot be deleted or change its key: Contact.customer still refers to it"
    )
    assert 2 == _count(storage, customer)


def test_a_unit_of_work_is_rolled_back_whole(crm):
    """Two new customers in one unit of work, the second a duplicate: neither is written."""
    storage, metadata = crm
    mapper = registry()

    class Customer:
        def __init__(self, **values):
            self.__dict__.update(values)

    mapper.map_imperatively(Customer, metadata.tables["customer"])
    try:
        _insert(storage, metadata.tables["customer"], {"id": 1, "name": "Ada", "email": "ada@example.com"})
        with pytest.raises(IntegrityViolation, match="Customer.email must be unique"):
            with storage.unit_of_work() as session:
                session.add(Customer(id=2, name="New", email="new@example.com"))
                session.flush()
                session.add(Customer(id=3, name="Dup", email="ada@example.com"))
        assert 1 == _count(storage, metadata.tables["customer"])
    finally:
        mapper.dispose()


def test_the_database_going_away_mid_transaction_rolls_back_with_a_clear_error(crm, database_url):
    """The server ends our connection after a first insert: DatabaseUnavailable, nothing written."""
    storage, metadata = crm
    backend = sa.engine.make_url(database_url).get_backend_name()
    if backend == "sqlite":
        pytest.skip("a SQLite file has no server connection that could go away")
    customer = metadata.tables["customer"]
    admin = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            with storage.unit_of_work() as session:
                session.execute(customer.insert(), [{"id": 1, "name": "Ada"}])
                pid_query = "SELECT pg_backend_pid()" if backend == "postgresql" else "SELECT CONNECTION_ID()"
                pid = session.execute(sa.text(pid_query)).scalar_one()
                kill = f"SELECT pg_terminate_backend({pid})" if backend == "postgresql" else f"KILL {pid}"
                with admin.connect() as conn:
                    conn.exec_driver_sql(kill)
                session.execute(customer.insert(), [{"id": 2, "name": "Bob"}])
        assert "went away during the operation" in str(caught.value)
        assert "rolled back and nothing of it was written" in str(caught.value)
        assert 0 == _count(storage, customer)
    finally:
        admin.dispose()


def test_an_unreachable_server_is_reported_as_unavailable():
    """Nothing listens on port 1: a unit of work fails with DatabaseUnavailable, health is down."""
    storage = Storage("postgresql+psycopg://caruso:secret@127.0.0.1:1/crm?connect_timeout=2")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            with storage.unit_of_work() as session:
                session.execute(sa.text("SELECT 1"))
        assert "cannot connect to the database postgresql+psycopg://caruso:***@127.0.0.1:1/crm" in str(caught.value)
        assert "secret" not in str(caught.value)
        assert "down" == storage.health().status
    finally:
        storage.close()
