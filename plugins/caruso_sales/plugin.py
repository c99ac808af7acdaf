"""The sales plugin's hooks: its models, its views and the ``sales`` service."""

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
    from caruso_sales.service import SalesService

    return [ServiceDefinition("sales", SalesService, requires=("bom", "clock"))]


@hookimpl
def register_report_sources(app):
    from caruso_sales.reports import Pipeline

    return [Pipeline]


@hookimpl
def register_reports(app):
    return [Path(__file__).parent / "reports"]


@hookimpl
def register_scripts(app):
    return [Path(__file__).parent / "scripts"]
