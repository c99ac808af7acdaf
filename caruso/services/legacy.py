"""What every wrapper around a legacy system needs, so that no wrapper writes it again.

A billing host, an ERP, a core-banking system or a mainframe export fails in
ways a CRM must survive: it hangs, it is down for the nightly batch, it answers
with a numeric fault. ``LegacyService`` gives every wrapper the same answers,
so that a wrapper is only the translation between clean Python and the legacy
protocol:

- every call runs on a small pool of worker threads and the caller waits at
  most ``timeout`` seconds (``LegacyTimeout``): a hanging host never freezes an
  agent's screen, and never stops the CRM from shutting down;
- idempotent calls are retried, with exponential backoff and jitter, after a
  timeout or a connection error; other calls never are, because paying an
  invoice twice is worse than reporting a failure;
- a ``CircuitBreaker`` stops calling a host that keeps failing and fails fast
  (``CircuitOpenError``) until one trial call shows it is back;
- foreign exceptions become ``caruso.errors.LegacySystemError`` subclasses,
  raised ``from`` the original so the cause stays in the traceback;
- ``health()`` says ok, degraded or down and why; ``caruso services`` shows it.

Breaker and backoff read an injected ``caruso.clock.Clock`` (the service named
``"clock"`` when the manager has one), so a test goes through a 30-second reset
time without waiting for it. The per-call timeout is real time: it guards
against a real host.
"""

from __future__ import annotations

import functools
import http.client
import logging
import queue
import random
import threading
import xmlrpc.client
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future, wait
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from xml.parsers.expat import ExpatError

import attrs

from caruso.clock import Clock, SystemClock
from caruso.errors import (
    CircuitOpenError,
    ConfigError,
    LegacySystemError,
    LegacyTimeout,
    LegacyUnavailable,
    ServiceDefinitionError,
    ServiceStateError,
)
from caruso.services.base import DEGRADED, DOWN, OK, Health, Service, ServiceContext

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "BreakerStatus",
    "CircuitBreaker",
    "LegacyService",
    "LegacySettings",
    "backoff_delay",
    "translate_foreign_error",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


@attrs.frozen(kw_only=True)
class LegacySettings:
    """How a wrapper treats its legacy system; subclass it to add the system's own settings.

    A wrapper adds what it needs to reach its system (``url``, ``host``,
    ``user``) in an attrs subclass and points its service's ``Settings`` at it,
    so the ``[services.NAME.settings]`` table is checked when the application
    loads, not at the first call.

    Args:
        timeout: seconds a caller waits for one attempt before ``LegacyTimeout``.
        retries: extra attempts for idempotent calls after a timeout or a
            connection error; other calls are never repeated.
        backoff: seconds before the first retry; each further retry doubles it.
        backoff_max: the longest single wait between retries.
        failure_threshold: consecutive failures that open the circuit breaker.
        reset_after: seconds the breaker stays open before it lets one trial call through.
        workers: threads that run the calls; a call hanging on the system holds one
            until the system answers or its socket times out.
    """

    timeout: float = attrs.field(default=5.0, converter=float, validator=attrs.validators.gt(0))
    retries: int = attrs.field(default=2, converter=int, validator=attrs.validators.ge(0))
    backoff: float = attrs.field(default=0.2, converter=float, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=5.0, converter=float, validator=attrs.validators.ge(0))
    failure_threshold: int = attrs.field(default=5, converter=int, validator=attrs.validators.ge(1))
    reset_after: float = attrs.field(default=30.0, converter=float, validator=attrs.validators.ge(0))
    workers: int = attrs.field(default=4, converter=int, validator=attrs.validators.ge(1))


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, ...).

    The ceiling doubles from ``base`` up to ``cap``; the wait is drawn between
    half the ceiling and all of it, so that callers who failed together (every
    agent when the host went down) do not all come back in the same instant.
    """
    ceiling = min(cap, base * 2.0 ** min(retry - 1, 64))
    return rng.uniform(ceiling / 2, ceiling)


@attrs.frozen
class BreakerStatus:
    """A consistent snapshot of a circuit breaker, for health() and for people.

    Times are wall-clock (UTC) from the breaker's clock; ``next_trial_at`` is
    set while the breaker is open or half-open.
    """

    state: str
    consecutive_failures: int
    last_failure: str = ""
    last_failure_at: datetime | None = None
    seconds_since_failure: float | None = None
    opened_at: datetime | None = None
    next_trial_at: datetime | None = None


class CircuitBreaker:
    """Stops calls to a system that keeps failing, then lets one trial call find out whether it is back.

    ``closed`` -> ``failure_threshold`` consecutive failures -> ``open``: every
    call fails fast with ``CircuitOpenError`` -> after ``reset_after`` seconds,
    ``half-open``: one trial call is let through; its success closes the
    breaker, its failure opens it for another ``reset_after``.

    The caller says how a call ended, because only the caller knows what a
    failure is: ``record_failure`` for the system not answering,
    ``record_success`` for any answer (an application fault proves the system
    is up), ``release`` when the call ended without saying anything about the
    system (a bug on our side). Thread-safe; use one per system, or one per
    endpoint when a system has endpoints that fail independently.

    Args:
        name: the system (or ``system/endpoint``), used in errors and logs.
        failure_threshold: consecutive failures that open the breaker.
        reset_after: seconds the breaker stays open before a trial call.
        clock: where time comes from; ``SystemClock`` by default.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Clock | None = None,
    ):
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if reset_after < 0:
            raise ValueError(f"reset_after must not be negative, got {reset_after}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._trial_in_flight = False
        self._opened_at: float | None = None
        self._opened_at_wall: datetime | None = None
        self._last_failure = ""
        self._last_failure_at: float | None = None
        self._last_failure_at_wall: datetime | None = None

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (open, with the reset time passed)."""
        with self._lock:
            return self._current_state()

    def before_call(self, operation: str) -> bool:
        """Admit a call, or raise ``CircuitOpenError`` naming the system, the operation and the trial time.

        Returns True when the call is the half-open breaker's one trial call. An
        admitted call must end in ``record_success``, ``record_failure`` or
        ``release(trial)``, passing back what this returned.
        """
        with self._lock:
            state = self._current_state()
            if state == CLOSED:
                return False
            if state == HALF_OPEN and not self._trial_in_flight:
                self._state = HALF_OPEN
                self._trial_in_flight = True
                return True
            raise CircuitOpenError(self.name, operation, self._refusal(state))

    def record_success(self) -> None:
        """The system answered: close the breaker and forget the failures."""
        with self._lock:
            if self._state != CLOSED:
                log.info("circuit for %s closed: the system answered again", self.name)
            self._state = CLOSED
            self._failures = 0
            self._trial_in_flight = False
            self._opened_at = self._opened_at_wall = None

    def record_failure(self, reason: BaseException | str) -> None:
        """The system did not answer (timeout, connection error): count it, maybe open the breaker."""
        with self._lock:
            now = self.clock.monotonic()
            self._failures += 1
            self._last_failure = str(reason)
            self._last_failure_at = now
            self._last_failure_at_wall = self.clock.now()
            trial_failed = self._state == HALF_OPEN
            if trial_failed or (self._state == CLOSED and self._failures >= self.failure_threshold):
                self._state = OPEN
                self._trial_in_flight = False
                self._opened_at = now
                self._opened_at_wall = self._last_failure_at_wall
                log.warning(
                    "circuit for %s opened after %d consecutive failures (last: %s); "
                    "next trial call in %g s",
                    self.name,
                    self._failures,
                    self._last_failure,
                    self.reset_after,
                )

    def release(self, trial: bool) -> None:
        """The call ended without a verdict on the system; if it was the trial, admit a new one.

        Only the trial call frees the trial slot: a call admitted earlier, while
        the breaker was closed, must not let a second trial through.
        """
        with self._lock:
            if trial and self._state == HALF_OPEN:
                self._trial_in_flight = False

    def status(self) -> BreakerStatus:
        """A snapshot of the state, the failures and the times, taken under the lock."""
        with self._lock:
            state = self._current_state()
            since = None
            if self._last_failure_at is not None:
                since = self.clock.monotonic() - self._last_failure_at
            return BreakerStatus(
                state=state,
                consecutive_failures=self._failures,
                last_failure=self._last_failure,
                last_failure_at=self._last_failure_at_wall,
                seconds_since_failure=since,
                opened_at=self._opened_at_wall,
                next_trial_at=self._next_trial_at(),
            )

    def _current_state(self) -> str:
        if self._state == OPEN and self.clock.monotonic() - self._opened_at >= self.reset_after:
            return HALF_OPEN
        return self._state

    def _next_trial_at(self) -> datetime | None:
        if self._opened_at_wall is None:
            return None
        return self._opened_at_wall + timedelta(seconds=self.reset_after)

    def _refusal(self, state: str) -> str:
        if state == HALF_OPEN:
            return (
                "a trial call is checking whether the system is back; "
                "calls fail fast until it answers, try again in a moment"
            )
        return (
            f"circuit open since {_when(self._opened_at_wall)} after {self._failures} "
            f"consecutive failures (last: {self._last_failure}); calls fail fast until the "
            f"trial call at {_when(self._next_trial_at())}"
        )


def translate_foreign_error(system: str, operation: str, exc: BaseException) -> LegacySystemError | None:
    """The ``LegacySystemError`` for a failure of the standard library's network clients, or None.

    Covers sockets, ``http.client`` and ``xmlrpc.client``; a wrapper maps its
    own client library's exceptions in ``LegacyService.translate_error``.
    Anything else (a bug in the wrapper) is left alone, so it is not mistaken
    for the system failing.
    """
    if isinstance(exc, xmlrpc.client.Fault):
        return LegacySystemError(system, operation, f"fault {exc.faultCode}: {exc.faultString}")
    if isinstance(exc, xmlrpc.client.ProtocolError):
        kind = LegacyUnavailable if exc.errcode in (502, 503, 504) else LegacySystemError
        return kind(system, operation, f"HTTP {exc.errcode} {exc.errmsg} from {exc.url}")
    if isinstance(exc, (xmlrpc.client.ResponseError, ExpatError)):
        return LegacySystemError(system, operation, f"answered something that is not XML-RPC: {exc}")
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return LegacyTimeout(system, operation, f"the connection timed out ({exc or 'timed out'})")
    if isinstance(exc, ConnectionRefusedError):
        return LegacyUnavailable(
            system,
            operation,
            f"connection refused ({exc}); is {system} running and listening "
            "at the address in the service settings?",
        )
    if isinstance(exc, (http.client.BadStatusLine, http.client.IncompleteRead)):
        return LegacyUnavailable(system, operation, f"the connection broke off: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):  # reset, broken pipe, unknown host, unreachable network
        return LegacyUnavailable(system, operation, f"cannot reach it: {type(exc).__name__}: {exc}")
    return None


class _WorkerPool:
    """Daemon threads that run calls into a legacy system.

    Not ``concurrent.futures.ThreadPoolExecutor``: its threads are joined when
    the interpreter exits, so one call stuck on a dead host would keep the whole
    CRM from shutting down. Callers wait on the returned ``Future`` with a
    timeout; a task still queued when its caller gave up is cancelled and never
    runs, so a request never reaches the system after its caller saw a failure.
    """

    def __init__(self, size: int, name: str):
        self.size = size
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-worker-{n}", daemon=True)
            for n in range(1, size + 1)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def submit(self, task: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._tasks.put((future, task))
        return future

    def shutdown(self) -> None:
        """Cancel queued tasks and let idle workers end; workers stuck in a call end when it does."""
        with self._lock:
            self._closed = True
        while True:
            try:
                future, _ = self._tasks.get_nowait()
            except queue.Empty:
                break
            future.cancel()
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        while (item := self._tasks.get()) is not None:
            future, task = item
            if not future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                result = task()
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                with self._lock:
                    self._busy -= 1


class _Connections:
    """The clients one start of a wrapper opened, so that its stop closes every one of them.

    A worker still inside ``connect()`` when the service stops finds the set
    closed when it returns, and disconnects its new client instead of keeping it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[int, Any] = {}
        self._closed = False

    def add(self, client: Any) -> bool:
        """Keep ``client``; False when the set was closed (the caller must disconnect it)."""
        with self._lock:
            if self._closed:
                return False
            self._clients[id(client)] = client
            return True

    def discard(self, client: Any) -> None:
        with self._lock:
            self._clients.pop(id(client), None)

    def close(self) -> list[Any]:
        """Refuse new clients and hand over the open ones, to be disconnected."""
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
            return clients


class LegacyService(Service):
    """Base class for wrapper services around a legacy system.

    A subclass sets ``system`` (a display name such as ``"billing"``),
    implements ``connect()`` and, if it needs them, ``disconnect(client)`` and
    ``translate_error(exc, operation)``; its public methods go through
    ``self.call(...)``. Everything else is here: the first connection at start
    (a system that is down then does not stop the CRM from starting, the
    wrapper reports down and reconnects on the next call), timeouts, retries,
    the circuit breaker, error translation and health.

    Each worker thread holds its own client, made by ``connect()`` on first
    use, because few legacy clients are thread-safe. A client whose call timed
    out or lost its connection is disconnected and replaced, so a late answer
    is never read as the answer to the next question.
    """

    system: ClassVar[str] = "legacy system"
    Settings: ClassVar[type] = LegacySettings

    clock: Clock
    breaker: CircuitBreaker
    _pool: _WorkerPool | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        settings = cls.__dict__.get("Settings")
        if settings is not None and not (
            isinstance(settings, type) and issubclass(settings, LegacySettings) and attrs.has(settings)
        ):
            raise ServiceDefinitionError(
                f"{cls.__qualname__}.Settings must be an attrs class that subclasses "
                f"caruso.services.legacy.LegacySettings, got {settings!r}"
            )

    # -- what a wrapper implements -------------------------------------------------

    def connect(self) -> Any:
        """Open a client to the system and return it; raise if the system cannot be reached.

        Runs on a worker thread, under the call timeout. Set the client's own
        socket timeout from ``self.settings.timeout`` where it has one, so a
        worker does not stay stuck after its caller gave up.
        """
        raise NotImplementedError(
            f"{type(self).__qualname__} must implement connect() returning a client for {self.system}"
        )

    def disconnect(self, client: Any) -> None:
        """Close a client made by ``connect()``; errors are logged, never raised."""

    def translate_error(self, exc: Exception, operation: str) -> LegacySystemError | None:
        """Map an exception of the system's client library to a ``LegacySystemError``, or return None.

        Consulted before the standard translation (sockets, HTTP, XML-RPC), so
        a wrapper can give a fault code its meaning for the people reading it.
        Return ``LegacyUnavailable`` or ``LegacyTimeout`` for failures that mean
        the system did not answer: those count for the breaker and are retried.
        """
        return None

    # -- lifecycle -----------------------------------------------------------------

    def start(self, context: ServiceContext) -> None:
        if self._pool is not None:  # started again without a stop: let go of the old workers first
            self._close()
        context = attrs.evolve(context, settings=self._settings_from(context.settings, context.name))
        self.context = context
        self.clock = _clock_from(context.manager)
        self._rng = random.Random()
        self._local = threading.local()
        self._connections = _Connections()
        self._answered = False
        self.breakers: dict[str, CircuitBreaker] = {}
        self.breaker = self.endpoint_breaker("")
        self._pool = _WorkerPool(context.settings.workers, name=context.name)
        super().start(context)

    def on_start(self) -> None:
        """Connect once, so that ``caruso services`` shows at once whether the system is there."""
        try:
            self._attempt("connect", self._connect_in_worker, timeout=self.settings.timeout, breaker=self.breaker)
        except LegacySystemError as error:
            log.warning("%s; service %r starts anyway and reconnects on the next call", error, self._name)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._close()

    def endpoint_breaker(self, endpoint: str) -> CircuitBreaker:
        """The breaker for one endpoint of the system, made on first use with the service's settings.

        Pass it as ``call(..., breaker=...)`` when one endpoint can fail while the
        others work; health() reports every endpoint's breaker.
        """
        breaker = self.breakers.get(endpoint)
        if breaker is None:
            settings = self.settings
            made = CircuitBreaker(
                f"{self.system}/{endpoint}" if endpoint else self.system,
                failure_threshold=settings.failure_threshold,
                reset_after=settings.reset_after,
                clock=self.clock,
            )
            breaker = self.breakers.setdefault(endpoint, made)  # atomic: racing callers share one
        return breaker

    # -- calling the system --------------------------------------------------------

    def call(
        self,
        operation: str,
        fn: Callable[..., T],
        /,
        *args: Any,
        idempotent: bool = False,
        timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
        **kwargs: Any,
    ) -> T:
        """Run ``fn(client, *args, **kwargs)`` against the system, safely.

        Args:
            operation: what the call does, for errors and logs (``"invoices.list"``).
            fn: the call itself; it receives this worker's client first.
            idempotent: True when repeating the call cannot do harm (a read, a
                write with a key the system deduplicates); only then is it
                retried after a timeout or connection error.
            timeout: seconds to wait for each attempt; the setting by default.
            breaker: a breaker from ``endpoint_breaker()``; the system's by default.

        Raises:
            LegacyTimeout: no answer within the timeout.
            LegacyUnavailable: the system cannot be reached.
            CircuitOpenError: the breaker is open; the call was not attempted.
            LegacySystemError: the system answered with a fault.
            ServiceStateError: the service is not running.
        """
        if self._pool is None:
            raise ServiceStateError(
                f"service {self._name!r} ({self.system}) is not running; start it (or the "
                f"application) before calling {operation}"
            )
        settings = self.settings
        timeout = settings.timeout if timeout is None else timeout
        breaker = breaker or self.breaker
        attempts = 1 + (settings.retries if idempotent else 0)
        task = functools.partial(self._call_in_worker, operation, fn, args, kwargs)
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(operation, task, timeout=timeout, breaker=breaker, idempotent=idempotent)
            except CircuitOpenError:
                raise
            except (LegacyTimeout, LegacyUnavailable) as error:
                if attempt == attempts:
                    if attempts > 1:
                        error.add_note(f"{operation} was tried {attempts} times")
                    raise
                delay = backoff_delay(attempt, settings.backoff, settings.backoff_max, self._rng)
                log.info("%s; retry %d of %d in %.2f s", error, attempt, attempts - 1, delay)
                self.clock.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(
        self,
        operation: str,
        task: Callable[[], T],
        *,
        timeout: float,
        breaker: CircuitBreaker,
        idempotent: bool = True,
    ) -> T:
        """One attempt: ask the breaker, run on a worker, wait at most ``timeout``, tell the breaker."""
        pool = self._pool
        trial = breaker.before_call(operation)
        try:
            if pool is None:
                raise RuntimeError("stopped")
            future = pool.submit(task)
        except RuntimeError:  # stop() ran since call() checked
            breaker.release(trial)
            raise ServiceStateError(f"service {self._name!r} stopped before {operation} could run") from None
        done, _ = wait([future], timeout=timeout)
        if not done:
            never_started = future.cancel()  # still queued: it must not reach the system late
            message = self._timeout_message(timeout, never_started, pool.size, idempotent)
            error = LegacyTimeout(self.system, operation, message)
            breaker.record_failure(error)
            raise error
        try:
            result = future.result()
        except CircuitOpenError:
            breaker.release(trial)
            raise
        except (LegacyTimeout, LegacyUnavailable) as error:
            breaker.record_failure(error)
            raise
        except LegacySystemError:
            self._answered = True
            breaker.record_success()  # a fault is an answer: the system is up
            raise
        except CancelledError:
            breaker.release(trial)
            raise ServiceStateError(f"service {self._name!r} stopped while {operation} waited to run") from None
        except BaseException:
            breaker.release(trial)
            raise
        self._answered = True
        breaker.record_success()
        return result

    def _timeout_message(self, timeout: float, never_started: bool, workers: int, idempotent: bool) -> str:
        if never_started:
            return (
                f"not started within {timeout:g} s: all {workers} workers are still "
                f"waiting on earlier calls to {self.system}; raise 'workers' in the service "
                "settings or find out why the system does not answer"
            )
        if idempotent:
            return f"no answer within {timeout:g} s"
        return (
            f"no answer within {timeout:g} s; the call may still complete on {self.system}: "
            "check there before repeating it"
        )

    def _call_in_worker(self, operation: str, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        """Runs on a worker thread: the client of this thread, the call, the translation."""
        try:
            return fn(self._client(), *args, **kwargs)
        except LegacySystemError as error:
            self._drop_client_after(error)
            raise
        except Exception as exc:
            error = self._translate(operation, exc)
            if error is None:
                raise
            self._drop_client_after(error)
            raise error from exc

    def _connect_in_worker(self) -> None:
        self._call_in_worker("connect", lambda client: None, (), {})

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            connections = self._connections  # this start's; a stop closes exactly these
            client = self.connect()
            if not connections.add(client):  # stop() ran while we were connecting
                self._disconnect_quietly(client)
                raise ServiceStateError(f"service {self._name!r} stopped while connecting")
            self._local.client = client
        return client

    def _drop_client_after(self, error: LegacySystemError) -> None:
        """A client that timed out or lost its connection may hold a late answer: never reuse it."""
        if not isinstance(error, (LegacyTimeout, LegacyUnavailable)):
            return
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            self._connections.discard(client)
            self._disconnect_quietly(client)

    def _translate(self, operation: str, exc: Exception) -> LegacySystemError | None:
        error = self.translate_error(exc, operation)
        if error is None:
            return translate_foreign_error(self.system, operation, exc)
        if not isinstance(error, LegacySystemError):
            raise TypeError(
                f"{type(self).__qualname__}.translate_error must return a "
                f"caruso.errors.LegacySystemError or None, not {type(error).__name__}"
            )
        return error

    def _disconnect_quietly(self, client: Any) -> None:
        try:
            self.disconnect(client)
        except Exception:
            log.warning("disconnecting from %s failed; ignored", self.system, exc_info=True)

    def _close(self) -> None:
        """Stop the workers and close every client, without waiting longer than one timeout."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown()
        clients = self._connections.close()
        if not clients:
            return
        closer = threading.Thread(
            target=lambda: [self._disconnect_quietly(client) for client in clients],
            name=f"{self._name}-disconnect",
            daemon=True,
        )
        closer.start()
        closer.join(self.settings.timeout)
        if closer.is_alive():
            log.warning("%s did not let go of its connections within %g s", self.system, self.settings.timeout)

    # -- health --------------------------------------------------------------------

    def health(self) -> Health:
        """ok, degraded (half-open, recent failures, all workers stuck) or down (breaker open, never reached)."""
        pool = self._pool
        if pool is None:
            return Health(DOWN, f"{self.system}: not running")
        verdicts = [self._breaker_health(breaker.name, breaker.status()) for breaker in self.breakers.values()]
        if pool.busy >= pool.size:
            verdicts.append(
                Health(DEGRADED, f"{self.system}: all {pool.size} workers are waiting on calls that have not returned")
            )
        worst = max(verdicts, key=lambda health: _SEVERITY[health.status])
        if worst.status == OK:
            return worst
        return Health(worst.status, "; ".join(h.detail for h in verdicts if h.status != OK))

    def _breaker_health(self, name: str, status: BreakerStatus) -> Health:
        if status.state == OPEN:
            return Health(
                DOWN,
                f"{name}: circuit open since {_when(status.opened_at)} after "
                f"{status.consecutive_failures} consecutive failures (last: {status.last_failure}); "
                f"next trial call at {_when(status.next_trial_at)}",
            )
        if status.state == HALF_OPEN:
            return Health(
                DEGRADED,
                f"{name}: circuit half-open since {_when(status.next_trial_at)}, the next call is "
                f"a trial (last failure: {status.last_failure})",
            )
        if status.consecutive_failures and not self._answered:
            return Health(
                DOWN,
                f"{name}: not reached since the service started (last: {status.last_failure}); "
                "it reconnects on the next call",
            )
        recent = status.seconds_since_failure is not None and status.seconds_since_failure < self.settings.reset_after
        if recent and status.consecutive_failures:
            return Health(
                DEGRADED,
                f"{name}: {status.consecutive_failures} consecutive failure(s), the last at "
                f"{_when(status.last_failure_at)}: {status.last_failure}",
            )
        if recent:
            return Health(
                DEGRADED,
                f"{name}: answering again since a failure at {_when(status.last_failure_at)}: "
                f"{status.last_failure}",
            )
        return Health(OK, f"{name}: answering" if self._answered else f"{name}: not called yet")

    # -- helpers -------------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self.context.name if self.context is not None else self.system

    def _settings_from(self, given: Any, name: str) -> LegacySettings:
        settings_class = type(self).Settings
        if given is None:
            return settings_class()
        if isinstance(given, settings_class):
            return given
        if isinstance(given, Mapping):
            try:
                return settings_class(**given)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"[services.{name}.settings]: {exc}") from exc
        raise TypeError(
            f"service {name!r} expects settings of type {settings_class.__qualname__} "
            f"(or a table of them), got {type(given).__qualname__}"
        )


_SEVERITY = {OK: 0, DEGRADED: 1, DOWN: 2}


def _clock_from(manager: Any) -> Clock:
    """The service named "clock" when the manager has one, so simulations and tests can steer time."""
    if manager is None or "clock" not in manager:
        return SystemClock()
    clock = manager.resolve("clock")
    if not isinstance(clock, Clock):
        raise ServiceDefinitionError(
            f"the service named 'clock' is a {type(clock).__qualname__}, which lacks "
            "monotonic(), now() and sleep(); register a caruso.clock.Clock under that name"
        )
    return clock


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
