"""Runs the stand-in legacy billing system (an XML-RPC server) as a service of the demo.

Only the demo needs this: it makes ``caruso run examples/quickstart`` work on a
machine without the real billing system. The wrapper talks to it over a real
socket, exactly as it would to the real one.
"""

from __future__ import annotations

import attrs

from caruso import Service
from caruso.errors import CarusoError
from legacy_billing import serve


@attrs.frozen
class StandInSettings:
    port: int = 8901


class BillingStandIn(Service):
    Settings = StandInSettings
    version = "1987.4"

    def on_start(self) -> None:
        try:
            self.server, self.thread = serve(port=self.settings.port)
        except OSError as exc:
            raise CarusoError(
                f"the billing stand-in cannot listen on port {self.settings.port}: {exc}; "
                "is the demo already running? Set [services.billing-standin.settings] port "
                "(and the wrapper's url) to a free port"
            ) from exc

    def on_stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
