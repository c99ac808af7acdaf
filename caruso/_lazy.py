"""Packages whose public names are imported on first use (PEP 562).

The command line imports every built-in plugin to collect its commands; a
plugin module inside a package runs the package's ``__init__`` first. Packages
that re-export heavy modules (SQLAlchemy's ORM, Alembic) use this so that
importing their light plugin module does not pull the heavy ones in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from ``package.<exports[name]>``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
