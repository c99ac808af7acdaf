"""The storage manager: one database behind a URL, the same behaviour on every backend.

SQLite by default, PostgreSQL and MariaDB by URL, with nothing else changed:

- ``Storage(url)`` (the ``storage`` service in an application): engine,
  sessions, ``unit_of_work()``, errors in business terms;
- ``caruso.storage.types``: column types that keep decimals exact and
  datetimes in UTC on every backend;
- ``caruso.storage.metadata``: the MetaData conventions the modeler follows;
- ``Storage.status()`` / ``upgrade()``: schema management on Alembic;
- ``Storage.transfer(url)``: copy everything to another database, verified.
"""

from caruso._lazy import lazy_exports

# Where each public name lives. The package imports them on first use (PEP 562),
# so that importing a light submodule (the plugin, the types) does not pull in the
# storage manager, SQLAlchemy's ORM and Alembic with it.
_EXPORTS = {
    "Storage": "manager",
    "StorageManager": "manager",
    "NAMING_CONVENTION": "metadata",
    "new_metadata": "metadata",
    "SchemaChange": "schema",
    "SchemaDiff": "schema",
    "TransferReport": "transfer",
    "PORTABLE_TYPES": "types",
    "Enumeration": "types",
    "ExactDecimal": "types",
    "JSONType": "types",
    "UTCDateTime": "types",
    "portable_type": "types",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "NAMING_CONVENTION",
    "PORTABLE_TYPES",
    "Enumeration",
    "ExactDecimal",
    "JSONType",
    "SchemaChange",
    "SchemaDiff",
    "Storage",
    "StorageManager",
    "TransferReport",
    "UTCDateTime",
    "new_metadata",
    "portable_type",
]
