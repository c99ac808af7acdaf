"""Fixtures of the application's own tests: the application, started from a copy of its folder.

Run them from the repository root with ``python -m pytest examples/insurance/tests``. Each
test module gets its own copy of the application folder in a temporary directory (so the
SQLite file and the web secret never land in the real folder) and its own free port for the
stand-in PAS, passed in the environment variable PAS_URL that caruso.toml reads.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from caruso import Application

APP = Path(__file__).resolve().parent.parent
LEFT_OUT = shutil.ignore_patterns("tests", "*.db", "*.db-*", ".caruso", "__pycache__", ".pytest_cache")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def copy_app(target: Path) -> Path:
    """The application folder, copied to ``target`` without its tests and its data."""
    shutil.copytree(APP, target, ignore=LEFT_OUT)
    return target


def free_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(scope="module")
def pas_url():
    """A free address for the stand-in PAS, in PAS_URL for the whole module."""
    patch = pytest.MonkeyPatch()
    url = free_url()
    patch.setenv("PAS_URL", url)
    yield url
    patch.undo()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, pas_url):
    return copy_app(tmp_path_factory.mktemp("app") / "insurance")


@pytest.fixture(scope="module")
def app(folder):
    """The started application: tables created, the PAS's portfolio copied in."""
    with Application.from_folder(folder) as started:
        started.services.get("storage").upgrade()
        started.services.get("portfolio").sync_all()
        yield started


@pytest.fixture
def walk(app):
    """Walk a dialogue script with recorded answers; returns the last view.

    Information items are acknowledged on their own, so ``answers`` holds only what the
    person says, in the order the questions come.
    """
    scripts = app.services.get("scripts")

    def walk_script(script: str, answers: list, **start):
        view = scripts.start_session(script, **start)
        pending = list(answers)
        while view.status == "active":
            if view.kind == "info":
                view = scripts.answer(view.session_id, None)
                continue
            assert pending, f"the script asks {view.step!r} ({view.prompt}), but no answer is left"
            view = scripts.answer(view.session_id, pending.pop(0))
            assert view.error is None, f"{view.step}: {view.error}"
        assert [] == pending, f"answers left over at the end {view.step!r}"
        return view

    return walk_script


@pytest.fixture
def objects(app):
    """The business objects of one class, as dicts: ``objects("Claim", status="registered")``."""
    bom = app.services.get("bom")

    def select(name: str, **where):
        with bom.session() as session:
            return [found.to_dict() for found in session.scalars(bom.model[name].select(**where))]

    return select


class Browser:
    """Starlette's test client on the front office, keeping the CSRF token of the last page."""

    def __init__(self, app: Application):
        self.http = TestClient(app.services.get("web").asgi, base_url="http://front.test", follow_redirects=False)
        self.csrf = ""

    def page(self, path: str):
        response = self.http.get(path)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict | None = None):
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})})

    def login(self, name: str, password: str) -> Browser:
        self.page("/login")
        self.post("/login", {"name": name, "password": password})
        self.page("/login")
        return self


@pytest.fixture
def browser(app):
    made = []

    def open_as(name: str, password: str) -> Browser:
        made.append(Browser(app).login(name, password))
        return made[-1]

    yield open_as
    for opened in made:
        opened.http.close()


@pytest.fixture
def fresh_folder(tmp_path, pas_url, monkeypatch):
    """A copy of the application folder of this test alone, with no database yet and a PAS
    address of its own (the module's application may still be running on the other one)."""
    monkeypatch.setenv("PAS_URL", free_url())
    return copy_app(tmp_path / "insurance")
