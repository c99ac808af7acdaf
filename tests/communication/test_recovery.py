"""Nothing is lost: crash recovery from the event log, a database outage, the log on every backend."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from caruso.errors import EventLogUnavailable
from caruso.testing import make_app
from tests.communication.conftest import BASE, QUEUES


def _app(folder, url, extra=""):
    return make_app(folder, BASE.format(url=url) + QUEUES + extra)


def test_after_a_crash_waiting_interactions_are_back_in_order(tmp_path):
    """A server that dies without stopping: at the next start every unfinished interaction is
    waiting again in its queue, in its old order, and logged-in agents are logged out."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = _app(tmp_path / "app", url).start()
    server = first.services.get("communication")
    server.login("anna")
    answered = server.offer("voice", queue="billing")          # offered to anna
    server.accept("anna", answered.id)
    waiting = [server.offer("email", queue="technical", subject=f"mail {n}") for n in range(3)]
    vip = server.offer("email", queue="technical", priority=5)
    done = server.offer("voice", queue="technical")
    server.hangup(done.id)                                      # abandoned: finished
    server.event_log.flush()
    # the crash: no stop(), the process is gone; only the database remains
    second = _app(tmp_path / "app2", url).start()
    try:
        restarted = second.services.get("communication")
        assert [vip.id] + [w.id for w in waiting] == [ix.id for ix in restarted.waiting("technical")]
        assert ["mail 0", "mail 1", "mail 2"] == [ix.subject for ix in restarted.waiting("technical")][1:]
        assert [answered.id] == [ix.id for ix in restarted.waiting("billing")]
        assert "logged-out" == restarted.agent("anna").state
        restarted.event_log.flush()
        logged_out = restarted.event_log.read(kinds=["agent"])[-1]
        assert ("anna", "logged-out", "restart") == (logged_out.agent, logged_out.data["state"], logged_out.data["reason"])
        restarted.login("anna")
        assert "offered" == restarted.interaction(answered.id).state
    finally:
        second.stop()
        first.stop()


def test_a_contact_delivered_again_after_a_restart_is_recognised(tmp_path):
    """The channel's own id is found in the log after a restart: the same interaction, not a second."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    first = _app(tmp_path / "app", url).start()
    original = first.services.get("communication").offer("email", queue="billing", external="<m1@example.com>")
    first.stop()
    second = _app(tmp_path / "app2", url).start()
    try:
        again = second.services.get("communication").offer("email", queue="billing", external="<m1@example.com>")
        assert original.id == again.id
        assert 1 == len(second.services.get("communication").waiting("billing"))
    finally:
        second.stop()


def test_a_locked_database_buffers_events_then_refuses_new_interactions(tmp_path):
    """While another process holds the SQLite file locked, events stay in memory (health degraded);
    past max_buffered new interactions are refused; once the lock goes every event is written."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    extra = """
[services.storage.settings]
sqlite_timeout = 0.05

[services.communication.settings.event_log]
max_buffered = 20
"""
    app = _app(tmp_path / "app", url, extra).start()
    try:
        server = app.services.get("communication")
        server.offer("email", queue="billing")
        locker = sqlite3.connect(tmp_path / "crm.db", timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        accepted = []
        with pytest.raises(EventLogUnavailable, match="new interactions are refused") as refused:
            for n in range(50):
                accepted.append(server.offer("email", queue="billing", subject=str(n)))
        assert refused.value.buffered >= 20
        assert "degraded" == server.health().status
        server.login("anna")  # work on what was accepted goes on
        locker.rollback()
        locker.close()
        server.tick()
        assert (0, "ok") == (server.event_log.pending, server.health().status)
        offered = server.event_log.read(kinds=["offered"])
        assert 1 + len(accepted) == len(offered)
        assert [ev.seq for ev in server.event_log.read()] == sorted(ev.seq for ev in server.event_log.read())
        server.offer("email", queue="billing")  # accepted again
    finally:
        app.stop()


def test_the_event_log_is_the_same_on_every_backend(tmp_path, database_url):
    """The same call writes the same events on SQLite, PostgreSQL and MariaDB, read back exactly."""
    app = _app(tmp_path / "app", database_url).start()
    try:
        server = app.services.get("communication")
        clock = app.services.get("clock")
        server.login("anna")
        view = server.offer("voice", queue="billing", address="+31 20 123 4567", data={"note": "ü €", "n": 1.5})
        server.accept("anna", view.id)
        clock.advance(61.25)
        server.complete("anna", view.id, "paid")
        server.event_log.flush()
        events = [e for e in server.event_log.read() if e.interaction == view.id]
        assert ["offered", "queued", "routed", "answered", "wrapup", "completed"] == [e.kind for e in events]
        assert {"note": "ü €", "n": 1.5} == events[0].data["data"]
        assert 61.25 == pytest.approx(events[-1].at - events[3].at, abs=1e-3)
        assert {"handle": 61.25, "code": "paid"} == events[-1].data
        with app.services.get("storage").transaction() as connection:
            count = connection.execute(sa.text("SELECT COUNT(*) FROM caruso_event")).scalar()
        assert len(server.event_log.read()) == count
    finally:
        app.stop()


def test_a_restart_on_every_backend_finds_the_log_as_it_left_it(tmp_path, database_url):
    """The second start on the same database sees no schema change (MariaDB reads FLOAT(53) back as DOUBLE)
    and puts the waiting call back in its queue."""
    first = _app(tmp_path / "app", database_url).start()
    try:
        waiting = first.services.get("communication").offer("voice", queue="billing", external="call-1").id
    finally:
        first.stop()
    second = _app(tmp_path / "app2", database_url).start()
    try:
        assert [waiting] == [view.id for view in second.services.get("communication").waiting("billing")]
        assert () == second.services.get("storage").status().changes
    finally:
        second.stop()
