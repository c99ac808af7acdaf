"""Caruso: compose a CRM front office from swappable services.

The public API is exactly what ``__all__`` lists; everything else may change.
The names are imported on first use (``caruso._lazy``), so a command that needs
only part of Caruso (``caruso script check``) does not load the rest.
"""

from caruso._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Application": "app",
    "CarusoError": "errors",
    "Clock": "clock",
    "Health": "services.base",
    "LegacyService": "services.legacy",
    "ManualClock": "clock",
    "Problem": "errors",
    "Service": "services.base",
    "ServiceContext": "services.base",
    "ServiceDefinition": "services.base",
    "ServiceManager": "services.manager",
    "SystemClock": "clock",
    "hookimpl": "hookspecs",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

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
