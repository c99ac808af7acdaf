"""The script engine as a plugin: the ``scripts`` service, the built-in actions,
script checks for ``caruso check`` and the ``caruso script`` commands.

Built in, but wired through the same hooks as any plugin: an application can
replace the service (``[services.scripts] implementation = ...``) or any
built-in action (a plugin's ``register_actions`` returning one of the same name).
Components are imported when used: the command line imports every built-in
plugin to collect its commands.
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso.services.scripts.service import ScriptsService

    return [ServiceDefinition("scripts", ScriptsService, requires=("storage", "bom", "clock"))]


@hookimpl(trylast=True)
def register_actions(app):
    from caruso.services.scripts.actions import BUILTIN_ACTIONS

    return list(BUILTIN_ACTIONS)


@hookimpl
def check_application(app):
    from caruso.services.scripts.service import check_application_scripts

    return check_application_scripts(app)


@hookimpl
def register_commands(cli):
    from caruso.services.scripts.commands import script

    cli.add_command(script)
