"""Caruso: compose a CRM front office from swappable services.

The public API is exactly what ``__all__`` lists; everything else may change.
"""

from caruso.app import Application
from caruso.clock import Clock, ManualClock, SystemClock
from caruso.errors import CarusoError, Problem
from caruso.hookspecs import hookimpl
from caruso.services.base import Health, Service, ServiceContext, ServiceDefinition
from caruso.services.legacy import LegacyService
from caruso.services.manager import ServiceManager

__version__ = "0.1.0"

__all__ = [
    "Application",
    "CarusoError",
    "Clock",
    "Health",
    "LegacyService",
    "ManualClock",
    "Problem",
    "Service",
    "ServiceContext",
    "ServiceDefinition",
    "ServiceManager",
    "SystemClock",
    "hookimpl",
    "__version__",
]
