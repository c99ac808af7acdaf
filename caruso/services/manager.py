"""The service manager: registry, lookup, lifecycle and runtime replacement.

Modelled on the OSGi service registry. Every component registers under a name
with the interfaces it provides, the services it requires, a ranking and free
properties; callers look services up by name, by interface (the highest ranking
active provider wins) or by a property filter, and can watch the registry
through listeners, as with OSGi's ServiceTracker.

Callers hold a :class:`ServiceHandle`, never the implementation: a handle
resolves to the current implementation at every call, so a service can be
replaced while the system runs. A replacement starts the new implementation,
switches new calls to it, waits for the calls still running on the old one, and
only then stops the old one.

Threading: one re-entrant lock guards the registry and is held while services
start and stop, so lifecycle changes happen one at a time. It is never held
while waiting for calls in flight to finish, and calls through handles take no
lock at all. Listeners run synchronously in the thread that made the change.
"""

from __future__ import annotations

import graphlib
import inspect
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from caruso.errors import (
    DependencyError,
    ServiceDefinitionError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStateError,
    did_you_mean,
)
from caruso.services._handle import (
    ServiceHandle,
    Target,
    current_target,
    retarget,
    wait_drained,
    wait_drained_async,
)
from caruso.services.base import DOWN, Health, Service, ServiceContext

__all__ = ["ServiceEvent", "ServiceHandle", "ServiceInfo", "ServiceManager"]

log = logging.getLogger("caruso.services")

REGISTERED = "registered"
STARTING = "starting"
ACTIVE = "active"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"
STATES = (REGISTERED, STARTING, ACTIVE, STOPPING, STOPPED, FAILED)

MODIFIED = "modified"
REPLACED = "replaced"
UNREGISTERING = "unregistering"
EVENT_KINDS = (REGISTERED, MODIFIED, REPLACED, UNREGISTERING)

_KEEP = ...  # replace(settings=...) keeps the settings the service has

# The lifecycle methods the manager calls, with the arguments it passes.
_LIFECYCLE = {"start": ("start(context)", 1), "stop": ("stop()", 0), "health": ("health()", 0)}


@attrs.frozen
class ServiceInfo:
    """A snapshot of one registration, taken when it was asked for."""

    name: str
    interfaces: tuple[type, ...]
    implementation: str
    version: str | None
    plugin: str | None
    state: str
    health: Health
    ranking: int
    properties: dict[str, Any]
    requires: tuple[str | type, ...]


@attrs.frozen
class ServiceEvent:
    """What a listener receives: ``kind`` is one of ``EVENT_KINDS``, ``info`` the service then."""

    kind: str = attrs.field(validator=attrs.validators.in_(EVENT_KINDS))
    info: ServiceInfo


@attrs.define(eq=False)
class _Registration:
    """The registry's own, mutable record of a service."""

    name: str
    service: object
    interfaces: tuple[type, ...]
    requires: tuple[str | type, ...]
    properties: dict[str, Any]
    ranking: int
    version: str | None
    plugin: str | None
    settings: Any
    order: int
    target: Target
    state: str = REGISTERED

    @property
    def has_lifecycle(self) -> bool:
        return has_lifecycle(self.service)

    def provides(self, interface: type) -> bool:
        """Declared, or a subclass of one declared (nominal: no structural or virtual matches)."""
        return any(interface in provided.__mro__ for provided in self.interfaces)


@attrs.frozen(eq=False)
class _Listener:
    callback: Callable[[ServiceEvent], object]
    name: str | None
    interface: type | None

    def wants(self, reg: _Registration) -> bool:
        if self.name is not None and reg.name != self.name:
            return False
        return self.interface is None or reg.provides(self.interface)


class ServiceManager:
    """Registers services, starts them in dependency order and replaces them while running.

    Args:
        root: the application folder, passed to services in their context.
        app: the running ``caruso.Application``, passed to services in their context.
        drain_timeout: seconds a replacement, unregistration or stop waits for the
            calls in flight on an implementation before stopping it anyway.
    """

    def __init__(self, *, root: Path | None = None, app: Any = None, drain_timeout: float = 30.0):
        self.root = Path(root) if root is not None else Path.cwd()
        self.app = app
        self.drain_timeout = drain_timeout
        self._lock = threading.RLock()
        self._registry: dict[str, _Registration] = {}
        self._handles: dict[str | type, ServiceHandle] = {}
        self._listeners: list[_Listener] = []
        self._started: list[str] = []  # names, in the order they were started
        self._order = itertools.count()
        self._running = False

    # -- registration ---------------------------------------------------------

    def register(
        self,
        name: str,
        service: object,
        *,
        provides: Any = None,
        requires: Any = None,
        properties: Mapping[str, Any] | None = None,
        ranking: int = 0,
        version: str | None = None,
        plugin: str | None = None,
        settings: Any = None,
    ) -> ServiceInfo:
        """Add a service; verify it now, and start it at once if the manager is running.

        ``provides``, ``requires`` and ``version`` default to the object's class
        attributes of those names. An object without start() and stop() is
        always active.

        Raises:
            ServiceDefinitionError: the name is taken or invalid, or the object
                breaks the service interface or an interface it claims to provide.
            DependencyError: the manager is running and a requirement is not active.
            ServiceStartError: the manager is running and start() raised; nothing
                stays registered.
        """
        with self._lock:
            self._check_new_name(name)
            _verify_lifecycle(name, service)
            reg = _Registration(
                name=name,
                service=service,
                interfaces=_verify_provides(name, service, _as_tuple(name, provides, service, "provides")),
                requires=_verify_requires(name, _as_tuple(name, requires, service, "requires")),
                properties=_verify_properties(name, properties),
                ranking=_verify_ranking(name, ranking),
                version=version if version is not None else _default_version(service),
                plugin=plugin,
                settings=settings,
                order=next(self._order),
                target=Target(service),
                state=REGISTERED if has_lifecycle(service) else ACTIVE,
            )
            self._registry[name] = reg
            if self._running:
                try:
                    self._check_requirements_active(reg)
                    if reg.has_lifecycle:
                        self._start(reg)
                except Exception:
                    del self._registry[name]
                    self._retarget_handles()
                    raise
            self._retarget_handles()
            self._emit(REGISTERED, reg)
            return self._snapshot(reg)

    def unregister(self, name: str) -> None:
        """Remove a service: refuse while active services need it, else drain, stop and remove.

        Raises:
            ServiceNotFound: no service has that name.
            ServiceStateError: an active service requires it, or it is busy starting or stopping.
        """
        with self._lock:
            reg = self._lookup(name)
            self._check_not_busy(reg, "unregister")
            dependents = self._active_dependents(reg)
            if dependents:
                raise ServiceStateError(
                    f"cannot unregister service {name!r}: active services require it: "
                    f"{', '.join(dependents)}; unregister or stop them first"
                )
            must_stop = reg.state == ACTIVE and reg.has_lifecycle
            reg.state = STOPPING
            self._retarget_handles()
        self._drain(reg.target, name)
        with self._lock:
            if must_stop:
                self._call_stop(reg)
            reg.state = STOPPED
            self._emit(UNREGISTERING, reg)
            del self._registry[name]
            if name in self._started:
                self._started.remove(name)
            self._retarget_handles()

    def update(
        self, name: str, *, properties: Mapping[str, Any] | None = None, ranking: int | None = None
    ) -> ServiceInfo:
        """Change a service's properties (replaced as a whole) or ranking; listeners get "modified"."""
        with self._lock:
            reg = self._lookup(name)
            if properties is not None:
                reg.properties = _verify_properties(name, properties)
            if ranking is not None:
                reg.ranking = _verify_ranking(name, ranking)
            self._retarget_handles()
            self._emit(MODIFIED, reg)
            return self._snapshot(reg)

    # -- lookup ----------------------------------------------------------------

    def get(self, name_or_interface: str | type) -> ServiceHandle:
        """A handle that resolves to the current implementation at every call.

        By name: that service, whatever implementation it has now. By interface:
        the highest ranking active provider now (ties: the earliest registered).
        The same handle is returned for the same key. Calls raise
        ServiceStateError while no implementation can take them.

        Raises:
            ServiceNotFound: nothing is registered under that name or for that interface.
        """
        if not isinstance(name_or_interface, (str, type)):
            raise TypeError(
                f"look services up by name (str) or interface (class), not {type(name_or_interface).__name__}"
            )
        handle = self._handles.get(name_or_interface)
        if handle is not None and current_target(handle).available:
            return handle
        with self._lock:
            self._check_known(name_or_interface)
            handle = self._handles.get(name_or_interface)
            if handle is None:
                handle = ServiceHandle(_label(name_or_interface), self._target_for(name_or_interface))
                self._handles[name_or_interface] = handle
            return handle

    def resolve(self, name_or_interface: str | type) -> object:
        """The implementation itself, no handle: for a name whatever its state, for an
        interface the provider a handle would call now. Do not keep it: it will not
        follow a replacement."""
        with self._lock:
            self._check_known(name_or_interface)
            if isinstance(name_or_interface, str):
                return self._registry[name_or_interface].service
            return self._target_for(name_or_interface).resolve()

    def find(self, interface: type | None = None, *, filter: Any = None) -> list[ServiceInfo]:
        """Services providing ``interface`` (all if None) whose properties match ``filter``.

        ``filter`` is a dict of property values (a list value means any of them)
        or a callable taking the properties and returning a bool. The result is
        sorted by ranking, highest first, then by registration order.
        """
        matches = _property_filter(filter)
        with self._lock:
            found = [
                reg
                for reg in self._registry.values()
                if (interface is None or reg.provides(interface)) and matches(reg.properties)
            ]
            return [self._snapshot(reg) for reg in sorted(found, key=_rank_key)]

    def info(self, name: str) -> ServiceInfo:
        with self._lock:
            return self._snapshot(self._lookup(name))

    def __iter__(self) -> Iterator[ServiceInfo]:
        with self._lock:
            return iter([self._snapshot(reg) for reg in self._registry.values()])

    def __len__(self) -> int:
        return len(self._registry)

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    # -- lifecycle -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful start_all() and the next stop_all()."""
        return self._running

    def start_order(self) -> list[str]:
        """Every registered name, each after the services it requires.

        Raises:
            DependencyError: a requirement is not registered, or requirements form a cycle.
        """
        with self._lock:
            graph = self._dependency_graph()
            try:
                return list(graphlib.TopologicalSorter(graph).static_order())
            except graphlib.CycleError as exc:
                raise self._cycle_error(exc.args[1]) from None

    def start_all(self) -> None:
        """Start every service that is not active, in dependency order.

        Raises:
            DependencyError: see start_order(); nothing was started.
            ServiceStateError: a service is still stopping (or starting); nothing was started.
            ServiceStartError: a start() raised; that service is "failed" and the
                services this call had started were stopped again, in reverse order.
        """
        with self._lock:
            started_now: list[_Registration] = []
            order = self.start_order()
            for name in order:  # refuse before starting anything, not half-way
                self._check_not_busy(self._registry[name], "start")
            for name in order:
                reg = self._registry[name]
                if reg.state == ACTIVE:
                    continue
                try:
                    self._start(reg)
                except ServiceStartError as exc:
                    failure = exc
                    break
                started_now.append(reg)
            else:
                self._running = True
                return
        for reg in reversed(started_now):  # outside the lock: stopping waits for calls in flight
            self._stop(reg)
        raise failure

    def stop_all(self) -> None:
        """Stop the started services in reverse start order.

        A stop() that raises is logged and the service marked "failed"; the
        others are stopped all the same. Objects without a lifecycle stay active.
        """
        with self._lock:
            self._running = False
            started = [self._registry[name] for name in reversed(self._started) if name in self._registry]
            self._started.clear()
        for reg in started:
            self._stop(reg)

    # -- runtime replacement -----------------------------------------------------

    def replace(
        self, name: str, new_service: object, *, version: str | None = None, settings: Any = _KEEP
    ) -> ServiceInfo:
        """Swap a service's implementation while callers keep calling.

        The new implementation is verified and started (with the same context,
        or ``settings`` if given); new calls then go to it, the calls in flight
        on the old one are waited for (up to ``drain_timeout``), and the old
        one is stopped. Listeners get "replaced".

        Raises:
            ServiceNotFound: no service has that name.
            ServiceDefinitionError: the new implementation breaks the service's
                interfaces, lacks a method callers use, or turns a method async or sync.
            ServiceStartError: its start() raised; the old implementation stays.
            ServiceStateError: the service is busy starting or stopping.
        """
        reg, old = self._begin_replace(name, new_service, version, settings)
        self._drain(old.target, name)
        return self._finish_replace(reg, old)

    async def areplace(
        self, name: str, new_service: object, *, version: str | None = None, settings: Any = _KEEP
    ) -> ServiceInfo:
        """replace() for asyncio code: the wait for calls in flight does not block the event loop."""
        reg, old = self._begin_replace(name, new_service, version, settings)
        if not await wait_drained_async(old.target, self.drain_timeout):
            self._warn_not_drained(old.target, name)
        return self._finish_replace(reg, old)

    def _begin_replace(
        self, name: str, new_service: object, version: str | None, settings: Any
    ) -> tuple[_Registration, _Registration]:
        """Verify and start the new implementation, then switch callers to it.

        Returns the registration and a detached copy describing the old implementation.
        """
        with self._lock:
            reg = self._lookup(name)
            self._check_not_busy(reg, "replace")
            if any(new_service is other.service for other in self._registry.values()):
                raise ServiceDefinitionError(
                    f"service {name!r}: replace() needs a new object, not one already registered "
                    "(replacing a service stops the implementation it replaces)"
                )
            _verify_provides(name, new_service, reg.interfaces)
            _verify_lifecycle(name, new_service)
            _verify_compatible(reg, new_service)
            new_settings = reg.settings if settings is _KEEP else settings
            if not has_lifecycle(new_service):
                new_state = ACTIVE
            elif reg.state == ACTIVE or self._running:
                # Started before the switch, so callers never see it half-ready.
                self._check_requirements_active(reg)
                self._call_start(name, new_service, new_settings)
                new_state = ACTIVE
            else:
                new_state = REGISTERED
            old = attrs.evolve(reg)
            reg.service, reg.target = new_service, Target(new_service)
            reg.settings, reg.state = new_settings, new_state
            reg.version = version if version is not None else _default_version(new_service, reg.version)
            if new_state == ACTIVE and reg.has_lifecycle and name not in self._started:
                self._started.append(name)
            self._retarget_handles()
            return reg, old

    def _finish_replace(self, reg: _Registration, old: _Registration) -> ServiceInfo:
        with self._lock:
            if old.state == ACTIVE and old.has_lifecycle:
                self._call_stop(old)
            if self._registry.get(reg.name) is reg:
                self._emit(REPLACED, reg)
            return self._snapshot(reg)

    # -- listeners ---------------------------------------------------------------

    def add_listener(
        self,
        callback: Callable[[ServiceEvent], object],
        *,
        name: str | None = None,
        interface: type | None = None,
    ) -> Callable[[], None]:
        """Call ``callback(event)`` on every change to a matching service; returns the remover.

        Services already registered that match are reported at once as
        "registered" events, so a listener sees every matching service exactly
        as if it had been there from the start.
        """
        listener = _Listener(callback, name, interface)
        with self._lock:
            self._listeners.append(listener)
            for reg in list(self._registry.values()):
                if listener.wants(reg):
                    self._notify(listener, ServiceEvent(REGISTERED, self._snapshot(reg)))

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _emit(self, kind: str, reg: _Registration) -> None:
        listeners = [listener for listener in self._listeners if listener.wants(reg)]
        if not listeners:
            return
        event = ServiceEvent(kind, self._snapshot(reg))
        for listener in listeners:
            self._notify(listener, event)

    @staticmethod
    def _notify(listener: _Listener, event: ServiceEvent) -> None:
        try:
            listener.callback(event)
        except Exception:
            log.exception(
                "service listener %r raised on the %r event of service %r",
                listener.callback,
                event.kind,
                event.info.name,
            )

    # -- starting and stopping one service ------------------------------------------

    def _start(self, reg: _Registration) -> None:
        reg.state = STARTING
        try:
            self._call_start(reg.name, reg.service, reg.settings)
        except ServiceStartError:
            reg.state = FAILED
            self._retarget_handles()
            raise
        reg.state = ACTIVE
        if reg.name not in self._started:
            self._started.append(reg.name)
        self._retarget_handles()

    def _call_start(self, name: str, service: object, settings: Any) -> None:
        start = getattr(service, "start", None)
        if start is None:
            return
        try:
            start(ServiceContext(name=name, settings=settings, manager=self, root=self.root, app=self.app))
        except Exception as exc:
            raise ServiceStartError(name, exc) from exc

    def _stop(self, reg: _Registration) -> None:
        """Stop one service: no new calls, wait for the running ones, then stop()."""
        with self._lock:
            if reg.state != ACTIVE or not reg.has_lifecycle:
                return
            reg.state = STOPPING
            self._retarget_handles()
        self._drain(reg.target, reg.name)
        with self._lock:
            if reg.state != STOPPING:  # unregistered meanwhile, or already handled
                return
            reg.state = STOPPED if self._call_stop(reg) else FAILED
            self._retarget_handles()

    @staticmethod
    def _call_stop(reg: _Registration) -> bool:
        stop = getattr(reg.service, "stop", None)
        if stop is None:
            return True
        try:
            stop()
        except Exception:
            log.exception(
                "service %r (%s) raised in stop(); carrying on with the others",
                reg.name,
                _implementation(reg.service),
            )
            return False
        return True

    def _drain(self, target: Target, name: str) -> None:
        if not wait_drained(target, self.drain_timeout):
            self._warn_not_drained(target, name)

    def _warn_not_drained(self, target: Target, name: str) -> None:
        log.warning(
            "service %r: %d call(s) still in flight on %s after %.1f s; stopping it anyway "
            "(raise drain_timeout, or make those calls return sooner)",
            name,
            target.calls_in_flight(),
            _implementation(target.impl),
            self.drain_timeout,
        )

    # -- handles ---------------------------------------------------------------------

    def _retarget_handles(self) -> None:
        """Point every handle at the target it should call now."""
        for key, handle in list(self._handles.items()):
            target = self._target_for(key)
            if not current_target(handle).same_as(target):
                retarget(handle, target)

    def _target_for(self, key: str | type) -> Target:
        if isinstance(key, str):
            reg = self._registry.get(key)
            if reg is None:
                return Target.unavailable("not registered", lambda: ServiceNotFound(key, self._registry))
            if reg.state != ACTIVE:
                message = (
                    f"service {key!r} is {reg.state}, so it takes no calls; it does once started "
                    "(manager.start_all(), and list it in the requires of services that call it)"
                )
                return Target.unavailable(reg.state, lambda: ServiceStateError(message))
            return reg.target
        providers = self._providers(key)
        for reg in providers:
            if reg.state == ACTIVE:
                return reg.target
        described = ", ".join(f"{reg.name!r} ({reg.state})" for reg in providers) or "none"
        message = f"no active service provides {_label(key)}; registered providers: {described}"
        return Target.unavailable(message, lambda: ServiceStateError(message))

    # -- dependencies ------------------------------------------------------------------

    def _providers(self, interface: type, exclude: str | None = None) -> list[_Registration]:
        found = [reg for reg in self._registry.values() if reg.name != exclude and reg.provides(interface)]
        return sorted(found, key=_rank_key)

    def _dependency_graph(self) -> dict[str, list[str]]:
        """name -> names it requires; raises DependencyError for the first missing requirement."""
        graph: dict[str, list[str]] = {}
        for reg in self._registry.values():
            graph[reg.name] = []
            for wanted in reg.requires:
                needed = self._satisfiers(reg, wanted)
                if not needed:
                    raise self._missing_error(reg.name, wanted)
                graph[reg.name].extend(needed)
        return graph

    def _satisfiers(self, reg: _Registration, wanted: str | type) -> list[str]:
        """Names of the registered services that meet ``reg``'s requirement ``wanted``."""
        if isinstance(wanted, str):
            return [wanted] if wanted in self._registry else []
        return [provider.name for provider in self._providers(wanted, exclude=reg.name)]

    def _missing_error(self, name: str, wanted: str | type) -> DependencyError:
        chain = [name]
        while True:
            dependents = [
                reg.name
                for reg in self._registry.values()
                if chain[0] in self._required_names(reg) and reg.name not in chain
            ]
            if not dependents:
                break
            chain.insert(0, dependents[0])
        steps = [f"{a} requires {b}" for a, b in zip(chain, chain[1:])]
        if isinstance(wanted, str):
            hint = did_you_mean(wanted, self._registry)
            hint = hint or f"; register it, or remove it from the requires of {name}"
            steps.append(f"{name} requires {wanted!r}, which is not registered{hint}")
        else:
            steps.append(
                f"{name} requires {_label(wanted)}, which no registered service provides; register a "
                f"service with provides=({wanted.__qualname__},), or remove it from the requires of {name}"
            )
        return DependencyError(", ".join(steps), chain + [_label(wanted)])

    def _required_names(self, reg: _Registration) -> set[str]:
        return {name for wanted in reg.requires for name in self._satisfiers(reg, wanted)}

    def _cycle_error(self, cycle: list[str]) -> DependencyError:
        # graphlib lists each node before the ones that require it; read it the other way round,
        # starting from the service registered first so the message is stable.
        cycle = list(reversed(cycle))[:-1]
        first = min(range(len(cycle)), key=lambda i: self._registry[cycle[i]].order)
        cycle = cycle[first:] + cycle[:first] + [cycle[first]]
        return DependencyError(
            f"dependency cycle: {' -> '.join(cycle)}; each service there requires the next, so none "
            "can start first; remove one of these requirements",
            cycle,
        )

    def _check_requirements_active(self, reg: _Registration) -> None:
        for wanted in reg.requires:
            if isinstance(wanted, str):
                dependency = self._registry.get(wanted)
                if dependency is None:
                    raise DependencyError(
                        f"cannot start {reg.name!r} now: it requires {wanted!r}, which is not "
                        f"registered{did_you_mean(wanted, self._registry)}; register {wanted!r} first",
                        [reg.name, wanted],
                    )
                if dependency.state != ACTIVE:
                    raise DependencyError(
                        f"cannot start {reg.name!r} now: it requires {wanted!r}, which is "
                        f"{dependency.state}; start or fix {wanted!r} first",
                        [reg.name, wanted],
                    )
            elif not any(p.state == ACTIVE for p in self._providers(wanted, exclude=reg.name)):
                raise DependencyError(
                    f"cannot start {reg.name!r} now: it requires {_label(wanted)}, and no active "
                    "service provides it; register or start a provider first",
                    [reg.name, _label(wanted)],
                )

    def _active_dependents(self, reg: _Registration) -> list[str]:
        """Active services that would lose a requirement if ``reg`` went away."""
        return [
            other.name
            for other in self._registry.values()
            if other is not reg
            and other.state == ACTIVE
            and any(self._only_source(reg, wanted, other) for wanted in other.requires)
        ]

    def _only_source(self, reg: _Registration, wanted: str | type, dependent: _Registration) -> bool:
        """True if ``reg`` is what satisfies ``dependent``'s requirement ``wanted`` now."""
        if isinstance(wanted, str):
            return wanted == reg.name
        if not reg.provides(wanted):
            return False
        others = self._providers(wanted, exclude=dependent.name)
        return not any(p.state == ACTIVE for p in others if p is not reg)

    # -- small helpers -------------------------------------------------------------------

    def _lookup(self, name: str) -> _Registration:
        reg = self._registry.get(name)
        if reg is None:
            raise ServiceNotFound(name, self._registry)
        return reg

    def _check_known(self, key: str | type) -> None:
        if isinstance(key, str):
            self._lookup(key)
        elif isinstance(key, type):
            if not self._providers(key):
                known = {_label(i) for reg in self._registry.values() for i in reg.interfaces}
                raise ServiceNotFound(_label(key), known)
        else:
            raise TypeError(f"look services up by name (str) or interface (class), not {type(key).__name__}")

    def _check_new_name(self, name: object) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ServiceDefinitionError(f"a service name must be a non-empty string, got {name!r}")
        holder = self._registry.get(name)
        if holder is not None:
            owner = f"plugin {holder.plugin!r}" if holder.plugin else "the application (no plugin)"
            raise ServiceDefinitionError(
                f"service name {name!r} is already taken by {owner} ({_implementation(holder.service)}); "
                f"choose another name, or swap the implementation with manager.replace({name!r}, ...)"
            )

    @staticmethod
    def _check_not_busy(reg: _Registration, action: str) -> None:
        if reg.state in (STARTING, STOPPING):
            raise ServiceStateError(
                f"cannot {action} service {reg.name!r} while it is {reg.state}; try again when it is done"
            )

    def _snapshot(self, reg: _Registration) -> ServiceInfo:
        return ServiceInfo(
            name=reg.name,
            interfaces=reg.interfaces,
            implementation=_implementation(reg.service),
            version=reg.version,
            plugin=reg.plugin,
            state=reg.state,
            health=_health(reg),
            ranking=reg.ranking,
            properties=dict(reg.properties),
            requires=reg.requires,
        )


# -- verification at registration ---------------------------------------------------------


def _verify_lifecycle(name: str, service: object) -> None:
    """start/stop/health, where present, must be plain methods taking what the manager passes."""
    for method_name, (expected, arity) in _LIFECYCLE.items():
        member = getattr(service, method_name, None)
        if member is None:
            continue
        where = f"service {name!r} ({_implementation(service)})"
        if not callable(member):
            raise ServiceDefinitionError(
                f"{where}: {method_name} must be a method {expected}, not a {type(member).__name__}"
            )
        if inspect.iscoroutinefunction(member):
            raise ServiceDefinitionError(
                f"{where}: {method_name}() must be a plain method {expected}, not async; "
                "the manager calls it synchronously (start background tasks from it instead)"
            )
        try:
            signature = inspect.signature(member)
        except (TypeError, ValueError):
            continue  # builtins without a signature: trust them
        try:
            signature.bind(*([None] * arity))
        except TypeError:
            raise ServiceDefinitionError(
                f"{where}: {method_name}{signature} does not fit the service interface; expected {expected}"
            ) from None


def _verify_provides(name: str, service: object, provides: tuple) -> tuple[type, ...]:
    """Each interface must be a class that the object implements, nominally or structurally."""
    for interface in provides:
        if not isinstance(interface, type):
            raise ServiceDefinitionError(
                f"service {name!r}: provides must list interfaces (classes), got {interface!r}"
            )
        if _is_instance(service, interface):
            continue
        methods = _public_methods(interface)
        missing = [m for m in methods if not callable(getattr(service, m, None))]
        if missing or not methods:
            detail = f"it lacks {_calls(missing)}" if missing else "it is not an instance of it"
            raise ServiceDefinitionError(
                f"service {name!r} ({_implementation(service)}) does not implement {_label(interface)}, "
                f"which it claims to provide: {detail}"
            )
    return provides


def _verify_requires(name: str, requires: tuple) -> tuple[str | type, ...]:
    for wanted in requires:
        if not (isinstance(wanted, type) or (isinstance(wanted, str) and wanted)):
            raise ServiceDefinitionError(
                f"service {name!r}: requires must list service names (str) or interfaces (classes), "
                f"got {wanted!r}"
            )
    return requires


def _verify_properties(name: str, properties: Mapping[str, Any] | None) -> dict[str, Any]:
    if properties is None:
        return {}
    if not isinstance(properties, Mapping):
        raise ServiceDefinitionError(
            f"service {name!r}: properties must be a dict, got {type(properties).__name__}"
        )
    return dict(properties)


def _verify_ranking(name: str, ranking: object) -> int:
    if not isinstance(ranking, int) or isinstance(ranking, bool):
        raise ServiceDefinitionError(f"service {name!r}: ranking must be an int, got {ranking!r}")
    return ranking


def _verify_compatible(reg: _Registration, new_service: object) -> None:
    """A replacement must offer every method callers may use, each still sync or still async."""
    old_service = reg.service
    if reg.interfaces:
        names = sorted({m for interface in reg.interfaces for m in _public_methods(interface)})
    else:
        lifecycle = set(_public_methods(Service))
        names = [m for m in _public_methods(type(old_service)) if m not in lifecycle]
    where = (
        f"cannot replace service {reg.name!r} ({_implementation(old_service)}) "
        f"with {_implementation(new_service)}"
    )
    missing = [m for m in names if not callable(getattr(new_service, m, None))]
    if missing:
        raise ServiceDefinitionError(f"{where}: it lacks {_calls(missing)}, which callers may use")
    is_async = inspect.iscoroutinefunction
    flipped = [m for m in names if is_async(getattr(old_service, m, None)) != is_async(getattr(new_service, m))]
    if flipped:
        raise ServiceDefinitionError(
            f"{where}: {_calls(flipped)} changes between sync and async, which "
            "would break callers; keep each method as it was"
        )


def _public_methods(cls: type) -> list[str]:
    return [n for n in dir(cls) if not n.startswith("_") and inspect.isroutine(getattr(cls, n, None))]


def _is_instance(service: object, interface: type) -> bool:
    try:
        return isinstance(service, interface)
    except TypeError:  # a Protocol that is not runtime_checkable
        return False


def has_lifecycle(service: object) -> bool:
    """True for a service with start() or stop(); one without is active from registration on."""
    return callable(getattr(service, "start", None)) or callable(getattr(service, "stop", None))


def _as_tuple(name: str, value: Any, service: object, attribute: str) -> tuple:
    """A tuple from what was passed, or from the object's class attribute when nothing was."""
    if value is None:
        value = getattr(service, attribute, None)
    if value is None:
        return ()
    if isinstance(value, (str, type)):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ServiceDefinitionError(
            f"service {name!r}: {attribute} must be a tuple, got {value!r}"
        ) from None


def _default_version(service: object, fallback: str | None = None) -> str | None:
    version = getattr(service, "version", None)
    return str(version) if isinstance(version, (str, int, float)) else fallback


def _health(reg: _Registration) -> Health:
    if reg.state != ACTIVE:
        return Health(DOWN, reg.state)
    probe = getattr(reg.service, "health", None)
    if probe is None:
        return Health()
    try:
        result = probe()
    except Exception as exc:
        return Health(DOWN, f"health() raised {type(exc).__name__}: {exc}")
    if isinstance(result, Health):
        return result
    return Health(DOWN, f"health() returned {result!r}, not a caruso Health")


def _property_filter(spec: Any) -> Callable[[dict[str, Any]], bool]:
    if spec is None:
        return lambda properties: True
    if callable(spec):
        return spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"filter must be a dict of property values or a callable, not {type(spec).__name__}")

    def matches(properties: dict[str, Any]) -> bool:
        for key, wanted in spec.items():
            if key not in properties:
                return False
            value = properties[key]
            if isinstance(wanted, list) and not isinstance(value, list):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True

    return matches


def _calls(names: list[str]) -> str:
    return ", ".join(name + "()" for name in names)


def _rank_key(reg: _Registration) -> tuple[int, int]:
    return (-reg.ranking, reg.order)


def _implementation(service: object) -> str:
    cls = type(service)
    return f"{cls.__module__}.{cls.__qualname__}"


def _label(key: str | type) -> str:
    return key if isinstance(key, str) else f"{key.__module__}.{key.__qualname__}"
