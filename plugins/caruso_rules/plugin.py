"""The rules plugin's hooks: the ``rules`` service and its checks for ``caruso check``."""

from __future__ import annotations

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_services(app):
    from caruso_rules.service import RulesService

    return [ServiceDefinition("rules", RulesService, requires=("storage", "bom", "clock"))]


@hookimpl
def check_application(app):
    from caruso_rules.service import check_application_rules

    return check_application_rules(app)
