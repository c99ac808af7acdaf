"""The web chat as a plugin: the ``chat`` service (disable with ``[services.chat] enabled = false``)."""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.channels.chat.service import ChatChannel
    from caruso.services.channels.plugin import channel_requires, communication_enabled

    if not communication_enabled(app):
        return []
    requires = channel_requires(app, "storage", "clock", "communication", "history")
    section = app.config.services.get("scripts") if app is not None else None
    if section is None or section.enabled:
        requires = (*requires, "scripts")  # a self-service session escalates to chat with its answers
    return [ServiceDefinition("chat", ChatChannel, requires=requires)]
