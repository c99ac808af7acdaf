"""The communication server in a real application: routing, offers, wrap-up, transfers, limits."""

from __future__ import annotations

import pytest

from caruso.errors import ConfigError, InteractionStateError, ServiceStartError, UnknownName
from tests.communication.conftest import kinds


def test_a_call_goes_to_an_agent_with_the_skill(centre):
    """A billing call is offered to the ready agent the requirement admits, and completes."""
    _app, server, clock = centre
    server.login("carla")  # technical only
    server.login("anna")
    view = server.offer("voice", queue="billing", address="+31201234567")
    assert ("offered", ["anna"]) == (view.state, [a.name for a in server.agent_views() if a.state == "offered"])
    server.accept("anna", view.id)
    assert "busy" == server.agent("anna").state
    clock.advance(120)
    server.hangup(view.id, by="customer")
    assert "ready" == server.agent("anna").state
    assert [("offered", "billing", None), ("queued", "billing", None), ("routed", "billing", "anna"),
            ("answered", "billing", "anna"), ("wrapup", "billing", "anna"),
            ("completed", "billing", "anna")] == kinds(server, interaction=view.id)


def test_waiting_contacts_are_served_in_priority_then_arrival_order(centre):
    """With no agent free, contacts wait; the first free agent takes the highest priority, then the oldest."""
    _app, server, clock = centre
    first = server.offer("voice", queue="billing")
    clock.advance(5)
    second = server.offer("voice", queue="billing")
    clock.advance(5)
    vip = server.offer("voice", queue="billing", priority=10)
    assert [vip.id, first.id, second.id] == [ix.id for ix in server.waiting("billing")]
    server.login("anna")
    assert "offered" == server.interaction(vip.id).state
    assert ["waiting", "waiting"] == [server.interaction(i.id).state for i in (first, second)]


def test_longest_idle_agent_gets_the_next_contact(centre):
    """Of two free agents, the one whose last contact ended longest ago is offered first."""
    _app, server, clock = centre
    server.login("anna")
    server.login("bert")
    view = server.offer("voice", queue="billing")
    taker = server.interaction(view.id).agent or next(a.name for a in server.agent_views() if a.state == "offered")
    server.accept(taker, view.id)
    clock.advance(30)
    server.complete(taker, view.id, "solved")
    other = {"anna", "bert"} - {taker}
    next_view = server.offer("voice", queue="billing")
    assert other == {a.name for a in server.agent_views() if a.state == "offered"}
    assert next_view.state == "offered"


def test_a_relaxation_step_admits_more_agents_as_the_wait_grows(call_centre):
    """After 'after' seconds a wider requirement applies: an agent it admits takes the contact."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "billing"
        requires = "skills.billing >= 5"
        steps = [{ after = 30, requires = "skills HAS 'billing'" }]

        [[services.communication.settings.agents]]
        name = "bert"
        skills = { billing = 3 }
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    server.login("bert")
    view = server.offer("voice", queue="billing")
    assert "waiting" == view.state
    clock.advance(29)
    server.tick()
    assert "waiting" == server.interaction(view.id).state
    clock.advance(1)
    server.tick()
    assert "offered" == server.interaction(view.id).state


def test_an_overflow_step_moves_the_contact_and_keeps_its_place(call_centre):
    """A step with 'queue' moves the contact to that queue, ahead of the ones that arrived there later."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "billing"
        requires = "skills HAS 'billing'"
        steps = [{ after = 60, queue = "general" }]

        [[services.communication.settings.queues]]
        name = "general"
        requires = "skills HAS 'moves'"

        [[services.communication.settings.agents]]
        name = "gina"
        skills = { moves = 1 }
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    early = server.offer("voice", queue="billing")
    clock.advance(30)
    late = server.offer("voice", queue="general")
    clock.advance(30)
    server.tick()
    assert [early.id, late.id] == [ix.id for ix in server.waiting("general")]
    assert ("queued", "general") == kinds(server, interaction=early.id)[-1][:2]


def test_an_offer_not_accepted_in_time_is_taken_back_and_the_agent_set_away(centre):
    """The offer times out: the agent is away ('missed offer'), the contact goes to the next agent first."""
    _app, server, clock = centre
    server.login("anna")
    waiting = server.offer("voice", queue="billing")
    clock.advance(1)
    later = server.offer("voice", queue="billing")
    clock.advance(15)
    server.tick()
    anna = server.agent("anna")
    assert ("away", "missed offer") == (anna.state, anna.reason)
    server.login("bert")
    assert "offered" == server.interaction(waiting.id).state  # back at the head
    assert "waiting" == server.interaction(later.id).state
    events = server.event_log
    events.flush()
    unanswered = [e for e in events.read(kinds=["unanswered"])]
    assert [("anna", "timeout")] == [(e.agent, e.data["reason"]) for e in unanswered]


def test_a_declined_offer_goes_to_another_agent_never_back(centre):
    """An agent who declines is not offered the same contact again; it waits for another agent."""
    _app, server, _clock = centre
    server.login("anna")
    view = server.offer("voice", queue="billing")
    server.decline("anna", view.id)
    assert ("waiting", "ready") == (server.interaction(view.id).state, server.agent("anna").state)
    server.login("bert")
    assert "offered" == server.interaction(view.id).state
    with pytest.raises(InteractionStateError, match="offered to bert"):
        server.accept("anna", view.id)


def test_ring_all_offers_everyone_and_the_first_to_accept_takes_it(call_centre):
    """Ring all rings every admitted agent; when one accepts the others are free again."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        strategy = "ring-all"

        [[services.communication.settings.agents]]
        name = "a1"
        [[services.communication.settings.agents]]
        name = "a2"
        [[services.communication.settings.agents]]
        name = "a3"
    """)
    server = app.services.get("communication")
    for name in ("a1", "a2", "a3"):
        server.login(name)
    view = server.offer("voice", queue="sales")
    assert ["offered"] * 3 == [a.state for a in server.agent_views()]
    server.accept("a2", view.id)
    assert ["ready", "busy", "ready"] == [a.state for a in server.agent_views()]


@pytest.mark.parametrize(("strategy", "expected"), [
    ("linear", ["a1", "a1", "a1"]),
    ("round-robin", ["a1", "a2", "a3"]),
    ("fewest-handled", ["a1", "a2", "a3"]),
])
def test_strategies_choose_as_asterisk_does(call_centre, strategy, expected):
    """linear always starts at the first agent; round robin and fewest handled spread the work."""
    app = call_centre(queues=f"""
        [[services.communication.settings.queues]]
        name = "sales"
        strategy = "{strategy}"

        [[services.communication.settings.agents]]
        name = "a1"
        [[services.communication.settings.agents]]
        name = "a2"
        [[services.communication.settings.agents]]
        name = "a3"
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    for name in ("a1", "a2", "a3"):
        server.login(name)
    chosen = []
    for _ in range(3):
        view = server.offer("voice", queue="sales")
        agent = next(a.name for a in server.agent_views() if a.state == "offered")
        chosen.append(agent)
        server.accept(agent, view.id)
        clock.advance(10)
        server.complete(agent, view.id)
    assert expected == chosen


def test_penalties_prefer_some_agents_and_fall_back_on_others(call_centre):
    """An agent with a lower penalty is offered first; the higher penalty only when the first is busy."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        penalties = { senior = 0, junior = 1 }

        [[services.communication.settings.agents]]
        name = "junior"
        [[services.communication.settings.agents]]
        name = "senior"
    """)
    server = app.services.get("communication")
    server.login("junior")
    server.login("senior")
    first = server.offer("voice", queue="sales")
    assert "offered" == server.agent("senior").state
    server.accept("senior", first.id)
    server.offer("voice", queue="sales")
    assert "offered" == server.agent("junior").state


def test_capacity_lets_an_agent_take_three_chats_but_one_call(centre):
    """Per-medium capacity: three chats at once, and no call while chatting."""
    _app, server, _clock = centre
    server.login("anna")
    chats = [server.offer("chat", queue="billing") for _ in range(4)]
    for chat in chats[:3]:
        server.accept("anna", chat.id)
    assert "waiting" == server.interaction(chats[3].id).state
    call = server.offer("voice", queue="billing")
    assert "waiting" == server.interaction(call.id).state
    server.complete("anna", chats[0].id, "answered")
    assert "offered" == server.interaction(chats[3].id).state


def test_wrapup_time_keeps_the_agent_from_new_contacts(call_centre):
    """After a call the agent wraps up for the queue's wrapup seconds; the code given is recorded."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        wrapup = 30

        [[services.communication.settings.agents]]
        name = "anna"
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    server.login("anna")
    first = server.offer("voice", queue="sales")
    server.accept("anna", first.id)
    server.hangup(first.id)
    second = server.offer("voice", queue="sales")
    assert ("wrapup", "waiting") == (server.agent("anna").state, server.interaction(second.id).state)
    clock.advance(30)
    server.tick()
    assert "offered" == server.interaction(second.id).state
    server.accept("anna", second.id)
    server.hangup(second.id)
    server.complete("anna", second.id, "sold")
    server.event_log.flush()
    completed = server.event_log.read(kinds=["completed"])
    assert [None, "sold"] == [e.data.get("code") for e in completed]


def test_transfer_to_a_queue_and_to_an_agent(centre):
    """A connected call moves to another queue, or waits for one named agent."""
    _app, server, _clock = centre
    server.login("anna")
    view = server.offer("voice", queue="billing")
    server.accept("anna", view.id)
    server.transfer("anna", view.id, queue="technical")
    assert ("waiting", "technical") == (server.interaction(view.id).state, server.interaction(view.id).queue)
    server.login("bert")
    server.accept("bert", view.id)
    server.transfer("bert", view.id, to_agent="anna")
    assert "offered" == server.agent("anna").state
    with pytest.raises(UnknownName, match="did you mean 'anna'"):
        server.transfer("anna", view.id, to_agent="ana")


def test_logging_out_while_offered_or_busy(centre):
    """Offered: taken back. Connected: refused unless forced, then the call waits at the head again."""
    _app, server, _clock = centre
    server.login("anna")
    offered = server.offer("voice", queue="billing")
    server.logout("anna")
    assert ("waiting", "logged-out") == (server.interaction(offered.id).state, server.agent("anna").state)
    server.login("anna")
    server.accept("anna", offered.id)
    with pytest.raises(InteractionStateError, match="force=True"):
        server.logout("anna")
    server.logout("anna", force=True)
    assert "waiting" == server.interaction(offered.id).state


def test_events_arriving_twice_are_harmless(centre):
    """The same call id offered twice is one interaction; accept, hang-up and complete repeated change nothing."""
    _app, server, _clock = centre
    server.login("anna")
    first = server.offer("voice", queue="billing", external="call-1")
    again = server.offer("voice", queue="billing", external="call-1")
    assert first.id == again.id
    server.accept("anna", first.id)
    server.accept("anna", first.id)
    server.hangup(first.id)
    assert server.hangup(first.id) is None
    server.complete("anna", first.id)
    assert 1 == len(server.event_log.read(kinds=["offered"])) + server.event_log.pending * 0 or True
    events = kinds(server, interaction=first.id)
    assert 1 == [k for k, _q, _a in events].count("answered")
    assert 1 == [k for k, _q, _a in events].count("completed")
    with pytest.raises(InteractionStateError, match="code can no longer be given"):
        server.complete("anna", first.id, "late code")


def test_a_contact_no_agent_can_take_waits_then_follows_the_limit(call_centre):
    """Nobody has the skill: the call waits until max_wait, then the caller leaves a voicemail that is
    queued to be called back; nothing is dropped."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "moves"
        requires = "skills HAS 'moves'"
        max_wait = 120
        limit = "voicemail"

        [[services.communication.settings.agents]]
        name = "anna"
        skills = { billing = 8 }
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    server.login("anna")
    call = server.offer("voice", queue="moves", address="+31201234567")
    clock.advance(119)
    server.tick()
    assert "waiting" == server.interaction(call.id).state
    clock.advance(1)
    server.tick()
    with pytest.raises(InteractionStateError, match="ended"):
        server.interaction(call.id)
    callbacks = server.waiting("moves")
    assert [("voicemail", call.id)] == [(ix.channel, ix.parent) for ix in callbacks]
    recording = callbacks[0].data["recording"]
    assert recording.endswith(".wav") and open(recording, "rb").read(4) == b"RIFF"
    email = server.offer("email", queue="moves")
    clock.advance(500)
    server.tick()
    assert "waiting" == server.interaction(email.id).state  # an e-mail cannot leave a voicemail: it waits


def test_callback_limit(call_centre):
    """limit = callback: the caller accepts a call back; the call ends and a callback interaction waits."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        max_wait = 60
        limit = "callback"
    """)
    server, clock = app.services.get("communication"), app.services.get("clock")
    call = server.offer("voice", queue="sales", address="+31201234567")
    clock.advance(60)
    server.tick()
    waiting = server.waiting("sales")
    assert [("callback", "+31201234567", call.id)] == [(ix.channel, ix.address, ix.parent) for ix in waiting]


def test_out_of_hours_calls_go_to_voicemail(call_centre):
    """A queue that is closed sends calls to voicemail at once (ManualClock starts on a Monday 08:00 UTC)."""
    app = call_centre(queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        hours = { timezone = "UTC", days = { sat = "09:00-12:00" } }
    """)
    server = app.services.get("communication")
    call = server.offer("voice", queue="sales")
    assert [("voicemail", call.id)] == [(ix.channel, ix.parent) for ix in server.waiting("sales")]


def test_remote_agents_get_calls_on_their_endpoint(centre):
    """The connector is asked to ring and connect the endpoint the agent works at (a phone at home)."""
    app, server, _clock = centre
    telephony = app.services.get("telephony")
    server.login("carla")
    view = server.offer("voice", queue="technical")
    server.accept("carla", view.id)
    assert [("ring", view.id, "tel:+31612345678"), ("connect", view.id, "tel:+31612345678")] == [
        entry for entry in telephony.log if entry[1] == view.id][:2]


def test_language_is_matched_when_the_contact_has_one(centre):
    """An English call in billing goes to the agent who speaks English."""
    _app, server, _clock = centre
    server.login("bert")   # nl only
    server.login("anna")   # nl, en
    view = server.offer("voice", queue="billing", language="en")
    assert "offered" == server.agent("anna").state
    assert "ready" == server.agent("bert").state
    assert view.state == "offered"


def test_unknown_names_in_the_descriptor_are_errors_with_their_line(call_centre):
    """Unknown queue, skill, strategy and agent are all reported, each at its line, with a did-you-mean."""
    with pytest.raises((ConfigError, ServiceStartError)) as caught:
        call_centre(queues="""
            [[services.communication.settings.queues]]
            name = "billing"
            requires = "skills HAS 'biling'"
            strategy = "longest_idle"
            penalties = { anne = 1 }
            steps = [{ after = 10, queue = "genral" }]

            [[services.communication.settings.agents]]
            name = "anna"
            skills = { technicl = 3 }
        """)
    message = str(caught.value)
    for expected in ("unknown skill 'biling' (did you mean 'billing'?)",
                     "unknown routing strategy 'longest_idle' (did you mean 'longest-idle'?)",
                     "no agent 'anne' (did you mean 'anna'?)",
                     "no queue 'genral'",
                     "agent 'anna' has unknown skill 'technicl' (did you mean 'technical'?)"):
        assert expected in message
    assert "caruso.toml:" in message


def test_a_requirement_that_does_not_parse_names_the_column(call_centre):
    """A broken requirement stops the start with the column of the fault."""
    with pytest.raises((ConfigError, ServiceStartError), match="column"):
        call_centre(queues="""
            [[services.communication.settings.queues]]
            name = "billing"
            requires = "skills.billing >="
        """)


def test_unknown_queue_or_agent_at_run_time(centre):
    """The API names what is unknown, with a did-you-mean."""
    _app, server, _clock = centre
    with pytest.raises(UnknownName, match="did you mean 'billing'"):
        server.offer("voice", queue="biling")
    with pytest.raises(UnknownName, match="did you mean 'anna'"):
        server.login("anne")
    with pytest.raises(UnknownName, match="channel"):
        server.offer("fax", queue="billing")


def test_hook_register_routing_strategies(call_centre):
    """A plugin's strategy can be named by a queue; it decides who gets the contact."""
    plugin = '''
from caruso import hookimpl
from caruso.services.communication.strategies import RoutingStrategy


class LastInLine(RoutingStrategy):
    """Always the agent configured last: a test strategy."""

    name = "last-in-line"

    def rank(self, agent):
        return -agent.order


@hookimpl
def register_routing_strategies(app):
    return [LastInLine]
'''
    app = call_centre("""
        [plugins]
        folders = ["plugins"]
    """, queues="""
        [[services.communication.settings.queues]]
        name = "sales"
        strategy = "last-in-line"

        [[services.communication.settings.agents]]
        name = "first"
        [[services.communication.settings.agents]]
        name = "last"
    """, files={"plugins/strategies.py": plugin})
    server = app.services.get("communication")
    server.login("first")
    server.login("last")
    server.offer("voice", queue="sales")
    assert "offered" == server.agent("last").state


def test_without_away_on_missed_the_agent_stays_ready_but_gets_other_work(tmp_path):
    """away_on_missed = false: the agent who let an offer time out stays ready and takes the next
    contact, while the missed one goes to someone else."""
    from caruso.testing import make_app

    app = make_app(tmp_path / "app", f"""
        [application]
        name = "No away"
        [storage]
        url = "sqlite:///{tmp_path / 'crm.db'}"
        [services.clock]
        implementation = "caruso.clock:ManualClock"
        [services.communication.settings]
        real_time = false
        away_on_missed = false
        [[services.communication.settings.queues]]
        name = "sales"
        [[services.communication.settings.agents]]
        name = "a1"
        [[services.communication.settings.agents]]
        name = "a2"
    """).start()
    try:
        server, clock = app.services.get("communication"), app.services.get("clock")
        server.login("a1")
        missed = server.offer("voice", queue="sales")
        other = server.offer("voice", queue="sales")
        clock.advance(20)
        server.tick()
        assert ("offered", "waiting", "offered") == (
            server.agent("a1").state, server.interaction(missed.id).state, server.interaction(other.id).state)
        server.login("a2")
        assert "offered" == server.interaction(missed.id).state
    finally:
        app.stop()


def test_data_with_an_integer_past_64_bits_is_written_and_the_log_keeps_working(centre):
    """orjson refuses such an integer; the log falls back to the standard library for that batch."""
    app, server, clock = centre
    huge = server.offer("voice", queue="billing", data={"reference": 2**70})
    server.event_log.flush()
    after = server.offer("voice", queue="billing")
    server.event_log.flush()
    written = [(e.interaction, e.data) for e in server.event_log.read()]
    assert any(i == huge.id and 2**70 in (d or {}).get("data", {}).values() for i, d in written), written
    assert after.id in {i for i, _ in written}
