"""The contact history as a plugin: the ``history`` service every channel records messages in,
the ``caruso outbox`` command showing what the channels have not yet sent, and the channels'
findings for ``caruso check``.

Built in like the channels themselves; a CRM plugin that keeps activities in
its own business objects replaces it by registering a service named
``history`` with the same ``record`` / ``for_customer`` methods, or by naming
an implementation in ``[services.history]``.
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.channels.history import HistoryService

    return [ServiceDefinition("history", HistoryService)]


@hookimpl
def check_application(app):
    from caruso.services.channels.checks import channel_problems

    return channel_problems(app)


@hookimpl
def register_commands(cli):
    from caruso.services.channels.commands import outbox

    cli.add_command(outbox)


def communication_enabled(app) -> bool:
    """Channels feed the communication server: without it they are not registered at all."""
    section = app.config.services.get("communication") if app is not None else None
    return section is None or section.enabled


def channel_requires(app, *required: str) -> tuple[str, ...]:
    """A channel's requirements, with ``bom`` when it is enabled (customers are identified there)."""
    requires = list(required)
    section = app.config.services.get("bom") if app is not None else None
    if section is None or section.enabled:
        requires.append("bom")
    return tuple(requires)
