"""The customers plugin's hooks: its models, its views and the ``customers`` service."""

from __future__ import annotations

from pathlib import Path

from caruso.hookspecs import hookimpl
from caruso.services.base import ServiceDefinition

MODELS = Path(__file__).parent / "models"
VIEWS = Path(__file__).parent / "views"


@hookimpl
def register_models(app):
    return [MODELS]


@hookimpl
def register_views(app):
    return [VIEWS]


@hookimpl
def register_services(app):
    from caruso_customers.service import CustomersService

    return [ServiceDefinition("customers", CustomersService, requires=("bom",))]
