"""The seam between the modeler and storage: a MetaData whose tables say what they model.

The modeler builds plain SQLAlchemy ``Table`` objects; storage needs to know
three facts about them, which travel in SQLAlchemy's free ``.info`` dicts:

- ``table.info["caruso_object"]``: the business object a table holds ("Customer");
- ``table.info["caruso_legacy"]``: True for a table that existed before Caruso
  (mapped from a company's database): schema management never alters or drops it;
- ``column.info["caruso_attribute"]``: the attribute a column holds ("name").

Constraints get deterministic names from ``NAMING_CONVENTION``, so that when a
database refuses a write, the constraint name it reports leads back to the
object and attribute, and so that Alembic can compare them by name.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "ATTRIBUTE_KEY",
    "LEGACY_KEY",
    "NAMING_CONVENTION",
    "OBJECT_KEY",
    "attribute_name",
    "is_legacy",
    "managed_tables",
    "new_metadata",
    "object_name",
]

OBJECT_KEY = "caruso_object"
LEGACY_KEY = "caruso_legacy"
ATTRIBUTE_KEY = "caruso_attribute"

NAMING_CONVENTION: dict[str, str] = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}
"""Constraint and index names derived from table and column names. Names longer
than a backend allows (63 characters on PostgreSQL) are shortened by
SQLAlchemy with a hash suffix, still deterministically."""


def new_metadata() -> sa.MetaData:
    """A MetaData with Caruso's naming convention: use it for every model's tables."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


def object_name(table: sa.Table) -> str | None:
    """The business object stored in ``table``, or None for a table no model names."""
    return table.info.get(OBJECT_KEY)


def is_legacy(table: sa.Table) -> bool:
    """True when the table belongs to an existing database and must never be altered."""
    return bool(table.info.get(LEGACY_KEY, False))


def attribute_name(column: sa.Column) -> str:
    """The attribute a column holds; the column name for columns no model names."""
    return column.info.get(ATTRIBUTE_KEY) or column.name


def managed_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """Tables Caruso creates and extends - every table of ``metadata`` except legacy
    ones - in dependency order (parents first).

    A table without ``caruso_object`` (an event log, an association table) is
    still managed: the marker names things in messages, it does not decide
    ownership. Only ``caruso_legacy`` does.
    """
    return [t for t in metadata.sorted_tables if not is_legacy(t)]
