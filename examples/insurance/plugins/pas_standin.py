"""Runs the stand-in policy administration system as a service of the application.

Only the tutorial needs this: it makes ``caruso run examples/insurance`` work
without the broker's real PAS. The wrapper talks to it over a real socket,
exactly as it would to the real system. Remove the ``[services.pas-standin]``
table from caruso.toml when the wrapper points at the real one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
from legacy_pas import serve

from caruso import Service
from caruso.errors import CarusoError


@attrs.frozen
class StandInSettings:
    url: str = "http://127.0.0.1:8911"


class PasStandIn(Service):
    Settings = StandInSettings
    version = "5.1"

    def on_start(self) -> None:
        address = urlsplit(self.settings.url)
        try:
            self.server, self.thread = serve(port=address.port or 80, host=address.hostname or "127.0.0.1")
        except OSError as exc:
            raise CarusoError(
                f"the PAS stand-in cannot listen on {self.settings.url}: {exc}; is the application "
                "already running? Set PAS_URL to another address (it is read by both the stand-in and the wrapper)"
            ) from exc

    def on_stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
