"""The marketing plugin's hooks: its models, its views and the ``marketing`` service."""

from __future__ import annotations

from pathlib import Path

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition


@hookimpl
def register_views(app):
    return [Path(__file__).parent / "views"]


@hookimpl
def register_models(app):
    return [Path(__file__).parent / "models"]


@hookimpl
def register_services(app):
    from caruso_marketing.service import MarketingService

    # After the communication server (its call campaigns report back), unless the application disabled it.
    section = app.config.services.get("communication") if app is not None else None
    server = () if section is not None and not section.enabled else ("communication",)
    return [ServiceDefinition("marketing", MarketingService, requires=("bom", "clock", *server))]


@hookimpl
def register_report_sources(app):
    from caruso_marketing.reports import CampaignResponses

    return [CampaignResponses]


@hookimpl
def register_reports(app):
    return [Path(__file__).parent / "reports"]
