"""Fixtures for the storage tests: a small CRM schema, as the modeler would hand it over.

The tables carry the facts the modeler puts in ``.info`` (object, attribute,
legacy), column names differ from attribute keys as they do for legacy
naming (``CUST_NM`` holds ``Customer.name``), and constraint names follow
storage's naming convention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from caruso.storage import Storage
from caruso.storage.metadata import ATTRIBUTE_KEY, LEGACY_KEY, OBJECT_KEY, new_metadata
from caruso.storage.types import Enumeration, ExactDecimal, JSONType, UTCDateTime


def _column(name: str, type_, *args, attribute: str | None = None, **kwargs) -> sa.Column:
    return sa.Column(name, type_, *args, key=attribute or name, info={ATTRIBUTE_KEY: attribute or name}, **kwargs)


def build_crm_metadata(*, extended: bool = False) -> sa.MetaData:
    """Customer, Contact and Activity; ``extended`` adds what a later model version adds."""
    metadata = new_metadata()
    customer = sa.Table(
        "customer",
        metadata,
        _column("id", sa.Integer, primary_key=True),
        _column("CUST_NM", sa.String(100), attribute="name", nullable=False),
        _column("email", sa.String(200), unique=True),
        _column("balance", ExactDecimal(12, 2)),
        _column("created", UTCDateTime()),
        _column("profile", JSONType()),
        _column("status", Enumeration(("prospect", "active", "former"))),
        _column("region", sa.String(2)),
        _column("number", sa.Integer),
        sa.UniqueConstraint("region", "number"),
        info={OBJECT_KEY: "Customer"},
    )
    sa.Table(
        "contact",
        metadata,
        _column("id", sa.Integer, primary_key=True),
        _column("customer_id", sa.Integer, sa.ForeignKey("customer.id"), attribute="customer", nullable=False),
        _column("phone", sa.String(30)),
        info={OBJECT_KEY: "Contact"},
    )
    if extended:
        metadata.tables["contact"].append_constraint(sa.UniqueConstraint("phone"))
        customer.append_column(_column("segment", sa.String(20), index=True))
        customer.append_column(_column("parent_id", sa.Integer, sa.ForeignKey("customer.id"), attribute="parent"))
        sa.Table(
            "activity",
            metadata,
            _column("id", sa.Integer, primary_key=True),
            _column("customer_id", sa.Integer, sa.ForeignKey("customer.id"), attribute="customer"),
            _column("subject", sa.String(200)),
            info={OBJECT_KEY: "Activity"},
        )
    return metadata


def build_legacy_metadata() -> sa.MetaData:
    """A model over a table the company already had (``CUSTMAST``), marked legacy."""
    metadata = new_metadata()
    sa.Table(
        "CUSTMAST",
        metadata,
        _column("CUST_NO", sa.Integer, primary_key=True, attribute="number"),
        _column("CUST_NM", sa.String(60), attribute="name"),
        _column("NEW_COL", sa.String(10), attribute="added_in_model"),
        info={OBJECT_KEY: "LegacyCustomer", LEGACY_KEY: True},
    )
    return metadata


@pytest.fixture
def crm_metadata() -> Callable[..., sa.MetaData]:
    """A factory of fresh CRM MetaData (``extended=True`` for the next model version)."""
    return build_crm_metadata


@pytest.fixture
def legacy_metadata() -> Callable[[], sa.MetaData]:
    return build_legacy_metadata


@pytest.fixture
def storage(database_url) -> Iterator[Storage]:
    """A Storage on a fresh database of each backend, closed afterwards."""
    store = Storage(database_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def crm(storage) -> Iterator[tuple[Storage, sa.MetaData]]:
    """Storage with the CRM tables created (through ``upgrade``)."""
    metadata = build_crm_metadata()
    storage.register(metadata)
    storage.upgrade()
    yield storage, metadata
