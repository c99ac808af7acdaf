"""The SMS channel as a plugin: the ``sms`` service (disable with ``[services.sms] enabled = false``)."""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.channels.plugin import channel_requires, communication_enabled
    from caruso.services.channels.sms.service import SmsChannel

    if not communication_enabled(app):
        return []
    return [ServiceDefinition("sms", SmsChannel,
                              requires=channel_requires(app, "storage", "clock", "communication", "history"))]
