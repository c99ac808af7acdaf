"""The model format's documentation keeps up with its DTD."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from caruso.xml import Schema

DOCS = Path(__file__).parent.parent.parent / "docs"
DTD = Schema.named("bom.dtd").dtd


@pytest.mark.parametrize("element", [e.name for e in DTD.iterelements()])
def test_every_element_and_attribute_is_documented(element):
    """docs/models.md names every element of bom.dtd and every attribute it takes."""
    text = (DOCS / "models.md").read_text()
    assert f"`<{element}>`" in text
    [declared] = [e for e in DTD.iterelements() if e.name == element]
    missing = [a.name for a in declared.iterattributes() if f"`{a.name}`" not in text]
    assert [] == missing


def test_legacy_guide_commands_exist():
    """The legacy guide's reflect options are real options of `caruso bom reflect`."""
    from caruso.bom.plugin import reflect

    text = (DOCS / "legacy-database.md").read_text()
    used = set(re.findall(r"(--[a-z-]+)", text))
    known = {opt for param in reflect.params for opt in getattr(param, "opts", ())}
    assert set() == used - known
