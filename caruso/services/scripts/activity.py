"""Recording sessions in the customer's contact history (the 360-degree view).

Every completed session - and every ``note`` a script records - lands in the
one contact history, the ``history`` service (``caruso/services/channels/history.py``)
where the e-mails, chats and SMS of the same customer are, so the next agent sees
what happened whatever the channel: its summary is the script's title and outcome
followed by every answer. An application whose own model has an activity object
(a legacy CRM table) gets the same record there too: which object and which
attributes is configuration (``ActivitySettings``); what does not exist in the
model is left out rather than guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from caruso.clock import Clock
from caruso.errors import CarusoError
from caruso.services.scripts.state import SessionState

__all__ = ["ActivityRecorder", "ActivitySettings", "SessionRecorder"]

log = logging.getLogger("caruso.scripts")


def _default_kinds() -> dict[str, str]:
    return {"agent": "call", "ivr": "call", "self-service": "web", "note": "note"}


@attrs.frozen
class ActivitySettings:
    """``[services.scripts.settings.activity]``: where sessions land in the contact history.

    Args:
        object: the activity business object; nothing is recorded when the model has none.
        customer: its reference to the customer.
        occurred: its datetime attribute for when it happened.
        text: its text attribute for the summary (answers, outcome) or the note.
        kind: its attribute telling what kind of contact it was.
        kinds: the kind value per session mode, and for notes (``note``);
            a value the attribute does not allow (an enumeration) is left out.
    """

    object: str = "Activity"
    customer: str = "customer"
    occurred: str = "occurred"
    text: str = "notes"
    kind: str = "kind"
    kinds: dict[str, str] = attrs.field(factory=_default_kinds)


class ActivityRecorder:
    """Writes activities through the bom service; built once per start of the scripts service.

    Use ``ActivityRecorder.for_model(bom, settings, clock)``: it returns None when
    the model has no such object or it has no reference to a customer.
    """

    def __init__(self, bom: Any, settings: ActivitySettings, clock: Clock, *, key_is_integer: bool,
                 foreign_key: str, attributes: Mapping[str, Any]):
        self.bom = bom
        self.settings = settings
        self.clock = clock
        self._key_is_integer = key_is_integer
        self._foreign_key = foreign_key
        self._attributes = attributes  # name -> AttributeDef, of the activity object

    @classmethod
    def for_model(cls, bom: Any, settings: ActivitySettings, clock: Clock) -> ActivityRecorder | None:
        model = getattr(bom, "model", None)
        definitions = getattr(model, "definitions", None) or {}
        definition = definitions.get(settings.object)
        if definition is None:
            log.info("no business object %r: dialogue sessions are not recorded as activities", settings.object)
            return None
        reference = definition.reference(settings.customer)
        target = definitions.get(reference.target) if reference is not None else None
        if reference is None or target is None or len(target.primary_key) != 1:
            log.warning("%s has no reference %r to an object with a single key: sessions are not recorded",
                        settings.object, settings.customer)
            return None
        return cls(
            bom, settings, clock,
            key_is_integer=target.primary_key[0].type == "integer",
            foreign_key=f"{reference.name}_{target.primary_key[0].name}",
            attributes={a.name: a for a in definition.attributes},
        )

    def __call__(self, state: SessionState, text: str, kind: str) -> bool:
        """Record one activity for the session's customer; False when it has none.

        Raises:
            CarusoError: the database or the model's rules refused it.
        """
        customer = state.context.get("customer_id")
        if customer is None:
            return False
        if self._key_is_integer and isinstance(customer, str) and customer.strip().lstrip("-").isdigit():
            customer = int(customer)
        values: dict[str, Any] = {self._foreign_key: customer}
        self._put(values, self.settings.occurred, self.clock.now())
        self._put(values, self.settings.text, text)
        self._put(values, self.settings.kind, self.settings.kinds.get(kind))
        cls = self.bom.model[self.settings.object]
        with self.bom.unit_of_work(user=state.context.get("agent")) as session:
            session.add(cls(**values))
        return True


    def _put(self, values: dict[str, Any], name: str, value: Any) -> None:
        attribute = self._attributes.get(name)
        if attribute is None or value is None:
            return
        if attribute.type == "enum" and value not in attribute.values:
            return
        if isinstance(value, str) and attribute.type == "string":
            value = value[: attribute.length or 255]
        values[name] = value


_CHANNEL_OF_MODE = {"agent": "voice", "ivr": "voice", "self-service": "web"}


class SessionRecorder:
    """Where sessions land: the ``history`` service, and the model's activity object when
    the application has one (either may be missing). Built once per start of the scripts
    service (``SessionRecorder.for_application``)."""

    def __init__(self, history: Any, activity: ActivityRecorder | None):
        self.history = history
        self.activity = activity

    @classmethod
    def for_application(cls, manager: Any, bom: Any, settings: ActivitySettings,
                        clock: Clock) -> SessionRecorder | None:
        """A recorder, or None when there is neither a history service nor an activity object."""
        history = manager.get("history") if manager is not None and "history" in manager else None
        activity = ActivityRecorder.for_model(bom, settings, clock) if bom is not None else None
        if history is None and activity is None:
            return None
        return cls(history, activity)

    def __call__(self, state: SessionState, text: str, kind: str, subject: str | None = None) -> bool:
        """Record ``text`` on the session's customer; False when the session has none.

        Raises:
            CarusoError: the history or the model refused it.
        """
        customer = state.context.get("customer_id")
        if customer is None:
            return False
        if self.history is not None:
            self.history.record(
                channel=state.context.get("channel") or _CHANNEL_OF_MODE.get(state.mode, state.mode),
                direction="inbound", customer=customer, agent=state.context.get("agent"),
                interaction=state.context.get("interaction"), subject=subject or state.script, summary=text,
                data={"kind": kind, "session": state.id, "script": state.script})
        if self.activity is not None:
            self.activity(state, text, kind)
        return True

    def record_completion(self, state: SessionState, title: str) -> None:
        """The summary of an ended session; a refusal is logged and kept on the session
        (``state.actions``), never lost silently."""
        lines = [f"{title}: {state.outcome}"]
        lines.extend(f"{name}: {_shown(value)}" for name, value in state.answers.items())
        try:
            self(state, "\n".join(lines), state.mode, subject=title)
        except CarusoError as exc:
            log.warning("session %s: the activity was not recorded: %s", state.id, exc)
            state.actions.append([state.step, "activity", str(exc)])


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "" if value is None else str(value)
