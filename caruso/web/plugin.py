"""The web front office as a built-in plugin: the ``web`` service and its ``caruso web``
commands.

Registered like every other component, so an application may replace the front
office (``implementation`` in ``[services.web]``) or switch it off
(``enabled = false``) and keep every other service.
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


def _enabled(app, name: str) -> bool:
    section = app.config.services.get(name) if app is not None else None
    return section is None or section.enabled


@hookimpl
def register_services(app):
    from caruso.web.service import WebService

    # Started after the services whose parts it serves at once: the model (the views) and
    # the chat (mounted at /chat). Every other service is looked up when a page needs it.
    requires = ["storage", "clock"]
    if _enabled(app, "bom"):
        requires.append("bom")
    if _enabled(app, "chat") and _enabled(app, "communication"):
        requires.append("chat")
    return [ServiceDefinition("web", WebService, requires=tuple(requires))]


@hookimpl
def register_commands(cli):
    from caruso.web.commands import web

    cli.add_command(web)


@hookimpl
def check_application(app):
    """The view files' problems: an unknown object, attribute, collection or view, at file:line."""
    if not _enabled(app, "web"):
        return []
    from caruso.config import structure_settings
    from caruso.errors import ConfigError
    from caruso.web.settings import WebSettings
    from caruso.web.views import check_application_views

    section = app.config.services.get("web")
    try:
        settings = (structure_settings(WebSettings, section.settings, config=app.config, service="web")
                    if section is not None and section.settings else WebSettings())
    except ConfigError as exc:
        return list(exc.problems)
    return check_application_views(app, settings.views)
