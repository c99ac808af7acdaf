"""The ``storage`` service: the default ``Storage`` under the service manager's lifecycle.

The URL is the descriptor's ``[storage] url`` (SQLite file ``caruso.db`` in
the application folder unless it says otherwise); pool and logging options
come from ``[services.storage.settings]``::

    [storage]
    url = "postgresql+psycopg://crm:secret@db.example.com/crm"

    [services.storage.settings]
    pool_size = 10
    echo = false
"""

from __future__ import annotations

import attrs

from caruso.errors import ConfigError
from caruso.services.base import DOWN, Health, Service
from caruso.storage.engine import EngineOptions
from caruso.storage.manager import Storage, StorageManager

__all__ = ["StorageService", "StorageSettings"]


@attrs.define
class StorageSettings(EngineOptions):
    """``[services.storage.settings]``: the pool and logging options of ``EngineOptions``
    (``echo``, ``pool_size``, ``max_overflow``, ``pool_timeout``, ``pool_recycle``,
    ``sqlite_timeout``), plus:

    Args:
        url: only for a storage service run outside an application (tests, a
            service manager of your own); an application sets ``[storage] url``.
    """

    url: str | None = None


class StorageService(Service, Storage):
    """Opens the database when started, closes its connections when stopped."""

    provides = (StorageManager,)
    version = "1"
    Settings = StorageSettings

    def __init__(self) -> None:
        Storage.__init__(self)

    def on_start(self) -> None:
        settings = self._structured_settings()
        self.open(self._url(settings), settings)

    def on_stop(self) -> None:
        self.close()

    def health(self) -> Health:
        if self._engine is None:
            return Health(DOWN, "storage is not open (the service is not started)")
        return Storage.health(self)

    def _structured_settings(self) -> StorageSettings:
        settings = self.context.settings
        if isinstance(settings, StorageSettings):
            return settings
        return StorageSettings(**(settings or {}))

    def _url(self, settings: StorageSettings) -> str:
        app = self.context.app
        if app is None:
            return settings.url or f"sqlite:///{self.context.root / 'caruso.db'}"
        url = app.config.storage.url
        if settings.url is not None and settings.url != url:
            raise ConfigError(
                "[services.storage.settings] url is for storage outside an application;"
                " set the database in [storage] url instead (and remove the setting)",
                file=str(getattr(app.config, "path", "")) or None,
            )
        return url
