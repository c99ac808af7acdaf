"""The service plugin's hooks: its models, its views, its SLA rule, its action and the two services."""

from __future__ import annotations

from pathlib import Path

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition

HERE = Path(__file__).parent


@hookimpl
def register_views(app):
    return [HERE / "views"]


@hookimpl
def register_models(app):
    return [HERE / "models"]


@hookimpl
def register_rules(app):
    return [HERE / "rules"]


@hookimpl
def register_actions(app):
    from caruso.services.scripts.actions import ActionDefinition, Parameter
    from caruso_service.desk import escalate_request, start_request_sla

    return [ActionDefinition("escalate_request", escalate_request, ("request", Parameter("reason", required=False)),
                             "move a service request one level of responsibility up (the service plugin)"),
            ActionDefinition("start_request_sla", start_request_sla, ("request",),
                             "give a request made outside the service desk its front-office deadline")]


@hookimpl
def register_services(app):
    from caruso_service.desk import ServiceDesk
    from caruso_service.knowledge import KnowledgeBase

    return [ServiceDefinition("service-desk", ServiceDesk, requires=("bom", "clock", "rules")),
            ServiceDefinition("knowledge", KnowledgeBase, requires=("bom", "service-desk"))]


@hookimpl
def register_report_sources(app):
    from caruso_service.reports import ServiceRequests

    return [ServiceRequests]


@hookimpl
def register_reports(app):
    return [HERE / "reports"]


@hookimpl
def register_scripts(app):
    return [HERE / "scripts"]
