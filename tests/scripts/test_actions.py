"""The built-in actions and the action contract: arguments, services, requests for other components."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from caruso.clock import ManualClock
from caruso.errors import ActionFailed, ScriptError
from caruso.services.manager import ServiceManager
from caruso.services.scripts.actions import (
    BUILTIN_ACTIONS,
    ActionContext,
    ActionDefinition,
    Parameter,
    check_arguments,
)
from caruso.services.scripts.model import Where
from caruso.services.scripts.state import SessionState

from .test_interpreter import ACTIONS, make, read


class Mailer:
    """A stand-in e-mail channel that keeps what it was asked to send."""

    def __init__(self):
        self.sent = []

    def send_mail(self, to, subject, text, *, customer=None, interaction=None):
        self.sent.append((to, subject, text, customer))


class Texter:
    """A stand-in SMS channel that keeps what it was asked to send and refuses what is no number."""

    def __init__(self):
        self.sent = []

    def send_sms(self, to, text, *, customer=None, interaction=None):
        if not to.startswith("+"):
            raise ValueError(f"{to!r} is not a phone number")
        self.sent.append((to, text, customer))


@attrs.frozen
class Balance:
    amount: int
    currency: str


class Billing:
    """A legacy wrapper: plain methods, one returning an attrs value."""

    def balance(self, account):
        return Balance(amount=-120 if account == "A-1" else 0, currency="EUR")

    def _secret(self):
        return "no"


@pytest.fixture
def services():
    """A real service manager with an e-mail channel and a billing wrapper, started."""
    manager = ServiceManager()
    manager.register("email", Mailer())
    manager.register("sms", Texter())
    manager.register("billing", Billing())
    manager.start_all()
    yield manager
    manager.stop_all()


def context(services=None, clock=None) -> ActionContext:
    state = SessionState(id="s1", script="t", version="1", mode="agent", language="en", step="a")
    return ActionContext(state=state, namespace={}, step="a", where=Where("t.xml", 3), services=services,
                         bom=None, clock=clock or ManualClock())


def run(name: str, ctx: ActionContext, **arguments) -> None:
    definition = {a.name: a for a in BUILTIN_ACTIONS}[name]
    assert [] == definition.argument_problems(arguments)
    definition.function(ctx, **arguments)


def test_set_stores_each_argument_as_a_variable():
    """set takes any arguments; each becomes a variable in the session and the namespace."""
    ctx = context()
    run("set", ctx, total=12, label="twelve")
    assert ({"total": 12, "label": "twelve"}, 12) == (ctx.state.variables, ctx.namespace["total"])


@pytest.mark.parametrize("name", ["answers", "now", "not an identifier"])
def test_reserved_and_odd_variable_names_are_refused(name):
    """Names the interpreter owns, and non-identifiers, cannot be set."""
    with pytest.raises(ScriptError, match="cannot set a variable named"):
        context().set(name, 1)


def test_routing_requests_are_recorded_with_their_times():
    """transfer, escalate and callback record requests for the communication server, stamped by the clock."""
    clock = ManualClock()
    ctx = context(clock=clock)
    run("transfer", ctx, queue="billing", reason="disputed invoice")
    run("escalate", ctx, queue="back-office", hours=24)
    run("callback", ctx, minutes=30, number="+31 20 555 0100")
    now = clock.now()
    assert [
        {"kind": "transfer", "step": "a", "at": now.isoformat(), "queue": "billing", "reason": "disputed invoice"},
        {"kind": "escalate", "step": "a", "at": now.isoformat(), "queue": "back-office", "due": now + timedelta(hours=24)},
        {"kind": "callback", "step": "a", "at": now.isoformat(), "due": now + timedelta(minutes=30),
         "number": "+31 20 555 0100"},
    ] == ctx.state.requests


def test_callback_needs_one_moment():
    """callback with neither or both of at and minutes is refused."""
    with pytest.raises(ScriptError, match="exactly one of the arguments 'at' and 'minutes'"):
        run("callback", context())


def test_note_is_kept_on_the_session():
    """note records the text on the session (and on the customer when there are activities)."""
    ctx = context()
    run("note", ctx, text="customer is moving abroad")
    assert ["customer is moving abroad"] == ctx.state.notes


def test_email_goes_through_the_email_service(services):
    """email calls send_mail() of the service registered as "email", with the session's customer."""
    run("email", context(services), to="ada@example.com", subject="Moving", body="Confirmed.")
    assert [(["ada@example.com"], "Moving", "Confirmed.", None)] == services.get("email").sent


def test_sms_goes_through_the_sms_service_and_a_bad_number_fails_the_action(services):
    """sms calls send_sms() of the service registered as "sms"; the channel's refusal becomes a ScriptError."""
    run("sms", context(services), to="+31612345678", text="Your technician comes at 10:00.")
    assert [("+31612345678", "Your technician comes at 10:00.", None)] == services.get("sms").sent
    with pytest.raises(ScriptError) as caught:
        run("sms", context(services), to="0612", text="x")
    assert "sms: '0612' is not a phone number" in str(caught.value)


def test_email_without_an_email_service_names_it():
    """Without an email service the action fails saying which service is missing and how to go on."""
    manager = ServiceManager()
    with pytest.raises(ScriptError, match="no 'email' service is registered: enable the e-mail channel plugin"):
        run("email", context(manager), to="a@b.c", subject="s", body="b")


def test_call_reaches_a_legacy_wrapper_and_keeps_the_result(services):
    """call runs a service's method; an attrs result is kept as plain data in a variable."""
    ctx = context(services)
    run("call", ctx, service="billing", method="balance", arguments=["A-1"], into="balance")
    assert {"amount": -120, "currency": "EUR"} == ctx.state.variables["balance"]


@pytest.mark.parametrize(("method", "message"), [
    ("_secret", "names starting with _ are private"),
    ("balanse", "service 'billing' has no method 'balanse' (did you mean 'balance'?)"),
])
def test_call_refuses_private_and_unknown_methods(services, method, message):
    """Private names are never called; unknown ones get a "did you mean"."""
    with pytest.raises(ScriptError) as caught:
        run("call", context(services), service="billing", method=method)
    assert message in str(caught.value)


def test_call_of_a_missing_service_fails_in_a_script():
    """In a running script, a missing service fails the action with ActionFailed naming the service."""
    interpreter = make("""
        <info id="a"><prompt>x</prompt>
          <action name="call"><arg name="service" value="'erp'"/><arg name="method" value="'book'"/></action>
          <go to="e"/></info>
        <end id="e" outcome="ok"/>
    """, services=ServiceManager())
    with pytest.raises(ActionFailed, match="action 'call' on step 'a' failed: no service 'erp'"):
        interpreter.start("s1")


def test_argument_problems_are_found_before_running():
    """check_arguments lists unknown and missing arguments of every call, file:line."""
    script = read("""
        <info id="a"><prompt>x</prompt>
          <action name="transfer"><arg name="queu" value="'x'"/></action><go to="e"/></info>
        <end id="e" outcome="ok"/>
    """)
    assert [
        "t.xml:3: action 'transfer' takes no argument 'queu' (did you mean 'queue'?); it takes: queue, reason",
        "t.xml:3: action 'transfer' needs the argument 'queue'",
    ] == [str(p) for p in check_arguments(script, ACTIONS)]


def test_action_definitions_accept_names_or_parameters():
    """Parameters given as names are required; Parameter objects say otherwise."""
    definition = ActionDefinition("ticket", lambda context, subject, priority="low": None,
                                  ("subject", Parameter("priority", required=False)))
    assert ([], ["action 'ticket' needs the argument 'subject'"]) == (
        definition.argument_problems({"subject"}), definition.argument_problems({"priority"}))
    with pytest.raises(TypeError, match="function must be callable"):
        ActionDefinition("broken", "not a function")
