"""What is wrong with the channels' settings, found without starting anything.

One place for the checks types cannot express: queues that do not exist,
routes for addresses the channel does not serve, a webhook without its
secret. ``caruso check`` reports them at their line in ``caruso.toml``
(``check_application``); each channel refuses to start on the same findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from caruso.errors import ConfigError, Problem

__all__ = ["channel_problems", "check_chat", "check_email", "check_sms"]

KeyPath = tuple[str | int, ...]


def check_email(settings: Any, queues: set[str]) -> Iterator[tuple[KeyPath, str]]:
    """The e-mail channel's findings as (key path under its settings, message)."""
    receiving = settings.smtp.port is not None or bool(settings.imap.host)
    addresses = {address.strip().lower() for address in settings.addresses}
    if receiving and not addresses:
        yield ("addresses",), "name the addresses mail is accepted for"
    if receiving and not queues:
        yield (), "the communication server has no queues for e-mail to wait in"
    for address, queue in settings.routes.items():
        if address.strip().lower() not in addresses:
            yield ("routes", address), f"{address!r} is not one of the addresses"
        if queues and queue not in queues:
            yield ("routes", address), f"no queue {queue!r}{_known(queues)}"
    yield from _queue(settings.queue, queues)


def check_chat(settings: Any, queues: set[str]) -> Iterator[tuple[KeyPath, str]]:
    """The chat channel's findings."""
    yield from _queue(settings.queue, queues)
    for index, queue in enumerate(settings.queues):
        if queues and queue not in queues:
            yield ("queues", index), f"no queue {queue!r}{_known(queues)}"


def check_sms(settings: Any, queues: set[str]) -> Iterator[tuple[KeyPath, str]]:
    """The SMS channel's findings."""
    if settings.port is not None and not settings.secret:
        yield ("secret",), "the webhook needs a shared secret to check signatures"
    yield from _queue(settings.queue, queues)


def _queue(queue: str | None, queues: set[str]) -> Iterator[tuple[KeyPath, str]]:
    if queue is not None and queues and queue not in queues:
        yield ("queue",), f"no queue {queue!r}{_known(queues)}"


def _known(queues: set[str]) -> str:
    return "; known: " + ", ".join(sorted(queues))


def raise_problems(service: str, findings: Iterator[tuple[KeyPath, str]]) -> None:
    """Refuse to start on the findings (what a channel's ``on_start`` calls)."""
    messages = [f"{'.'.join(str(k) for k in ('services', service, 'settings', *path))}: {message}"
                for path, message in findings]
    if messages:
        raise ConfigError("; ".join(messages))


def channel_problems(app: Any) -> list[Problem]:
    """Every channel's findings, located in the descriptor (the ``check_application`` hook)."""
    from caruso.config import locate_key, structure_settings
    from caruso.services.channels.chat.service import ChatSettings
    from caruso.services.channels.email.settings import EmailSettings
    from caruso.services.channels.sms.service import SmsSettings
    from caruso.services.communication.settings import CommunicationSettings

    config = app.config
    communication = config.services.get("communication")
    if communication is not None and not communication.enabled:
        return []
    try:
        server = structure_settings(CommunicationSettings, communication.settings if communication else {},
                                    config=config, service="communication")
    except ConfigError:
        return []  # the communication server's own check reports it
    queues = {queue.name for queue in server.queues}
    found: list[Problem] = []
    for service, cls, check in (("email", EmailSettings, check_email), ("chat", ChatSettings, check_chat),
                                ("sms", SmsSettings, check_sms)):
        section = config.services.get(service)
        if section is None or not section.enabled or section.implementation:
            continue
        try:
            settings = structure_settings(cls, section.settings, config=config, service=service)
        except ConfigError as exc:
            found.extend(exc.problems)
            continue
        for path, message in check(settings, queues):
            full = ("services", service, "settings", *path)
            line = locate_key(config.text, full) or locate_key(config.text, full[:-1]) or locate_key(
                config.text, ("services", service, "settings"))
            found.append(Problem(str(config.path), line, f"{'.'.join(str(k) for k in full)}: {message}"))
    return found
