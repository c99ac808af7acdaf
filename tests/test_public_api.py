"""The public API is exactly what caruso/__init__.py exports."""

import caruso

EXPECTED = {
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
}


def test_all_is_the_public_api():
    """Adding to the public API is a decision: this test makes it a visible one."""
    assert EXPECTED == set(caruso.__all__)


def test_every_exported_name_exists():
    """Each name in __all__ can be imported from caruso."""
    assert [] == [name for name in caruso.__all__ if not hasattr(caruso, name)]
