"""The script engine as a plugin: the ``scripts`` service, the built-in actions,
script checks for ``caruso check`` and the ``caruso script`` commands.

Built in, but wired through the same hooks as any plugin: an application can
replace the service (``[services.scripts] implementation = ...``) or any
built-in action (a plugin's ``register_actions`` returning one of the same name).
"""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition
from caruso.services.scripts.actions import BUILTIN_ACTIONS
from caruso.services.scripts.service import ScriptsService


@hookimpl
def register_services(app):
    return [ServiceDefinition("scripts", ScriptsService, requires=("storage", "bom", "clock"))]


@hookimpl(trylast=True)
def register_actions(app):
    return list(BUILTIN_ACTIONS)


@hookimpl
def check_application(app):
    from caruso.services.scripts.service import check_application_scripts

    return check_application_scripts(app)


@hookimpl
def register_commands(cli):
    from caruso.services.scripts.commands import script

    cli.add_command(script)
