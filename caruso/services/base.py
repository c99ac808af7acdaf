"""The service interface every component implements, and the base class that makes it easy.

Everything Caruso runs is a service: the built-in components, the plugins'
components and the wrappers around a company's legacy systems. The manager
needs only three things from one, all optional: ``start(context)``, ``stop()``
and ``health()``. A plain object without them can be registered too (it is
simply always "active"), which is how a ready-made client object joins.

Class attributes describe a service to the manager when the registration does
not say otherwise: ``provides`` (interfaces, as classes), ``requires`` (names or
interfaces of services that must be started first), ``version`` and, for
services configured from the descriptor, ``Settings`` (an attrs class that the
``[services.NAME.settings]`` table is structured into, so a typo fails at load).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from caruso.services.manager import ServiceManager

OK = "ok"
DEGRADED = "degraded"
DOWN = "down"


@attrs.frozen
class Health:
    """What a service says about itself: ``ok``, ``degraded`` or ``down``, and why."""

    status: str = attrs.field(default=OK, validator=attrs.validators.in_((OK, DEGRADED, DOWN)))
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


@attrs.define
class ServiceContext:
    """What a service receives in start(): its own name and settings, and the manager.

    Services find their collaborators through ``manager.get(...)`` rather than
    holding each other directly, so any of them can be replaced while running.

    Args:
        name: the name the service is registered under.
        settings: its settings (an instance of its ``Settings`` class, or a dict).
        manager: the service manager, to look up other services.
        root: the application folder, for resolving relative paths.
        app: the running ``caruso.Application``, or None outside one.
    """

    name: str
    settings: Any
    manager: ServiceManager
    root: Path = attrs.field(factory=Path.cwd)
    app: Any = None


@runtime_checkable
class ServiceLike(Protocol):
    """The structural interface: what the manager calls, if present."""

    def start(self, context: ServiceContext) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> Health: ...


class Service:
    """Default base class for services; override what you need.

    ``self.context`` is set before ``on_start`` runs, so subclasses reach their
    settings and collaborators as ``self.context.settings`` and
    ``self.context.manager.get("storage")``.
    """

    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[str | type, ...]] = ()
    version: ClassVar[str] = "0"
    Settings: ClassVar[type | None] = None

    context: ServiceContext | None = None

    def start(self, context: ServiceContext) -> None:
        self.context = context
        self.on_start()

    def stop(self) -> None:
        self.on_stop()

    def health(self) -> Health:
        return Health()

    def on_start(self) -> None:
        """Acquire resources; raise to refuse starting (the error names this service)."""

    def on_stop(self) -> None:
        """Release resources; must not raise for a service that failed half-way."""

    @property
    def settings(self) -> Any:
        if self.context is None:
            raise AttributeError("settings are available once the service has started")
        return self.context.settings


@attrs.frozen
class ServiceDefinition:
    """A service a plugin contributes through the ``register_services`` hook.

    The application turns each definition into a registration with the
    manager, applying the descriptor's ``[services.NAME]`` section on top: the
    section may swap the implementation, disable the service or give settings.

    Args:
        name: the registry name (``"storage"``, ``"billing"``).
        factory: a class or callable that builds the service; it receives no
            arguments (settings arrive in ``start(context)``). A factory with a
            ``Settings`` attribute gets its descriptor settings structured into it.
        provides: interfaces the service implements; defaults to ``factory.provides``.
        requires: names or interfaces to start first; defaults to ``factory.requires``.
        ranking: where several services provide one interface, the highest wins.
        properties: free metadata to filter lookups on (``{"region": "nl"}``).
    """

    name: str
    factory: Any
    provides: tuple[type, ...] | None = None
    requires: tuple[str | type, ...] | None = None
    ranking: int = 0
    properties: dict[str, Any] = attrs.field(factory=dict)
