"""The guides' screenshots are taken from the real front office by docs/screenshots.py; this keeps
that program working (it writes into a temporary folder, not into docs/images)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parent.parent.parent / "docs" / "screenshots.py"


def test_the_screenshots_of_the_guides_can_be_taken_again(tmp_path, chromium):
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.take(tmp_path, chromium)
    assert [p.name for p in written] == list(module.SHOTS)
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, path
    docs = "".join(p.read_text() for p in (SCRIPT.parent).glob("*.md"))
    assert [] == [name for name in module.SHOTS if f"images/{name}" not in docs]  # every one is shown
