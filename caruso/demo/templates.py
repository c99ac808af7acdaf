"""The vertical templates (``examples/utility``, ``examples/banking``) and copying one into a
new application folder.

A template is an ordinary application folder with, beside it, a ``demo_data.py`` that fills
it with demo data (``generate``) and names the demo's logins (``DEMO_USERS``). Copying never
overwrites: the target must not exist, and the copy is made next to it under a temporary
name and renamed at the end, so a failed copy leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

from caruso.errors import TemplateError, did_you_mean

__all__ = ["TEMPLATES", "create", "demo_module", "template_folder"]

TEMPLATES = ("utility", "banking")
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
"""Where the templates ship: the ``examples`` folder of the source checkout."""

_LEFT_OUT = shutil.ignore_patterns("*.db", "*.db-journal", "*.db-wal", "*.db-shm", "__pycache__", "*.pyc",
                                   ".caruso", ".pytest_cache")
"""What a copy leaves out: databases and caches of a template that was run in place."""


def template_folder(name: str) -> Path:
    """The folder of the template ``name``.

    Raises:
        TemplateError: no such template, or the templates are not where Caruso is installed.
    """
    if name not in TEMPLATES:
        raise TemplateError(f"no template {name!r}{did_you_mean(name, TEMPLATES)}; "
                            f"choose one of: {', '.join(TEMPLATES)}")
    folder = EXAMPLES / name
    if not (folder / "caruso.toml").is_file():
        raise TemplateError(f"the template {name!r} is not at {folder}: the templates ship with Caruso's "
                            "source; install it from a checkout (pip install -e .)")
    return folder


def create(template: str, target: Path) -> Path:
    """Copy the template into the new folder ``target``; the folder.

    Raises:
        TemplateError: ``target`` exists (nothing is overwritten), or no such template.
    """
    source = template_folder(template)
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise TemplateError(f"{target} exists already; caruso new creates a new folder and overwrites "
                            "nothing - choose another name or remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(source, staging / "app", ignore=_LEFT_OUT)
        (staging / "app").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def demo_module(folder: Path) -> ModuleType:
    """The application's ``demo_data.py`` (``generate`` and ``DEMO_USERS``).

    Raises:
        TemplateError: the folder has none.
    """
    path = Path(folder) / "demo_data.py"
    if not path.is_file():
        raise TemplateError(f"{path} does not exist: only an application made from a template has demo data")
    spec = importlib.util.spec_from_file_location(f"caruso_demo_data_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("generate", "DEMO_USERS"):
        if not hasattr(module, name):
            raise TemplateError(f"{path} has no {name}; a template's demo_data.py defines generate() and DEMO_USERS")
    return module
