"""The default Storage passes the storage manager compliance suite on every backend."""

from __future__ import annotations

from caruso.storage import Storage
from caruso.storage.contract import StorageManagerContract


class TestStorage(StorageManagerContract):
    """Runs caruso.storage.contract against ``Storage`` (SQLite, PostgreSQL, MariaDB)."""

    def make_storage(self, url):
        return Storage(url)
