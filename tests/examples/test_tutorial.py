"""docs/tutorial.md builds examples/insurance: what it shows is what the repository holds, and it works.

The tutorial marks every block that shows a file with a comment on the line before the fence:
``<!-- file: examples/insurance/models/insurance.xml -->`` (the block is the whole file) or
``<!-- excerpt: examples/insurance/caruso.toml -->`` (the block's lines appear in the file, in a
row). These tests read those markers, compare, then build and run the application from a copy.
"""

from __future__ import annotations

import re
import shutil
import socket
from datetime import date, timedelta
from pathlib import Path

import pytest

from caruso import Application
from caruso.testing import run_cli

ROOT = Path(__file__).resolve().parent.parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
APP = ROOT / "examples" / "insurance"
SHOWN = re.compile(r"^<!-- (file|excerpt): (\S+) -->\n(`{3,})[^\n]*\n(.*?)^\3$", re.MULTILINE | re.DOTALL)


def _shown():
    return [(kind, path, block) for kind, path, _, block in SHOWN.findall(TUTORIAL.read_text(encoding="utf-8"))]


def _app_files():
    return sorted(
        str(path.relative_to(ROOT)) for path in APP.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and ".caruso" not in path.parts
        and path.suffix not in (".db", ".pyc") and not path.name.endswith((".db-wal", ".db-shm"))
    )


def _copy(target: Path) -> Path:
    ignore = shutil.ignore_patterns("*.db", "*.db-*", ".caruso", "__pycache__", ".pytest_cache")
    shutil.copytree(APP, target, ignore=ignore)
    return target


@pytest.fixture
def pas_url(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("PAS_URL", url)
    return url


def test_the_tutorial_marks_the_files_it_shows():
    """The markers are found, and each names a file under examples/insurance."""
    shown = _shown()
    assert len(shown) >= 20
    assert [] == [path for _, path, _ in shown if not path.startswith("examples/insurance/")]


def test_every_file_the_tutorial_shows_exists_with_that_content():
    """A whole-file block equals the file; an excerpt's lines appear in the file in a row."""
    wrong = []
    for kind, path, block in _shown():
        target = ROOT / path
        if not target.is_file():
            wrong.append(f"{path}: no such file")
            continue
        text = target.read_text(encoding="utf-8")
        if kind == "file" and block != text:
            wrong.append(f"{path}: the tutorial's block differs from the file")
        if kind == "excerpt" and block not in text:
            wrong.append(f"{path}: the tutorial's excerpt is not in the file")
    assert [] == wrong


def test_every_file_of_the_application_is_shown_in_the_tutorial():
    """Nothing of the application is left unexplained: each file is shown whole at least once."""
    whole = {path for kind, path, _ in _shown() if kind == "file"}
    assert [] == [path for path in _app_files() if path not in whole]


def test_caruso_check_passes_on_the_application(tmp_path, pas_url):
    """Step 6 starts with it; run on a copy so the real folder gets no database."""
    result = run_cli("check", str(_copy(tmp_path / "insurance")))
    assert (0, "ok (18 services)") == (result.exit_code, result.output.strip().rsplit(": ", 1)[-1])


def test_the_application_starts_and_a_claim_is_reported_to_the_end(tmp_path, pas_url):
    """From a copy: tables, the PAS's portfolio, then a client's claim in self-service."""
    with Application.from_folder(_copy(tmp_path / "insurance")) as app:
        app.services.get("storage").upgrade()
        app.services.get("portfolio").sync_all()
        bom, scripts = app.services.get("bom"), app.services.get("scripts")
        with bom.session() as session:
            marieke = session.scalars(bom.Customer.select(number="C10042")).one().id
        view = scripts.start_session("claim-notification", mode="self-service", customer=marieke, channel="web")
        answers = iter(["AU-100231", "fire", (date.today() - timedelta(days=3)).isoformat(),
                        "A pan caught fire in the kitchen; the cooker hood is lost.", 750, "yes"])
        while view.status == "active":
            view = scripts.answer(view.session_id, None if view.kind == "info" else next(answers))
            assert view.error is None
        assert ("ended", "resolved") == (view.status, view.outcome)
        with bom.session() as session:
            (claim,) = session.scalars(bom.Claim.select()).all()
            assert ("registered", "web", "fire") == (claim.status, claim.channel, claim.cause)
            assert claim.number in view.prompt


def test_the_applications_own_tests_pass(tmp_path):
    """Step 6: examples/insurance/tests, run by pytest on a copy of the folder."""
    folder = _copy(tmp_path / "tutorial" / "insurance")
    # rootdir one level up: the copy's conftest is then the module insurance.tests.conftest, not
    # tests.conftest, which is the repository's own and already imported in this process
    code = pytest.main([str(folder / "tests"), "-q", "-p", "no:cacheprovider", "--rootdir", str(folder.parent),
                        "--import-mode=importlib", "-W", "ignore::DeprecationWarning"])
    assert pytest.ExitCode.OK == code
