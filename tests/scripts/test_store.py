"""Sessions in storage: compact JSON in one row, revisions against lost updates, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from caruso.errors import ScriptError, SessionNotFound
from caruso.services.scripts.state import SessionState
from caruso.services.scripts.store import SessionStore
from caruso.storage.manager import Storage

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url):
    """A session store on a fresh database of each backend, its table created."""
    storage = Storage(database_url)
    sessions = SessionStore(storage)
    sessions.register()
    storage.upgrade()
    yield sessions
    storage.close()


def state(session_id: str = "s1", **changes) -> SessionState:
    values = dict(id=session_id, script="move", version="1", mode="agent", language="en", step="date",
                  answers={"email": "ada@example.com", "date": date(2026, 5, 1), "amount": Decimal("12.50")},
                  context={"customer_id": 7, "channel": "web"}, trail=["email"])
    values.update(changes)
    return SessionState(**values)


def test_a_session_is_stored_and_loaded_whole(store):
    """Every field comes back as it went in, dates and decimals with their types."""
    store.insert(state(), NOW)
    loaded = store.load("s1")
    assert (state(), 1, NOW) == (loaded.state, loaded.revision, loaded.created)


def test_saving_advances_the_revision_and_refuses_a_stale_one(store):
    """A save over the loaded revision succeeds; a second save over the same revision is refused."""
    store.insert(state(), NOW)
    assert 2 == store.save(state(step="done", status="ended"), 1, NOW)
    with pytest.raises(ScriptError, match="changed on another channel"):
        store.save(state(step="request"), 1, NOW)
    assert ("done", 2) == (store.load("s1").state.step, store.load("s1").revision)


def test_unknown_sessions(store):
    """Loading or saving a session that is not stored raises SessionNotFound."""
    with pytest.raises(SessionNotFound):
        store.load("missing")
    with pytest.raises(SessionNotFound):
        store.save(state("missing"), 1, NOW)


def test_sessions_are_found_by_customer_and_status(store):
    """ids() filters on the columns kept beside the JSON."""
    store.insert(state("a"), NOW)
    store.insert(state("b", status="ended", context={"customer_id": 8}), NOW)
    assert (["a"], ["b"], ["b"]) == (
        list(store.ids(customer="7")), list(store.ids(status="ended")), list(store.ids(customer="8")))


def test_caller_data_shaped_like_a_type_tag_comes_back_unchanged():
    """A context dict such as {"$decimal": "n/a"} (from a web form) round-trips as the same dict."""
    state = SessionState(id="s1", script="move", version="1", mode="agent", language="en", step="a",
                         context={"form": {"$decimal": "n/a"}, "ref": {"$date": "2026-01-31"}},
                         answers={"amount": Decimal("12.50"), "day": date(2026, 1, 31)})
    again = SessionState.from_json(state.to_json())
    assert (state.context, state.answers) == (again.context, again.answers)


def test_a_damaged_stored_state_is_a_script_error():
    """A state that cannot be read raises ScriptError, not a decoding error from deep inside."""
    with pytest.raises(ScriptError, match="a stored session state cannot be read"):
        SessionState.from_json('{"id":"s1","answers":{"x":{"$decimal":"not a number"}}}')
