"""What a channel shows of a session: the current step, rendered for one mode and language.

A view is a snapshot (frozen): the agent desktop, the self-service page and
the IVR all draw from the same fields. It carries every answer given so far,
so whoever continues a session - an agent taking over from the web - sees
what the customer already said.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["ChoiceView", "SessionView"]


@attrs.frozen
class ChoiceView:
    """One allowed answer: the value to send back, its label, its keypad digit."""

    value: str
    label: str
    dtmf: str | None = None


@attrs.frozen
class SessionView:
    """The current step of a session.

    Attributes:
        session_id: the id to answer, go back or resume with.
        script: the script's id.
        step: the current step's id.
        kind: the question kind (``text``, ``number``, ``date``, ``choice``,
            ``multichoice``, ``yesno``), ``info`` or ``end``.
        prompt: the prompt, rendered in the session's language.
        variable: the variable a question's answer is stored under (None otherwise).
        choices: the allowed answers of a choice question; in IVR mode each
            has a keypad digit (the script's ``dtmf``, else 1, 2, ... in order;
            ``yesno`` has 1 = yes, 2 = no), elsewhere only the script's own.
        value: the answer already known for this question - given before
            going back, or prefilled and to be confirmed - to show as default.
        required: whether a blank answer is refused.
        minimum, maximum: the bounds as written in the script, for the form.
        confirm: True when ``value`` was looked up and the script asks to confirm it.
        error: why the last answer was refused (the step did not change), else None.
        status: ``active``, ``ended`` or ``failed``.
        outcome: the end's outcome once ended.
        mode, language, channel: how the session runs now.
        answers: every answer given so far, variable -> value, in order.
        prefilled: the variables answered from known data without asking.
        requests: what the script asked of other components (transfer,
            escalate, callback), in order; see docs/actions.md.
        can_go_back: whether ``back`` has a step to return to.
        customer: the customer's key the session was started for (``context.customer_id``),
            or None: whose session it is, for pages that show a customer only their own.
    """

    session_id: str
    script: str
    step: str
    kind: str
    prompt: str
    variable: str | None = None
    choices: tuple[ChoiceView, ...] = ()
    value: Any = None
    required: bool = False
    minimum: str | None = None
    maximum: str | None = None
    confirm: bool = False
    error: str | None = None
    status: str = "active"
    outcome: str | None = None
    mode: str = "agent"
    language: str = ""
    channel: str | None = None
    answers: Mapping[str, Any] = attrs.field(factory=dict)
    prefilled: tuple[str, ...] = ()
    requests: tuple[Mapping[str, Any], ...] = ()
    can_go_back: bool = False
    customer: Any = None

    @property
    def ended(self) -> bool:
        return self.status != "active"
