"""Actions: what a script does besides asking - each one a plugin contribution.

A script names an action (``<action name="email">``) with arguments that are
expressions; the action itself is Python, registered by a plugin through the
``register_actions`` hook as an ``ActionDefinition``. The built-in ones below
are registered the same way (``caruso.services.scripts.plugin``), so a plugin
can replace any of them by registering an action of the same name.

An action function receives an ``ActionContext`` and the evaluated arguments
as keyword arguments::

    def open_ticket(context, subject, priority="normal"):
        helpdesk = context.service("helpdesk")
        number = helpdesk.open(subject=subject, priority=priority)
        context.set("ticket", number)

    ActionDefinition("open_ticket", open_ticket, parameters=("subject", Parameter("priority", required=False)))

Whatever it raises fails the action: the interpreter then follows the
action's ``on-error`` step, or stops the session with ``ActionFailed``
naming the action, the step and what had already been done. Raise a
``caruso.errors.ScriptError`` with a message for the script's author; any
other exception is reported with its type. See docs/actions.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta
from typing import Any

import attrs

from caruso.clock import Clock
from caruso.errors import Problem, ScriptError, ServiceNotFound, did_you_mean
from caruso.services.scripts.model import ActionCall, Script, Where
from caruso.services.scripts.state import SessionState, plain_value

__all__ = [
    "BUILTIN_ACTIONS",
    "RESERVED_NAMES",
    "ActionContext",
    "ActionDefinition",
    "Parameter",
    "check_arguments",
]

RESERVED_NAMES = frozenset({"answers", "context", "session", "now", "error"})
"""Names the interpreter puts into every namespace; no answer or variable may take them."""


@attrs.frozen
class Parameter:
    """One argument an action takes: its name, whether a script must give it, what it means."""

    name: str
    required: bool = True
    description: str = ""


def _parameters(value: Sequence[Parameter | str] | None) -> tuple[Parameter, ...] | None:
    if value is None:
        return None
    return tuple(p if isinstance(p, Parameter) else Parameter(str(p)) for p in value)


@attrs.frozen
class ActionDefinition:
    """An action scripts may call, as a plugin registers it.

    Args:
        name: the name scripts use (``<action name="...">``).
        function: called as ``function(context, **arguments)``; its return
            value is ignored (store results with ``context.set``).
        parameters: the arguments it takes - names (required) or
            ``Parameter`` objects; None accepts any arguments (like ``set``).
        description: one line for ``caruso plugins`` and the docs.
    """

    name: str
    function: Callable[..., Any]
    parameters: tuple[Parameter, ...] | None = attrs.field(default=(), converter=_parameters)
    description: str = ""

    def __attrs_post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"action {self.name!r}: function must be callable, got {self.function!r}")

    def argument_problems(self, given: Collection[str]) -> list[str]:
        """What is wrong with calling this action with arguments named ``given``."""
        if self.parameters is None:
            return []
        names = [p.name for p in self.parameters]
        found = [
            f"action {self.name!r} takes no argument {name!r}{did_you_mean(name, names)}"
            f"; it takes: {', '.join(names) or 'none'}"
            for name in given if name not in names
        ]
        found.extend(
            f"action {self.name!r} needs the argument {p.name!r}"
            for p in self.parameters if p.required and p.name not in given
        )
        return found


def check_arguments(script: Script, actions: Mapping[str, ActionDefinition]) -> list[Problem]:
    """Arguments of the script's action calls that the registered actions do not take or miss.

    Unknown action names are the checker's finding (``check.py``), not repeated here.
    """
    problems: list[Problem] = []
    for call in _action_calls(script):
        definition = actions.get(call.name)
        if definition is not None:
            for message in definition.argument_problems(call.arguments):
                problems.append(Problem(call.where.file, call.where.line, message))
    return problems


def _action_calls(script: Script) -> Iterator[ActionCall]:
    for step in script.steps.values():
        yield from step.on_enter
        for transition in getattr(step, "transitions", ()):
            yield from transition.actions


@attrs.define
class ActionContext:
    """What an action function may use: the session, the application's services and time.

    Attributes:
        state: the session (read it; change it through the methods below).
        namespace: what expressions see (answers, variables, context, bound objects).
        step: the id of the step the action runs on; ``where`` its file:line.
        services: the service manager, or None outside an application
            (``caruso script run`` without an application folder).
        bom: the ``bom`` service, or None when there is none.
        clock: the application's clock.
        user: who works the session (the agent), for the audit trail; None in self-service.
        activities: records an activity on the session's customer, or None
            when the model has no activity object (``record_activity``).
    """

    state: SessionState
    namespace: dict[str, Any]
    step: str
    where: Where
    services: Any
    bom: Any
    clock: Clock
    user: str | None = None
    activities: Callable[[SessionState, str, str], bool] | None = None

    def set(self, name: str, value: Any) -> None:
        """Store a variable for the rest of the session (and for conditions and prompts).

        Raises:
            ScriptError: the name is reserved, or the value cannot be kept in a session.
        """
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_NAMES:
            raise ScriptError(
                f"cannot set a variable named {name!r}: use an identifier other than "
                + ", ".join(sorted(RESERVED_NAMES))
            )
        try:
            kept = plain_value(value)
        except TypeError as exc:
            raise ScriptError(f"variable {name!r}: {exc}") from None
        self.state.variables[name] = kept
        if name not in self.state.answers:
            self.namespace[name] = kept

    def service(self, name: str) -> Any:
        """The service registered as ``name``.

        Raises:
            ScriptError: there is no service manager, or no such service.
        """
        if self.services is None:
            raise ScriptError(f"no service {name!r}: this session runs without an application")
        try:
            return self.services.get(name)
        except ServiceNotFound as exc:
            raise ScriptError(str(exc)) from None

    def unit_of_work(self) -> AbstractContextManager[Any]:
        """A bom session committed at the end of the block, rolled back on error.

        Raises:
            ScriptError: there is no bom service.
        """
        if self.bom is None:
            raise ScriptError("business objects are not available: this session runs without a bom service")
        return self.bom.unit_of_work(user=self.user)

    def object_class(self, name: str) -> type:
        """The business-object class called ``name``.

        Raises:
            ScriptError: no bom service, or no such object (with a "did you mean").
        """
        if self.bom is None:
            raise ScriptError("business objects are not available: this session runs without a bom service")
        model = self.bom.model
        if name not in model:
            raise ScriptError(f"no business object {name!r}{did_you_mean(name, model)}")
        return model[name]

    def request(self, kind: str, **details: Any) -> dict[str, Any]:
        """Record a request for another component (``transfer``, ``escalate``, ``callback``)
        on the session, with the step and the time; returns it."""
        entry = {"kind": kind, "step": self.step, "at": self.clock.now().isoformat()}
        entry.update({k: plain_value(v) for k, v in details.items() if v is not None})
        self.state.requests.append(entry)
        return entry

    def record_activity(self, text: str, kind: str = "note") -> bool:
        """Record an activity on the session's customer; False when the application's
        model has no activity object or the session no customer."""
        if self.activities is None:
            return False
        return self.activities(self.state, text, kind)


# --- the built-in actions -----------------------------------------------------


def set_variables(context: ActionContext, **variables: Any) -> None:
    """``<action name="set"><arg name="total" value="amount * 12"/></action>``: each argument a variable."""
    for name, value in variables.items():
        context.set(name, value)


def create_object(context: ActionContext, object: str, values: Mapping[str, Any], into: str | None = None) -> None:
    """Create a business object from ``values`` (attribute -> value); its key goes into ``into``."""
    cls = context.object_class(object)
    values = _mapping(values, "values")
    with context.unit_of_work() as session:
        try:
            created = cls(**values)
        except TypeError as exc:
            raise ScriptError(str(exc)) from None
        session.add(created)
        session.flush()
        key = _primary_key(created)
    if into:
        context.set(into, key)


def update_object(context: ActionContext, object: str, key: Any, values: Mapping[str, Any]) -> None:
    """Change attributes of the business object with primary key ``key``."""
    cls = context.object_class(object)
    values = _mapping(values, "values")
    allowed = cls.__caruso__.keys
    for name in values:
        if name not in allowed or name.startswith("_"):
            raise ScriptError(f"{object} has no attribute {name!r}{did_you_mean(name, allowed)}")
    with context.unit_of_work() as session:
        found = cls.get(session, tuple(key) if isinstance(key, list) else key)
        if found is None:
            raise ScriptError(f"no {object} with key {key!r}")
        for name, value in values.items():
            setattr(found, name, value)


def call_service(
    context: ActionContext,
    service: str,
    method: str,
    arguments: Mapping[str, Any] | Sequence[Any] | None = None,
    into: str | None = None,
) -> None:
    """Call ``method`` of a registered service (a legacy wrapper); the result goes into ``into``."""
    target = context.service(service)
    if not isinstance(method, str) or method.startswith("_"):
        raise ScriptError(f"{method!r} is not a method a script may call (names starting with _ are private)")
    function = getattr(target, method, None)
    if not callable(function):
        public = [n for n in dir(target) if not n.startswith("_")]
        raise ScriptError(f"service {service!r} has no method {method!r}{did_you_mean(method, public)}")
    if arguments is None:
        result = function()
    elif isinstance(arguments, Mapping):
        result = function(**{str(k): v for k, v in arguments.items()})
    elif isinstance(arguments, list | tuple):
        result = function(*arguments)
    else:
        result = function(arguments)
    if into:
        context.set(into, result)


def send_email(context: ActionContext, to: str, subject: str, body: str) -> None:
    """Send an e-mail through the ``email`` service (the e-mail channel): ``send_mail(to, subject,
    text, customer=, interaction=)``, so the mail lands in the session's customer's history."""
    try:
        channel = context.services.get("email") if context.services is not None else None
    except ServiceNotFound:
        channel = None
    if channel is None:
        raise ScriptError(
            "no 'email' service is registered: enable the e-mail channel plugin,"
            " or give this action an on-error step to continue without it"
        )
    session = context.state.context
    channel.send_mail([to], subject, body, customer=session.get("customer_id"), interaction=session.get("interaction"))


def send_sms(context: ActionContext, to: str, text: str) -> None:
    """Send an SMS through the ``sms`` service (the SMS channel): ``send_sms(to, text, customer=,
    interaction=)``, so it lands in the session's customer's history."""
    try:
        channel = context.services.get("sms") if context.services is not None else None
    except ServiceNotFound:
        channel = None
    if channel is None:
        raise ScriptError(
            "no 'sms' service is registered: enable the SMS channel plugin,"
            " or give this action an on-error step to continue without it"
        )
    session = context.state.context
    try:
        channel.send_sms(_required_text(to, "to"), _required_text(text, "text"), customer=session.get("customer_id"),
                         interaction=session.get("interaction"))
    except ValueError as exc:  # not a phone number, an empty or too long text
        raise ScriptError(f"sms: {exc}") from None


def transfer(context: ActionContext, queue: str, reason: str | None = None) -> None:
    """Ask the communication server to transfer the contact to ``queue``."""
    context.request("transfer", queue=_required_text(queue, "queue"), reason=reason)


def escalate(context: ActionContext, queue: str, reason: str | None = None, hours: float | None = None) -> None:
    """Ask for escalation to ``queue`` (the back office), due within ``hours`` when given."""
    due = None
    if hours is not None:
        due = context.clock.now() + timedelta(hours=_number(hours, "hours"))
    context.request("escalate", queue=_required_text(queue, "queue"), reason=reason, due=due)


def callback(
    context: ActionContext,
    at: Any = None,
    minutes: float | None = None,
    number: str | None = None,
    reason: str | None = None,
) -> None:
    """Schedule a call back: at a moment (``at``: a datetime, a date or ISO text) or ``minutes`` from now."""
    if (at is None) == (minutes is None):
        raise ScriptError("callback needs exactly one of the arguments 'at' and 'minutes'")
    due = context.clock.now() + timedelta(minutes=_number(minutes, "minutes")) if at is None else _moment(at, context)
    context.request("callback", due=due, number=number, reason=reason)


def note(context: ActionContext, text: str) -> None:
    """Record a note on the session and, when the model has activities, on the customer."""
    text = _required_text(text, "text")
    context.state.notes.append(text)
    context.record_activity(text, "note")


BUILTIN_ACTIONS: tuple[ActionDefinition, ...] = (
    ActionDefinition("set", set_variables, None, "store variables: each argument's name and value"),
    ActionDefinition("create", create_object, ("object", "values", Parameter("into", required=False)),
                     "create a business object; its key into a variable"),
    ActionDefinition("update", update_object, ("object", "key", "values"),
                     "change attributes of a business object found by key"),
    ActionDefinition("call", call_service, ("service", "method", Parameter("arguments", required=False),
                                            Parameter("into", required=False)),
                     "call a method of a registered service (a legacy wrapper)"),
    ActionDefinition("email", send_email, ("to", "subject", "body"), "send an e-mail through the email service"),
    ActionDefinition("sms", send_sms, ("to", "text"), "send an SMS through the sms service"),
    ActionDefinition("transfer", transfer, ("queue", Parameter("reason", required=False)),
                     "ask the communication server to transfer the contact to a queue"),
    ActionDefinition("escalate", escalate, ("queue", Parameter("reason", required=False),
                                            Parameter("hours", required=False)),
                     "escalate to a queue of the back office, with a deadline"),
    ActionDefinition("callback", callback, (Parameter("at", required=False), Parameter("minutes", required=False),
                                            Parameter("number", required=False), Parameter("reason", required=False)),
                     "schedule a call back at a moment or after some minutes"),
    ActionDefinition("note", note, ("text",), "record a note on the session and the customer"),
)


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScriptError(f"the argument {name!r} must be a mapping such as {{'name': answer}}, got {type(value).__name__}")
    return value


def _required_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScriptError(f"the argument {name!r} must be non-empty text, got {value!r}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10**7:
        raise ScriptError(f"the argument {name!r} must be a number from 0 to 10,000,000, got {value!r}")
    return float(value)


def _moment(value: Any, context: ActionContext) -> datetime:
    zone = context.clock.now().tzinfo
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScriptError(f"the argument 'at' must be an ISO date or time, got {value!r}") from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(9, 0), tzinfo=zone)
    raise ScriptError(f"the argument 'at' must be a date or time, got {type(value).__name__}")


def _primary_key(created: Any) -> Any:
    import sqlalchemy as sa

    identity = sa.inspect(created).identity
    if identity is None:
        return None
    return identity[0] if len(identity) == 1 else list(identity)
