"""Runs the stand-in core-banking host (``banking_core.py``) as a service of the demo.

Only the demo needs it: ``caruso run examples/banking`` then works on a machine without
the bank's mainframe. The wrapper talks to it over a real socket, as it would to the
real one. A real deployment deletes ``[services.core-banking-standin]`` from caruso.toml
and points ``CORE_BANKING_URL`` at the host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs
from banking_core import serve

from caruso import Service
from caruso.errors import CarusoError


@attrs.frozen
class StandInSettings:
    """Args:
        url: where the stand-in listens (host and port of an ``http://`` URL)."""

    url: str = "http://127.0.0.1:8931"


class CoreBankingStandIn(Service):
    Settings = StandInSettings
    version = "7.1"

    def on_start(self) -> None:
        address = urlsplit(self.settings.url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        try:
            self.server, self.thread = serve(port=port, host=host)
        except OSError as exc:
            raise CarusoError(
                f"the core-banking stand-in cannot listen on {host}:{port}: {exc}; is the demo already "
                "running? Set CORE_BANKING_URL to another port (the wrapper reads the same variable)"
            ) from exc

    def on_stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def book(self):
        """The host's state, for demos and tests."""
        return self.server.book
