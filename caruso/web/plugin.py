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
