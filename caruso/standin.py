"""Stand-ins for legacy systems: a small XML-RPC server to ship next to a wrapper.

A wrapper service (``caruso.services.legacy.LegacyService``) is only worth as much as
the tests that run it against something that answers like the real system. Where the
real system is not at hand - in a demo, on a developer's machine, in CI - an
integrator ships a *stand-in*: a real server on a real socket that answers the way
the legacy system does. The templates in ``examples/`` each ship one
(``examples/quickstart/legacy_billing.py`` is the smallest).

This module is the part every XML-RPC stand-in has in common, so that a stand-in's
own file holds only what makes it that system (its data, its methods, its faults)::

    from caruso.standin import XmlRpcStandIn, run_standin_cli

    class BillingServer(XmlRpcStandIn):
        def __init__(self, host="127.0.0.1", port=0):
            self.ledger = Ledger()
            super().__init__({"system.status": self.ledger.status,
                              "invoices.list": self.ledger.invoices}, host=host, port=port)

    server = BillingServer()                 # port 0: a free port
    thread = server.serve_in_background("legacy-billing")
    server.url                               # "http://127.0.0.1:54321"
    server.calls["invoices.list"]            # calls per method
    server.latency = 0.5                     # play a slow host
    server.stop()

    def main(argv=None):
        run_standin_cli(BillingServer, description="A stand-in billing host (XML-RPC).",
                        default_port=8901, banner="BILL/3.2 (stand-in)", argv=argv)

A stand-in is test equipment, not a production server: it listens on loopback by
default and logs nothing per request.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

__all__ = ["XmlRpcStandIn", "run_standin_cli"]


class _QuietHandler(SimpleXMLRPCRequestHandler):
    """Answers on the server's ``rpc_paths`` and logs nothing: one line per call is noise in tests."""

    @property
    def rpc_paths(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.server.rpc_paths

    def log_message(self, format: str, *args: Any) -> None:
        pass


class XmlRpcStandIn(ThreadingMixIn, SimpleXMLRPCServer):
    """An XML-RPC server that plays a legacy system: one thread per connection, every call counted.

    Args:
        functions: the system's methods, by the name the wrapper calls them
            (``{"invoices.list": ledger.invoices}``); a function answers with a value
            or raises ``xmlrpc.client.Fault`` with the system's fault code.
        host: the address to listen on.
        port: the port to listen on; ``0`` takes a free one (see ``url``).
        latency: seconds added to every business call, to play a slow host
            (also settable later through the ``latency`` attribute).
        allow_none: whether ``None`` may travel (an XML-RPC extension that not every
            legacy system accepts).

    Raises:
        OSError: the address cannot be bound (the port is in use, most often).

    Attributes:
        calls: a ``collections.Counter`` of the calls received per method name,
            counted before the method runs (so a call that timed out on the
            client's side is counted too).
        latency: seconds each business call sleeps before it runs. Methods in the
            ``system.`` namespace (XML-RPC introspection, and the status call a
            wrapper connects with) are never slowed.
        rpc_paths: the URL paths that answer (class attribute); a subclass sets
            more when the real system has its own (``("/", "/RPC2", "/mdm")``).
    """

    daemon_threads = True
    allow_reuse_address = True
    rpc_paths: tuple[str, ...] = ("/", "/RPC2")

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        allow_none: bool = False,
    ):
        super().__init__((host, port), requestHandler=_QuietHandler, logRequests=False, allow_none=allow_none)
        self.latency = latency
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        for name, function in functions.items():
            self.register_function(function, name)

    @property
    def url(self) -> str:
        """The stand-in's address, ``http://host:port``: what the wrapper's ``url`` setting takes."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def serve_in_background(self, name: str = "xmlrpc-standin") -> threading.Thread:
        """Start answering on a daemon thread called ``name`` and return the thread; ``stop()`` ends it."""
        if self._thread is not None:
            raise RuntimeError(f"the stand-in at {self.url} is already serving (thread {self._thread.name!r})")
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, free the port and wait up to ``timeout`` seconds for the thread; safe to repeat."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self.shutdown()
            thread.join(timeout=timeout)
        self.server_close()

    def _dispatch(self, method: str, params: tuple) -> Any:
        with self._calls_lock:
            self.calls[method] += 1
        if self.latency and not method.startswith("system."):
            time.sleep(self.latency)
        return super()._dispatch(method, params)


def run_standin_cli(
    make_server: Callable[[str, int], XmlRpcStandIn],
    description: str,
    default_port: int,
    banner: str,
    argv: list[str] | None = None,
    *,
    hint: str = "",
) -> None:
    """Run a stand-in from the command line until Ctrl+C: the body of a stand-in's ``main()``.

    Takes ``--host`` (default 127.0.0.1), ``--port`` (default ``default_port``) and
    ``--latency`` (seconds added to every business call, default 0), then prints one line,
    ``<banner> listening on <url>[; <hint>]; Ctrl+C stops it``, and serves.

    Args:
        make_server: builds the stand-in from host and port (the stand-in's class will do).
        description: the ``--help`` text's first line.
        default_port: the port the system's wrapper expects by default.
        banner: what the stand-in calls itself, e.g. ``"BILL/3.2 (stand-in)"``.
        argv: the arguments; ``None`` reads ``sys.argv``.
        hint: what to try first, e.g. ``"customers 100234, 100587"``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port to listen on (default {default_port})"
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every business call (default 0)"
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port)
    server.latency = args.latency
    print(f"{banner} listening on {server.url}{f'; {hint}' if hint else ''}; Ctrl+C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
