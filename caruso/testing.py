"""A testing kit for plugin and service authors.

- ``make_app(folder, descriptor, files)``: write an application folder and load it.
- ``run_cli(*args)``: run the ``caruso`` command line in-process (click's runner).
- ``ManualClock``: time that moves only when the test says so.
- ``ServiceContract``: the compliance suite every service implementation should
  pass; subclass it in your tests and implement ``make_service``::

      class TestMyBilling(ServiceContract):
          def make_service(self):
              return MyBillingService()

          def make_settings(self):
              return MyBillingService.Settings(url="http://127.0.0.1:8901")
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from caruso.app import Application
from caruso.clock import ManualClock
from caruso.services.base import Health, ServiceContext
from caruso.services.manager import ServiceManager, has_lifecycle

__all__ = ["ManualClock", "ServiceContract", "make_app", "run_cli"]


def make_app(folder: Path, descriptor: str, files: Mapping[str, str] | None = None) -> Application:
    """Write ``caruso.toml`` (dedented) and ``files`` (relative path -> text) into ``folder``, then load it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "caruso.toml").write_text(textwrap.dedent(descriptor), encoding="utf-8")
    for relative, text in (files or {}).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    return Application.from_folder(folder)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run ``caruso ARGS`` in-process and return click's Result (exit_code, output)."""
    from caruso.cli import command_line

    return CliRunner().invoke(command_line(), list(args), input=input, catch_exceptions=False)


class ServiceContract:
    """Tests any service implementation must pass to be managed by Caruso.

    Override ``make_service`` (a fresh, unstarted instance) and, when the
    service has settings, ``make_settings``.
    """

    def make_service(self) -> Any:
        raise NotImplementedError("return a fresh, unstarted instance of the service under test")

    def make_settings(self) -> Any:
        return None

    def register_collaborators(self, manager: ServiceManager) -> None:
        """Register the services the one under test requires (default: a ManualClock as "clock")."""
        manager.register("clock", ManualClock())

    def _manager(self, tmp_path: Path) -> ServiceManager:
        manager = ServiceManager(root=tmp_path)
        self.register_collaborators(manager)
        return manager

    def _start(self, tmp_path: Path) -> tuple[ServiceManager, Any]:
        manager = self._manager(tmp_path)
        service = self.make_service()
        manager.register("service-under-test", service, settings=self.make_settings())
        manager.start_all()
        return manager, service

    def test_registers_with_the_manager(self, tmp_path):
        """The manager accepts the service: lifecycle signatures and interfaces check out."""
        service = self.make_service()
        info = self._manager(tmp_path).register("service-under-test", service)
        assert ("registered" if has_lifecycle(service) else "active") == info.state

    def test_starts_and_reports_health(self, tmp_path):
        """After start, health() returns a caruso Health value."""
        manager, service = self._start(tmp_path)
        try:
            assert "active" == manager.info("service-under-test").state
            health = service.health() if hasattr(service, "health") else Health()
            assert isinstance(health, Health)
        finally:
            manager.stop_all()

    def test_stops_cleanly(self, tmp_path):
        """stop() returns without error and the manager sees it stopped."""
        manager, service = self._start(tmp_path)
        manager.stop_all()
        assert ("stopped" if has_lifecycle(service) else "active") == manager.info("service-under-test").state

    def test_context_reaches_the_service(self, tmp_path):
        """start() receives a ServiceContext naming the service and carrying its settings."""
        seen: list[ServiceContext] = []
        service = self.make_service()
        original = getattr(service, "start", None)
        if original is None:
            return
        manager = self._manager(tmp_path)

        def spy(context: ServiceContext) -> None:
            seen.append(context)
            original(context)

        service.start = spy
        manager.register("service-under-test", service, settings=self.make_settings())
        manager.start_all()
        manager.stop_all()
        assert ["service-under-test"] == [c.name for c in seen]
        assert [self.make_settings()] == [c.settings for c in seen]
