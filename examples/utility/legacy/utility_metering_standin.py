"""Runs the stand-in metering system (``metering_system.py``) as a service of the demo.

Only the demo needs it: ``caruso run examples/utility`` then works on a machine without the
real metering system, and the wrapper talks to it over a real socket. Stopping this service
(``app.services.resolve("metering-standin").on_stop()``, as the tests do) plays the metering
system going down: the wrapper's health says so, the rest of the CRM keeps working.
"""

from __future__ import annotations

import attrs
from metering_system import serve

from caruso import Service
from caruso.errors import CarusoError


@attrs.frozen
class MeteringStandInSettings:
    port: int = 8911


class MeteringStandIn(Service):
    Settings = MeteringStandInSettings
    version = "4.1"

    def on_start(self) -> None:
        try:
            self.server, self.thread = serve(port=self.settings.port)
        except OSError as exc:
            raise CarusoError(
                f"the metering stand-in cannot listen on port {self.settings.port}: {exc}; is the demo "
                "already running? Set [services.metering-standin.settings] port (and the url of "
                "[services.metering.settings]) to a free port"
            ) from exc

    def on_stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
