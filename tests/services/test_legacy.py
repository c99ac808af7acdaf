"""Wrapper services against real sockets: the XML-RPC billing stand-in, a host that hangs, a closed port.

Real timeouts are 0.2 s; backoff and breaker reset times run on a ManualClock,
so no test sleeps through them.
"""

from __future__ import annotations

import importlib.util
import random
import socket
import socketserver
import sys
import threading
import time
import xmlrpc.client
from datetime import date
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from caruso.clock import ManualClock, SystemClock
from caruso.errors import (
    CircuitOpenError,
    ConfigError,
    LegacySystemError,
    LegacyTimeout,
    LegacyUnavailable,
    ServiceDefinitionError,
    ServiceStateError,
)
from caruso.services.base import DEGRADED, DOWN, OK, Health, ServiceContext
from caruso.services.manager import ServiceManager
from caruso.services.legacy import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    LegacyService,
    LegacySettings,
    backoff_delay,
)

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
START = "2026-01-05 08:00:00 UTC"  # where ManualClock starts


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


legacy_billing = _load(QUICKSTART / "legacy_billing.py", "quickstart_legacy_billing")
billing_wrapper = _load(QUICKSTART / "plugins" / "billing_wrapper.py", "quickstart_billing_wrapper")
BillingService = billing_wrapper.BillingService
BillingSettings = billing_wrapper.BillingSettings
Invoice = billing_wrapper.Invoice


def wait_until(condition, seconds: float = 5.0) -> None:
    """Poll for something another thread does; a deadline, not an assertion on time."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a host that accepts and never answers ---------------------------------------------


class LineHost(socketserver.ThreadingTCPServer):
    """A line-protocol host on loopback: counts request lines, answers only when ``answering``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _LineHandler)
        self.requests = 0
        self.answering = False
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _LineHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for _ in self.rfile:
            with self.server.lock:
                self.server.requests += 1
            if self.server.answering:
                self.wfile.write(b"PONG\n")


@attrs.frozen(kw_only=True)
class LineSettings(LegacySettings):
    port: int


class LineService(LegacyService):
    """A wrapper with no socket timeout of its own: only the worker-pool timeout protects callers."""

    system = "line host"
    Settings = LineSettings

    def __init__(self):
        self.connected = 0
        self.disconnected = 0

    def connect(self) -> socket.socket:
        self.connected += 1
        return socket.create_connection(("127.0.0.1", self.settings.port), timeout=self.settings.timeout)

    def disconnect(self, client: socket.socket) -> None:
        self.disconnected += 1
        try:
            client.shutdown(socket.SHUT_RDWR)
        finally:
            client.close()

    def ping(self, idempotent: bool = True) -> str:
        return self.call("ping", _ping, idempotent=idempotent)


def _ping(sock: socket.socket) -> str:
    sock.settimeout(None)
    sock.sendall(b"PING\n")
    answer = sock.recv(64)
    if not answer:
        raise ConnectionResetError("the host closed the connection")
    return answer.decode().strip()


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def billing_host():
    server, thread = legacy_billing.serve(port=0)
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def line_host():
    server = LineHost()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def start(request, clock):
    """Register a service with a real ServiceManager (and the ManualClock as "clock") and start it."""

    def start(service, settings=None, name: str = "billing", with_clock: bool = True):
        manager = ServiceManager()
        if with_clock:
            manager.register("clock", clock)
        manager.register(name, service, settings=settings)
        manager.start_all()
        request.addfinalizer(manager.stop_all)
        return service

    return start


def fast(settings_class=LegacySettings, **overrides):
    """Settings for tests: 0.2 s timeouts, the rest as given."""
    return settings_class(**{"timeout": 0.2, **overrides})


# -- the billing wrapper against the XML-RPC stand-in --------------------------------


def test_wrapper_reads_invoices_and_balance_in_clean_python(start, billing_host):
    """Upper-case records, YYYYMMDD dates and string amounts come out as Invoice, date and Decimal."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url))

    expected = [
        Invoice("2025-005301", date(2025, 10, 1), date(2025, 10, 31), Decimal("412.35"), Decimal("212.35")),
        Invoice("2025-005977", date(2025, 11, 1), date(2025, 12, 1), Decimal("398.10"), Decimal("398.10")),
    ]
    assert expected == billing.invoices("100587")
    assert Decimal("610.45") == billing.balance("100587")
    assert Health(OK, "billing: answering") == billing.health()


def test_payment_is_booked_against_the_oldest_invoice(start, billing_host):
    """record_payment returns the host's payment number and the new balance, and the invoices show it."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url))

    payment = billing.record_payment("100587", Decimal("212.35"), "BANK-2025-11-0042")

    assert billing_wrapper.Payment("P00000101", Decimal("398.10")) == payment
    assert [True, False] == [invoice.paid for invoice in billing.invoices("100587")]


def test_unknown_customer_fault_becomes_a_clear_error(start, billing_host):
    """Fault 4001 is translated with its meaning and its text, raised from the Fault."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url))

    with pytest.raises(LegacySystemError) as caught:
        billing.invoices("199999")

    assert LegacySystemError is type(caught.value)
    assert (
        "legacy system 'billing', invoices.list: unknown customer: billing has no customer with that "
        "number; check the customer number (fault 4001: CUSTOMER NOT FOUND: 199999)"
    ) == str(caught.value)
    assert 4001 == caught.value.__cause__.faultCode


def test_a_fault_the_wrapper_does_not_know_keeps_its_text(start, billing_host):
    """The standard translation turns any xmlrpc Fault into a LegacySystemError with code and text."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url))

    with pytest.raises(LegacySystemError) as caught:
        billing.call("ledger.close", lambda proxy: proxy.ledger.close())

    assert isinstance(caught.value.__cause__, xmlrpc.client.Fault)
    assert 'method "ledger.close" is not supported' in str(caught.value)


def test_faults_are_answers_and_do_not_open_the_breaker(start, billing_host):
    """A host that answers with a fault is up: the breaker stays closed however many faults come."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url, failure_threshold=1))

    for _ in range(3):
        with pytest.raises(LegacySystemError):
            billing.balance("199999")

    assert CLOSED == billing.breaker.state


def test_reads_are_retried_but_payments_never(start, billing_host, clock):
    """On a slow host the idempotent read reaches it three times, the payment only once."""
    billing = start(BillingService(), fast(BillingSettings, url=billing_host.url, retries=2, failure_threshold=10))
    billing_host.latency = 0.5

    with pytest.raises(LegacyTimeout) as read:
        billing.invoices("100234")
    with pytest.raises(LegacyTimeout) as payment:
        billing.record_payment("100234", "126.70", "BANK-2025-12-0007")

    wait_until(lambda: billing_host.calls["invoices.list"] >= 3 and billing_host.calls["account.record_payment"] >= 1)
    assert 3 == billing_host.calls["invoices.list"]
    assert 1 == billing_host.calls["account.record_payment"]
    assert ["invoices.list was tried 3 times"] == read.value.__notes__
    assert "the call may still complete on billing: check there before repeating it" in str(payment.value)
    assert 0.1 + 0.2 <= clock.monotonic() <= 0.2 + 0.4  # two backoffs, jittered, on the ManualClock


def test_system_down_at_start_starts_anyway_and_reconnects_lazily(start, billing_host):
    """A closed port: start succeeds, health is down, calls raise LegacyUnavailable; once it is up, calls work."""
    port = closed_port()
    billing = start(BillingService(), fast(BillingSettings, url=f"http://127.0.0.1:{port}", retries=0))

    assert DOWN == billing.health().status
    assert "not reached since the service started" in billing.health().detail
    with pytest.raises(LegacyUnavailable) as caught:
        billing.balance("100234")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert "connection refused" in str(caught.value)

    server, thread = legacy_billing.serve(port=port)
    try:
        assert Decimal("126.70") == billing.balance("100234")
        assert DEGRADED == billing.health().status  # answering, with failures in the last reset_after
        assert billing.health().detail.startswith(f"billing: answering again since a failure at {START}")
    finally:
        server.shutdown()
        server.server_close()


# -- a host that hangs ----------------------------------------------------------------


def test_hanging_host_times_out_opens_the_breaker_and_recovers(start, line_host, clock):
    """Timeouts open the breaker, calls then fail fast, and after reset_after one trial call closes it."""
    service = start(LineService(), fast(LineSettings, port=line_host.port, retries=0, failure_threshold=3))

    for _ in range(3):
        with pytest.raises(LegacyTimeout) as caught:
            service.ping()
    assert "legacy system 'line host', ping: no answer within 0.2 s" == str(caught.value)
    wait_until(lambda: line_host.requests >= 3)

    with pytest.raises(CircuitOpenError):
        service.ping()
    assert 3 == line_host.requests  # failing fast: the host was not asked
    assert OPEN == service.breaker.state
    expected = Health(
        DOWN,
        f"line host: circuit open since {START} after 3 consecutive failures (last: legacy system "
        "'line host', ping: no answer within 0.2 s); next trial call at 2026-01-05 08:00:30 UTC",
    )
    assert expected == service.health()

    clock.advance(30)
    assert DEGRADED == service.health().status
    line_host.answering = True
    assert "PONG" == service.ping()
    assert CLOSED == service.breaker.state
    assert Health(OK, "line host: answering") == service.health()


def test_idempotent_calls_are_retried_others_are_not(start, line_host):
    """Counted at the host: an idempotent call is sent 1 + retries times, any other call once."""
    service = start(LineService(), fast(LineSettings, port=line_host.port, retries=2, failure_threshold=10))

    with pytest.raises(LegacyTimeout):
        service.ping(idempotent=True)
    wait_until(lambda: line_host.requests >= 3)
    assert 3 == line_host.requests

    with pytest.raises(LegacyTimeout):
        service.ping(idempotent=False)
    wait_until(lambda: line_host.requests >= 4)
    assert 4 == line_host.requests


def test_a_closed_port_is_unavailable_and_counts_for_the_breaker(start):
    """Connection refused is LegacyUnavailable; enough of them open the breaker."""
    service = start(LineService(), fast(LineSettings, port=closed_port(), retries=0, failure_threshold=2))

    with pytest.raises(LegacyUnavailable) as caught:
        service.ping()

    assert LegacyUnavailable is type(caught.value)
    assert OPEN == service.breaker.state  # the failed connect at start, then this call
    with pytest.raises(CircuitOpenError):
        service.ping()


def test_stop_disconnects_and_later_calls_are_refused(start, line_host):
    """stop() closes every client the workers opened; a call after it is a ServiceStateError."""
    service = start(LineService(), fast(LineSettings, port=line_host.port))
    line_host.answering = True
    assert "PONG" == service.ping()

    service.stop()

    assert (service.connected, service.connected) == (service.disconnected, 2)  # at start, and for the ping
    assert Health(DOWN, "line host: not running") == service.health()
    with pytest.raises(ServiceStateError):
        service.ping()


# -- the parts on their own -------------------------------------------------------------


def test_breaker_opens_after_threshold_and_lets_one_trial_through(clock):
    """closed -> open after N failures -> half-open after reset_after: one trial; a failed trial reopens it."""
    breaker = CircuitBreaker("erp", failure_threshold=2, reset_after=30, clock=clock)

    breaker.record_failure("timed out")
    assert CLOSED == breaker.state
    breaker.record_failure("timed out")
    assert OPEN == breaker.state
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call("orders.create")
    assert (
        f"legacy system 'erp', orders.create: circuit open since {START} after 2 consecutive failures "
        "(last: timed out); calls fail fast until the trial call at 2026-01-05 08:00:30 UTC"
    ) == str(caught.value)

    clock.advance(30)
    assert HALF_OPEN == breaker.state
    breaker.before_call("orders.create")  # the trial
    with pytest.raises(CircuitOpenError):
        breaker.before_call("orders.create")  # one trial at a time
    breaker.record_failure("refused")
    assert OPEN == breaker.state
    assert "2026-01-05 08:01:00 UTC" == breaker.status().next_trial_at.strftime("%Y-%m-%d %H:%M:%S UTC")

    clock.advance(30)
    breaker.before_call("orders.create")
    breaker.record_success()
    assert (CLOSED, 0) == (breaker.state, breaker.status().consecutive_failures)


def test_breaker_release_frees_the_trial_without_a_verdict(clock):
    """A trial that ended in our own bug leaves the breaker half-open for the next caller."""
    breaker = CircuitBreaker("erp", failure_threshold=1, reset_after=5, clock=clock)
    breaker.record_failure("refused")
    clock.advance(5)

    trial = breaker.before_call("a")
    breaker.release(trial)
    breaker.before_call("b")

    assert (True, HALF_OPEN) == (trial, breaker.state)


def test_only_the_trial_call_frees_the_trial_slot(clock):
    """A call admitted while closed, ending without a verdict after the breaker went half-open,
    does not let a second trial through."""
    breaker = CircuitBreaker("erp", failure_threshold=1, reset_after=5, clock=clock)
    earlier = breaker.before_call("slow")  # admitted while closed
    breaker.record_failure("refused")  # another call failed: open
    clock.advance(5)
    trial = breaker.before_call("trial")
    breaker.release(earlier)  # the slow call ends without a verdict
    with pytest.raises(CircuitOpenError):
        breaker.before_call("second trial")
    assert (False, True) == (earlier, trial)


def test_breaker_admits_exactly_one_trial_among_concurrent_callers(clock):
    """Twenty threads race for the half-open breaker; one gets through."""
    breaker = CircuitBreaker("erp", failure_threshold=1, reset_after=1, clock=clock)
    breaker.record_failure("refused")
    clock.advance(1)
    admitted = []
    barrier = threading.Barrier(20)

    def caller():
        barrier.wait()
        try:
            breaker.before_call("x")
        except CircuitOpenError:
            return
        admitted.append(threading.get_ident())

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 1 == len(admitted)


class _Ceiling(random.Random):
    def uniform(self, low, high):
        return high


def test_backoff_doubles_up_to_the_cap_and_jitters_below_it():
    """Ceilings 0.2, 0.4, 0.8 ... capped at 5; the jitter draws from the upper half."""
    assert [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0] == [backoff_delay(n, 0.2, 5.0, _Ceiling()) for n in range(1, 8)]
    delays = [backoff_delay(3, 0.2, 5.0, random.Random(seed)) for seed in range(50)]
    assert all(0.4 <= delay <= 0.8 for delay in delays)


def test_settings_default_when_none_and_are_checked_from_a_table(start, billing_host):
    """None gives the defaults; a dict is built into the Settings class; a bad value is a ConfigError."""
    billing = BillingService()
    billing.start(ServiceContext(name="billing", settings=None, manager=ServiceManager()))
    billing.stop()
    assert BillingSettings() == billing.settings
    assert (5.0, 2, 0.2, 5.0, 5, 30.0) == attrs.astuple(LegacySettings())[:6]

    built = start(BillingService(), {"url": billing_host.url, "timeout": "0.2"})
    assert BillingSettings(url=billing_host.url, timeout=0.2) == built.settings

    with pytest.raises(ConfigError) as caught:
        BillingService().start(ServiceContext(name="billing", settings={"timeout": -1}, manager=ServiceManager()))
    assert str(caught.value).startswith("[services.billing.settings]: 'timeout' must be > 0")


def test_settings_class_must_extend_legacy_settings():
    """A wrapper whose Settings is not a LegacySettings subclass fails where it is defined."""
    with pytest.raises(ServiceDefinitionError):

        class Broken(LegacyService):
            Settings = dict


def test_clock_comes_from_the_manager_when_registered(start, billing_host, clock):
    """The service named "clock" drives breaker and backoff; without one, the system clock."""
    settings = fast(BillingSettings, url=billing_host.url)

    assert clock is start(BillingService(), settings).clock
    assert isinstance(start(BillingService(), settings, with_clock=False).clock, SystemClock)


class _SlowToConnect(LegacyService):
    """A host that answers the connect only when told to, to stop the service meanwhile."""

    system = "slowhost"

    def __init__(self):
        self.gate = threading.Event()
        self.connected = []
        self.disconnected = []
        self.let_go = threading.Event()

    def connect(self):
        self.gate.wait(5)
        client = object()
        self.connected.append(client)
        return client

    def disconnect(self, client):
        self.disconnected.append(client)
        self.let_go.set()


def test_a_connection_opened_after_stop_is_closed_at_once(tmp_path):
    """stop() while a worker is still inside connect(): the late connection is disconnected."""
    manager = ServiceManager(root=tmp_path)
    manager.register("clock", ManualClock())
    service = _SlowToConnect()
    manager.register("slow", service, settings={"timeout": 0.2, "workers": 1})
    manager.start_all()  # the connect at start times out; the service starts anyway
    manager.stop_all()  # while the worker still waits in connect()
    service.gate.set()  # the host answers now
    assert service.let_go.wait(5)
    assert (1, service.connected) == (len(service.connected), service.disconnected)
