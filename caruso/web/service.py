"""The ``web`` service: the front office, served by uvicorn while the application runs.

It owns what every page shares - the users and the access log (tables in the
application's storage), the sessions, the login throttle, the templates and the
views - and finds the other services (communication, scripts, monitor, reports,
customers, chat) through the manager when a page needs them, so any of them can be
missing (a page says so) or replaced while the front office runs.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from caruso.errors import ServiceNotFound, ServiceStateError, ViewDefinitionError, WebError
from caruso.services.base import DOWN, Health, Service
from caruso.web.security import LoginThrottle, SessionStore, load_secret
from caruso.web.settings import WebSettings
from caruso.web.templating import Templates
from caruso.web.users import AccessLog, UserStore, web_tables

__all__ = ["WebService"]

log = logging.getLogger("caruso.web")


class WebService(Service):
    """The default ``web`` service (see the module docstring and docs/web.md)."""

    requires = ("storage", "clock")
    Settings = WebSettings

    def __init__(self) -> None:
        self.metadata, self.user_table, self.log_table = web_tables()
        self.server: Any = None
        self.asgi: Any = None
        self._views: tuple[Any, Any] | None = None

    def on_start(self) -> None:
        from caruso.web.app import build_app

        settings = self.context.settings
        self.config = settings if isinstance(settings, WebSettings) else WebSettings(**(settings or {}))
        manager = self.context.manager
        self.clock = manager.resolve("clock")
        self.storage = manager.get("storage")
        self.storage.register(self.metadata)
        self.storage.upgrade(self.metadata)
        now = lambda: self.clock.now().replace(tzinfo=None)  # noqa: E731 - naive UTC, as every table
        self.users = UserStore(self.storage, self.user_table, now=now)
        self.access = AccessLog(self.storage, self.log_table, now=now)
        secret = load_secret(self.context.root / self.config.secret_key_file)
        self.sessions = SessionStore(secret, max_age=self.config.session_hours * 3600)
        self.throttle = LoginThrottle(attempts=self.config.login_attempts, window=self.config.login_window)
        self.templates = Templates([self.context.root / "templates"])
        self._views = None
        self.views  # noqa: B018 - a view file naming an unknown attribute stops the start here
        self.asgi = build_app(self)

    def listen(self, port: int | None = None) -> str:
        """Serve the front office with uvicorn (``caruso run`` calls this); its address.

        Starting the service builds the application without opening a port, so the
        commands and scripts that start an application for other work (``caruso db``,
        ``caruso report``, a test) do not fight a running front office for its port.
        ``port`` overrides the descriptor's (0: a free one).
        """
        from caruso.services.channels.web import ServerThread

        if self.server is None:
            server = ServerThread(self.asgi, host=self.config.host,
                                  port=self.config.port if port is None else port, name="caruso-web",
                                  proxy_headers=True, forwarded_allow_ips=list(self.config.trusted_proxies))
            try:
                server.start()
            except ServiceStateError as exc:
                raise WebError(f"the front office {exc}; stop the other process or choose another "
                               "port in [services.web.settings]") from None
            self.server = server
            log.info("front office on %s", self.url)
        return self.url

    def on_stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.asgi = None
        if getattr(self, "storage", None) is not None:
            self.storage.unregister(self.metadata)

    def health(self) -> Health:
        if self.asgi is None:
            return Health(DOWN, "not started")
        if self.server is None:
            return Health(detail="built, not listening (caruso run serves it)")
        return Health(detail=f"serving {self.url}")

    @property
    def views(self) -> Any:
        """The ``ViewCatalog`` of the running model, built again when the bom service has been
        replaced (a new model may have new objects and attributes).

        Raises:
            ViewDefinitionError: a view file is wrong; every problem, each at file:line.
        """
        from caruso.web.views import ViewCatalog, view_paths
        from caruso.web.views.catalog import ObjectFacts

        bom = self.optional_service("bom")
        model = getattr(bom, "model", None) if bom is not None else None
        if self._views is None or self._views[0] is not model:
            objects = {name: ObjectFacts.of_class(model[name]) for name in model.definitions} if model else {}
            catalog, problems = ViewCatalog.build(objects, view_paths(self.context.app, self.config.views,
                                                                      self.context.root))
            if problems:
                raise ViewDefinitionError(problems)
            self._views = (model, catalog)
        return self._views[1]

    @property
    def roles(self) -> dict[str, Any]:
        return self.config.roles

    @property
    def port(self) -> int | None:
        return self.server.port if self.server is not None else None

    @property
    def url(self) -> str | None:
        """Where the front office answers (None when it does not listen)."""
        if self.server is None:
            return None
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    def optional_service(self, name: str) -> Any:
        """The service ``name``, or None when the application has none (the page says so)."""
        try:
            return self.context.manager.get(name)
        except ServiceNotFound:
            return None

    async def blocking(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """``function(*args)`` on a worker thread: the services' calls block (database, locks)."""
        return await run_in_threadpool(function, *args, **kwargs)

    @staticmethod
    def is_secure(request: Request) -> bool:
        """Behind TLS (directly, or a trusted proxy's ``X-Forwarded-Proto: https``)."""
        return request.url.scheme in ("https", "wss")

