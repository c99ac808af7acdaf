"""The communication server as a plugin: the ``communication`` and ``telephony`` services,
the built-in routing strategies, descriptor checks for ``caruso check``, and the commands
``caruso simulate`` and ``caruso events``.

Built in, but wired through the same hooks as any plugin: a PBX connector replaces
``telephony`` (``[services.telephony] implementation = ...``, or a plugin registering a
service of that name), a plugin adds routing strategies, and the whole server can be
replaced. Components are imported when used.
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.communication.connectors import SimulatedTelephony, TelephonyConnector
    from caruso.services.communication.server import CommunicationServer

    requires = ["storage", "clock", "telephony"]
    for optional in ("bom", "scripts"):  # used when present: identification, the IVR
        section = app.config.services.get(optional) if app is not None else None
        if section is None or section.enabled:
            requires.append(optional)
    return [
        ServiceDefinition("telephony", SimulatedTelephony, provides=(TelephonyConnector,)),
        ServiceDefinition("communication", CommunicationServer, requires=tuple(requires)),
    ]


@hookimpl(trylast=True)
def register_routing_strategies(app):
    from caruso.services.communication.strategies import BUILTIN_STRATEGIES

    return list(BUILTIN_STRATEGIES)


@hookimpl
def check_application(app):
    from caruso.services.communication.checks import check_application_communication

    return check_application_communication(app)


@hookimpl
def register_commands(cli):
    from caruso.services.communication.commands import events, simulate

    cli.add_command(simulate)
    cli.add_command(events)
