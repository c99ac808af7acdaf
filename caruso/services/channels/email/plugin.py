"""The e-mail channel as a plugin: the ``email`` service.

Disable it with ``[services.email] enabled = false``, or swap it with
``implementation = "package.module:Class"`` (anything with ``send_mail`` and
the ``Channel`` methods; see docs/channels.md).
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.channels.email.service import EmailChannel
    from caruso.services.channels.plugin import channel_requires, communication_enabled

    if not communication_enabled(app):
        return []
    return [ServiceDefinition("email", EmailChannel,
                              requires=channel_requires(app, "storage", "clock", "communication", "history"))]
