"""caruso.standin: the XML-RPC stand-in skeleton, run as a real server on loopback."""

from __future__ import annotations

import socket
import threading
import time
import xmlrpc.client

import pytest

from caruso.standin import XmlRpcStandIn, run_standin_cli

FAULT_NOT_FOUND = 4001


def _lookup(number: str) -> dict:
    if number != "100234":
        raise xmlrpc.client.Fault(FAULT_NOT_FOUND, f"CUSTOMER NOT FOUND: {number}")
    return {"CUSTNO": number, "NAME": "Bakkerij De Vries"}


def _functions() -> dict:
    return {"system.status": lambda: {"STATUS": "UP"}, "customer.get": _lookup}


@pytest.fixture
def standin():
    server = XmlRpcStandIn(_functions())
    server.serve_in_background("test-standin")
    yield server
    server.stop()


def _proxy(server: XmlRpcStandIn, path: str = "") -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(server.url + path)


def test_a_real_call_is_answered_and_counted(standin):
    """A registered function answers an xmlrpc.client call over the socket; the call is counted per method."""
    with _proxy(standin) as proxy:
        answer = proxy.customer.get("100234")
        proxy.customer.get("100234")
        proxy.system.status()

    assert {"CUSTNO": "100234", "NAME": "Bakkerij De Vries"} == answer
    assert {"customer.get": 2, "system.status": 1} == dict(standin.calls)


def test_the_url_names_the_free_port_it_took(standin):
    """Port 0 takes a free port; url is http://host:port with the port actually bound."""
    assert f"http://127.0.0.1:{standin.server_address[1]}" == standin.url
    assert 0 != standin.server_address[1]


def test_a_fault_reaches_the_client_with_its_code(standin):
    """A function that raises Fault answers with the system's fault code and text, and the call still counts."""
    with _proxy(standin) as proxy, pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.customer.get("199999")

    assert (FAULT_NOT_FOUND, "CUSTOMER NOT FOUND: 199999") == (caught.value.faultCode, caught.value.faultString)
    assert 1 == standin.calls["customer.get"]


def test_latency_slows_business_calls_but_not_system_calls(standin):
    """latency is added to every call outside the system. namespace; system.status stays fast."""
    standin.latency = 0.3

    with _proxy(standin) as proxy:
        started = time.monotonic()
        proxy.system.status()
        status_took = time.monotonic() - started
        started = time.monotonic()
        proxy.customer.get("100234")
        business_took = time.monotonic() - started

    assert status_took < 0.3
    assert business_took >= 0.3


def test_latency_can_be_given_when_it_is_made():
    """The latency keyword sets the attribute the calls read."""
    server = XmlRpcStandIn(_functions(), latency=0.25)
    try:
        assert 0.25 == server.latency
    finally:
        server.stop()


def test_stop_frees_the_port_and_ends_the_thread():
    """After stop() the thread has ended and another server can bind the same port; stop() may be repeated."""
    server = XmlRpcStandIn(_functions())
    thread = server.serve_in_background("test-standin")
    port = server.server_address[1]

    server.stop()
    server.stop()

    assert False is thread.is_alive()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
        assert port == probe.getsockname()[1]


def test_serving_twice_is_a_mistake(standin):
    """A second serve_in_background names the thread already serving."""
    with pytest.raises(RuntimeError) as caught:
        standin.serve_in_background("again")

    assert f"the stand-in at {standin.url} is already serving (thread 'test-standin')" == str(caught.value)


def test_only_the_rpc_paths_answer():
    """A subclass adds the real system's own path; any other path is refused with 404."""

    class WithOwnPath(XmlRpcStandIn):
        rpc_paths = ("/", "/RPC2", "/mdm")

    server = WithOwnPath(_functions())
    server.serve_in_background("test-standin")
    try:
        with _proxy(server, "/mdm") as proxy:
            assert {"STATUS": "UP"} == proxy.system.status()
        with _proxy(server, "/other") as proxy, pytest.raises(xmlrpc.client.ProtocolError) as caught:
            proxy.system.status()
        assert 404 == caught.value.errcode
    finally:
        server.stop()


@pytest.fixture
def interrupted(monkeypatch):
    """A make_server for run_standin_cli whose server is interrupted (Ctrl+C) as it starts serving; .made lists them."""

    def make_server(host: str, port: int) -> XmlRpcStandIn:
        server = XmlRpcStandIn(_functions(), host, port)
        monkeypatch.setattr(server, "serve_forever", _interrupt)
        make_server.made.append(server)
        return server

    make_server.made = []
    return make_server


def test_the_cli_prints_its_banner_and_serves_until_interrupted(capsys, interrupted):
    """run_standin_cli reads --host, --port and --latency, prints one line and closes the socket on Ctrl+C."""
    run_standin_cli(interrupted, "A test stand-in.", 8901, "TEST/1.0 (stand-in)", ["--port", "0", "--latency", "1.5"],
                    hint="customers 100234")

    (server,) = interrupted.made
    assert f"TEST/1.0 (stand-in) listening on {server.url}; customers 100234; Ctrl+C stops it\n" == capsys.readouterr().out
    assert 1.5 == server.latency
    assert -1 == server.socket.fileno()  # closed


def test_the_cli_banner_without_a_hint(capsys, interrupted):
    """Without a hint the line is just the banner, the address and how to stop it."""
    run_standin_cli(interrupted, "A test stand-in.", 8901, "TEST/1.0 (stand-in)", ["--port", "0"])

    (server,) = interrupted.made
    assert f"TEST/1.0 (stand-in) listening on {server.url}; Ctrl+C stops it\n" == capsys.readouterr().out


def test_calls_from_many_threads_are_all_counted(standin):
    """One thread per connection, one lock on the counter: concurrent calls are counted exactly."""

    def call() -> None:
        with _proxy(standin) as proxy:
            for _ in range(10):
                proxy.system.status()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 80 == standin.calls["system.status"]


def _interrupt(*args, **kwargs) -> None:
    raise KeyboardInterrupt
