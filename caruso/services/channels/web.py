"""Serving a channel's ASGI application with uvicorn on a thread of its own.

The chat and the SMS webhook are Starlette applications. In a full front
office they are mounted in the web server (``service.asgi``); a channel that
is given a ``port`` also serves itself, which is what a small installation and
the tests do. ``port = 0`` takes a free port; ``ServerThread.port`` says which.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import uvicorn

from caruso.errors import ServiceStateError

__all__ = ["ServerThread"]

log = logging.getLogger("caruso.channels.web")


class ServerThread:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread, with its own event loop."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "caruso-web",
                 **options: Any):
        """``options`` go to ``uvicorn.Config`` (the front office passes its proxy settings)."""
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                     ws="websockets-sansio", ws_max_size=1 << 20, timeout_graceful_shutdown=2,
                                     **options)
        self.server = uvicorn.Server(self.config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._failure: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the socket listens (raises if it could not bind)."""
        self._thread.start()
        waited = 0.0
        while not self.server.started and self._thread.is_alive() and waited < timeout:
            self._thread.join(0.01)
            waited += 0.01
        if not self.server.started:
            self.stop()
            raise ServiceStateError(
                f"could not listen on {self.config.host}:{self.config.port}: {self._failure or 'timed out'}")

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve())
        except BaseException as exc:  # a port in use ends serve() with SystemExit
            self._failure = exc
        finally:
            self.loop.close()

    @property
    def port(self) -> int:
        """The port actually listened on (useful with ``port = 0``)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.config.port

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run ``callback(*args)`` on the server's loop, from any thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
