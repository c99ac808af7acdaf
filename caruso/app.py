"""The Application: descriptor -> plugins -> services -> running system.

The CLI and Python code take the same path::

    with Application.from_folder("examples/quickstart") as app:
        billing = app.services.get("billing")
        billing.balance("100234")

Loading (``from_folder``) reads and validates the descriptor, loads the
plugins and registers every service, but starts nothing: ``caruso check`` and
``caruso services`` stop there. ``start()`` (or entering the ``with`` block)
starts the services in dependency order; ``stop()`` stops them in reverse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
import pluggy

from caruso.config import (
    AppConfig,
    ServiceSection,
    import_object,
    load_config,
    locate_key,
    structure_settings,
)
from caruso.errors import (
    CarusoError,
    ConfigError,
    PluginError,
    Problem,
    ServiceDefinitionError,
    did_you_mean,
)
from caruso.plugins import (
    DEFAULT_PLUGINS,
    call_each,
    load_plugins,
    make_plugin_manager,
    prepended_sys_path,
)
from caruso.services.base import ServiceDefinition
from caruso.services.manager import ServiceManager

log = logging.getLogger("caruso.app")


@attrs.frozen
class _Contribution:
    """A service definition together with the plugin that contributed it."""

    plugin: str
    definition: ServiceDefinition


class Application:
    """A CRM composed from one descriptor: its plugins and its running services.

    Attributes:
        config: the validated descriptor (``caruso.config.AppConfig``).
        root: the application folder; relative paths resolve against it.
        plugin_manager: the pluggy manager holding every loaded plugin.
        services: the service manager; look services up with ``services.get(name)``.
    """

    #: Swap point: a subclass may use its own manager class (documented, as Flask does).
    manager_class = ServiceManager

    def __init__(self, config: AppConfig, *, plugin_manager: pluggy.PluginManager | None = None):
        self.config = config
        self.root = config.root
        self.plugin_manager = plugin_manager or make_plugin_manager()
        self.services = self.manager_class(root=config.root, app=self)
        self._loaded = False

    @classmethod
    def from_folder(cls, folder: str | Path = ".") -> Application:
        """Load the application whose ``caruso.toml`` is in ``folder`` (or is ``folder``).

        Raises:
            ConfigError: the descriptor or a service section is wrong.
            PluginError: a plugin is unknown, does not import or breaks the contract.
            ServiceError: a service does not fit the service interface.
        """
        app = cls(load_config(folder))
        app.load()
        return app

    @property
    def name(self) -> str:
        return self.config.application.name

    def load(self) -> None:
        """Load the plugins and register every service; start nothing."""
        if self._loaded:
            return
        with prepended_sys_path([self.root]):
            load_plugins(
                self.plugin_manager,
                enabled=self.config.plugins.enabled,
                folders=self.config.plugins.folders,
            )
        contributions = self._collect_definitions()
        problems: list[Problem] = []
        for name, section in self.config.services.items():
            if name not in contributions and section.implementation is None:
                problems.append(self._problem(
                    ("services", name),
                    f"no plugin provides a service {name!r}{did_you_mean(name, contributions)}; "
                    "name one with implementation = \"package.module:Class\"",
                ))
        if problems:
            raise ConfigError(problems)
        names = list(contributions) + [n for n in self.config.services if n not in contributions]
        for name in names:
            section = self.config.services.get(name, ServiceSection())
            if section.enabled:
                self._register(name, contributions.get(name), section)
        self._loaded = True

    def start(self) -> Application:
        """Start every service in dependency order (stopping them again if one fails)."""
        self.load()
        self.services.start_all()
        log.info("application %r started with %d services", self.name, len(self.services))
        return self

    def stop(self) -> None:
        """Stop every service in reverse dependency order."""
        self.services.stop_all()

    def __enter__(self) -> Application:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def check(self) -> list[Problem]:
        """Problems found by the plugins in the files the application references.

        The descriptor itself was checked when the application loaded; this adds
        the dependency graph and whatever the components check (models, scripts,
        views), without starting anything.
        """
        problems: list[Problem] = []
        try:
            self.services.start_order()
        except CarusoError as exc:
            problems.append(Problem(str(self.config.path), None, str(exc)))
        for _plugin, found in call_each(self.plugin_manager.hook.check_application, app=self):
            problems.extend(found)
        return problems

    def _collect_definitions(self) -> dict[str, _Contribution]:
        """Service definitions by name; an enabled plugin may override a default one."""
        found: dict[str, _Contribution] = {}
        hook = self.plugin_manager.hook.register_services
        for plugin, definitions in call_each(hook, app=self):
            for definition in definitions:
                if not isinstance(definition, ServiceDefinition):
                    raise PluginError(
                        plugin,
                        f"register_services returned {definition!r}; "
                        "expected caruso.ServiceDefinition objects",
                    )
                previous = found.get(definition.name)
                if previous is not None and previous.plugin not in DEFAULT_PLUGINS:
                    raise PluginError(
                        plugin,
                        f"service {definition.name!r} is also provided by plugin "
                        f"{previous.plugin!r}; disable one of them, or choose an implementation "
                        f"in [services.{definition.name}] of the descriptor",
                    )
                if previous is not None:
                    log.info("plugin %r overrides default service %r", plugin, definition.name)
                found[definition.name] = _Contribution(plugin, definition)
        return found

    def _register(self, name: str, contribution: _Contribution | None, section: ServiceSection) -> None:
        definition = contribution.definition if contribution else ServiceDefinition(name, None)
        plugin = contribution.plugin if contribution else "descriptor"
        factory = definition.factory
        if section.implementation is not None:
            factory = self._import_implementation(name, section.implementation)
            plugin = "descriptor"
        settings = structure_settings(
            getattr(factory, "Settings", None), section.settings, config=self.config, service=name
        )
        service = self._build(name, factory)
        requires = definition.requires
        if requires is None:
            requires = tuple(getattr(service, "requires", ()))
        self.services.register(
            name,
            service,
            provides=definition.provides,
            requires=tuple(requires) + tuple(section.requires),
            properties={**definition.properties, **section.properties},
            ranking=definition.ranking if section.ranking is None else section.ranking,
            plugin=plugin,
            settings=settings,
        )

    def _build(self, name: str, factory: Any) -> object:
        if not callable(factory):
            return factory
        try:
            return factory()
        except Exception as exc:
            raise ServiceDefinitionError(
                f"service {name!r}: could not create {getattr(factory, '__qualname__', factory)!r}: "
                f"{type(exc).__name__}: {exc} (a service is built without arguments; "
                "settings arrive in start(context))"
            ) from exc

    def _import_implementation(self, name: str, path: str) -> Any:
        """Import a descriptor's implementation; errors point at its line in caruso.toml."""
        try:
            return import_object(path, search_paths=(self.root, *self.config.plugins.folders))
        except ConfigError as exc:
            located = [
                p if p.file else self._problem(("services", name, "implementation"), p.message)
                for p in exc.problems
            ]
            raise ConfigError(located) from exc

    def _problem(self, key_path: tuple[str, ...], message: str) -> Problem:
        line = locate_key(self.config.text, key_path)
        return Problem(str(self.config.path), line, f"{'.'.join(key_path)}: {message}")
