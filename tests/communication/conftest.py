"""Fixtures: a real application (SQLite file, ManualClock) with a small call centre."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator

import pytest

from caruso.testing import make_app

BASE = """
[application]
name = "Call centre"

[storage]
url = "{url}"

[services.clock]
implementation = "caruso.clock:ManualClock"

[services.communication.settings]
skills = ["billing", "technical", "moves"]
languages = ["nl", "en"]
real_time = false
offer_timeout = 15
"""

QUEUES = """
[[services.communication.settings.queues]]
name = "billing"
requires = "skills HAS 'billing'"
strategy = "longest-idle"

[[services.communication.settings.queues]]
name = "technical"
requires = "skills HAS 'technical'"

[[services.communication.settings.agents]]
name = "anna"
skills = { billing = 8 }
languages = ["nl", "en"]

[[services.communication.settings.agents]]
name = "bert"
skills = { billing = 3, technical = 7 }
languages = ["nl"]

[[services.communication.settings.agents]]
name = "carla"
skills = { technical = 5 }
languages = ["en"]
location = "remote"
endpoint = "tel:+31612345678"
"""


@pytest.fixture
def call_centre(tmp_path) -> Callable[..., object]:
    """A factory: ``call_centre(extra_toml, queues=QUEUES, files=None, url=None)`` -> a started app.

    Every app it made is stopped at the end of the test.
    """
    started = []

    def make(extra: str = "", *, queues: str = QUEUES, files: dict | None = None, url: str | None = None,
             folder: str = "app"):
        url = url or f"sqlite:///{tmp_path / 'crm.db'}"
        descriptor = BASE.format(url=url) + textwrap.dedent(queues) + textwrap.dedent(extra)
        app = make_app(tmp_path / folder, descriptor, files)
        app.start()
        started.append(app)
        return app

    yield make
    for app in reversed(started):
        app.stop()


@pytest.fixture
def centre(call_centre) -> Iterator[tuple[object, object, object]]:
    """(app, communication server, clock) of the default call centre."""
    app = call_centre()
    yield app, app.services.get("communication"), app.services.get("clock")


def kinds(server, **filters) -> list[tuple]:
    """The written events as (kind, queue, agent) tuples, after flushing."""
    server.event_log.flush()
    return [(e.kind, e.queue, e.agent) for e in server.event_log.read()
            if all(getattr(e, k) == v for k, v in filters.items())]
