"""The docs keep up with the code: every error, command and README command is covered."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import caruso.errors
from caruso.cli import command_line

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def _error_classes():
    return sorted(
        name
        for name, obj in vars(caruso.errors).items()
        if not name.startswith("_") and inspect.isclass(obj) and (issubclass(obj, caruso.errors.CarusoError) or obj is caruso.errors.Problem)
    )


def test_every_error_is_explained():
    """docs/errors.md has a section for every error class a user can meet."""
    headings = set(re.findall(r"^## (\w+)$", (DOCS / "errors.md").read_text(), re.M))
    assert [] == [name for name in _error_classes() if name not in headings]


def test_every_error_is_in_the_hierarchy_drawing():
    """The docstring of caruso/errors.py draws every error class."""
    drawing = caruso.errors.__doc__
    assert [] == [name for name in _error_classes() if name != "Problem" and name not in drawing]


def test_every_command_is_documented():
    """docs/cli.md mentions every top-level command, the plugins' included."""
    text = (DOCS / "cli.md").read_text() + "".join(p.read_text() for p in DOCS.glob("*.md"))
    assert [] == [name for name in command_line().commands if f"caruso {name}" not in text]


def test_links_between_docs_resolve():
    """Every relative Markdown link in README.md and docs/ points at a file that exists."""
    broken = []
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert [] == broken


def test_ci_runs_the_readme_test_command():
    """.ci/run extracts exactly the README's test command (the one line after the marker)."""
    command = subprocess.run(
        ["awk", '/<!-- test-command -->/{found=1; next} found && !/^```/ && NF {print; exit}', "README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert command.endswith("python -m pytest")
    assert "awk '/<!-- test-command -->/" in (ROOT / ".ci" / "run").read_text()


def test_readme_python_example_runs():
    """The Python snippet in README.md runs as written, from the repository root."""
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    result = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (0, "") == (result.returncode, result.stderr)
