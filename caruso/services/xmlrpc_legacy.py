"""A wrapper service for a legacy system that speaks XML-RPC: what every such wrapper writes
the same way, so one for a new system holds only that system's calls.

``LegacyService`` (caruso/services/legacy.py) gives every wrapper its timeouts, retries,
circuit breaker and health; this subclass adds the XML-RPC client: a ``ServerProxy`` per
worker thread with a socket timeout (a hung host frees the worker), a login check the system
defines, closing the connection, and the system's faults turned into messages::

    class MeteringService(XmlRpcLegacyService):
        system = "metering"
        Settings = MeteringSettings              # a LegacySettings subclass with a ``url``
        fault_meanings = {4001: "unknown EAN code"}

        def check(self, proxy):                  # what logging in to the system means
            if proxy.MDM.Status().get("STATUS") != "ONLINE":
                raise LegacyUnavailable(self.system, "connect", "the metering system is not online")

        def meter(self, ean):
            return self.remote("MDM.Meter", ean, idempotent=True)

The quickstart's and the tutorial's wrappers spell all of this out by hand on purpose: they
show the ``LegacyService`` contract step by step (docs/wrapper-services.md).
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from collections.abc import Mapping
from typing import Any, ClassVar

from caruso.errors import LegacySystemError
from caruso.services.legacy import LegacyService

__all__ = ["XmlRpcLegacyService"]


class XmlRpcLegacyService(LegacyService):
    """Base of wrappers over an XML-RPC system; its ``Settings`` need a ``url``."""

    fault_meanings: ClassVar[Mapping[int, str]] = {}
    """Fault code -> what it means to a user; other faults are the base class's errors."""
    allow_none: ClassVar[bool] = False
    """Whether the system accepts XML-RPC's ``<nil/>`` extension."""

    def check(self, proxy: xmlrpc.client.ServerProxy) -> None:
        """Ask the system whether it is up (its status call, a login) and raise
        ``LegacyUnavailable`` when not: creating a proxy sends nothing."""

    def connect(self) -> xmlrpc.client.ServerProxy:
        secure = self.settings.url.startswith("https:")
        transport = (_SafeTimeoutTransport if secure else _TimeoutTransport)(self.settings.timeout)
        proxy = xmlrpc.client.ServerProxy(self.settings.url, transport=transport, allow_none=self.allow_none)
        self.check(proxy)
        return proxy

    def disconnect(self, client: xmlrpc.client.ServerProxy) -> None:
        client("close")()

    def translate_error(self, exc: Exception, operation: str) -> LegacySystemError | None:
        if isinstance(exc, xmlrpc.client.Fault) and exc.faultCode in self.fault_meanings:
            meaning = self.fault_meanings[exc.faultCode]
            return LegacySystemError(self.system, operation, f"{meaning} (fault {exc.faultCode}: {exc.faultString})")
        return None

    def remote(self, method: str, *params: Any, idempotent: bool = False) -> Any:
        """Call ``method`` with ``params`` through ``call`` (timeouts, retries when
        ``idempotent``, the breaker)."""
        return self.call(method, lambda proxy: getattr(proxy, method)(*params), idempotent=idempotent)


class _TimeoutMixin:
    """A socket timeout on the HTTP connection, so a worker is freed when the system hangs."""

    def __init__(self, timeout: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


class _TimeoutTransport(_TimeoutMixin, xmlrpc.client.Transport):
    pass


class _SafeTimeoutTransport(_TimeoutMixin, xmlrpc.client.SafeTransport):
    pass
