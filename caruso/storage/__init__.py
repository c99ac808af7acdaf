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

from caruso.storage.manager import Storage, StorageManager
from caruso.storage.metadata import NAMING_CONVENTION, new_metadata
from caruso.storage.schema import SchemaChange, SchemaDiff
from caruso.storage.transfer import TransferReport
from caruso.storage.types import (
    PORTABLE_TYPES,
    Enumeration,
    ExactDecimal,
    JSONType,
    UTCDateTime,
    portable_type,
)

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
