"""XmlRpcLegacyService against a real XML-RPC stand-in on loopback: calls, the system's own
status check, its faults as messages, and a host that hangs freeing the worker by its timeout."""

from __future__ import annotations

import threading
import xmlrpc.client

import attrs
import pytest

from caruso.clock import ManualClock
from caruso.errors import LegacySystemError, LegacyTimeout, LegacyUnavailable
from caruso.services.base import DOWN
from caruso.services.legacy import LegacySettings
from caruso.services.manager import ServiceManager
from caruso.services.xmlrpc_legacy import XmlRpcLegacyService
from caruso.standin import XmlRpcStandIn


@attrs.frozen
class HostSettings(LegacySettings):
    url: str = ""


class Host(XmlRpcLegacyService):
    system = "host"
    Settings = HostSettings
    fault_meanings = {4001: "no such customer"}

    def check(self, proxy):
        if proxy.system.status() != "UP":
            raise LegacyUnavailable(self.system, "connect", "the host is not up")

    def name_of(self, number):
        return self.remote("customer.name", number, idempotent=True)


@pytest.fixture
def host():
    state = {"status": "UP", "hang": threading.Event()}

    def name(number):
        if number == "0":
            raise xmlrpc.client.Fault(4001, "KLANT ONBEKEND")
        if number == "hang":
            state["hang"].wait(5)
        return f"customer {number}"

    server = XmlRpcStandIn({"system.status": lambda: state["status"], "customer.name": name})
    server.serve_in_background("test-host")
    yield server, state
    state["hang"].set()
    server.stop()


def _started(server, **settings):
    service = Host()
    manager = ServiceManager()
    manager.register("clock", ManualClock())
    manager.register("host", service, settings=HostSettings(url=server.url, **{"timeout": 0.3, "retries": 0,
                                                                                **settings}))
    manager.start_all()
    return manager, service


def test_calls_go_through_and_faults_say_what_they_mean(host):
    server, _ = host
    manager, service = _started(server)
    try:
        assert "customer 7" == service.name_of("7")
        with pytest.raises(LegacySystemError, match=r"no such customer \(fault 4001: KLANT ONBEKEND\)"):
            service.name_of("0")
        assert server.calls["customer.name"] == 2
    finally:
        manager.stop_all()


def test_a_host_that_is_not_up_is_unavailable_and_the_health_says_so(host):
    server, state = host
    state["status"] = "MAINTENANCE"
    manager, service = _started(server)
    try:
        with pytest.raises(LegacyUnavailable, match="the host is not up"):
            service.name_of("7")
        assert DOWN == service.health().status
    finally:
        manager.stop_all()


def test_a_hanging_host_frees_the_caller_after_the_timeout(host):
    server, _ = host
    manager, service = _started(server)
    try:
        with pytest.raises(LegacyTimeout):
            service.name_of("hang")
    finally:
        manager.stop_all()
