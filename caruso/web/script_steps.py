"""Answering a dialogue script's step from a submitted form: one rule for the agent's script
panel and the customer's self-service pages.

A form names the step it answers (``step``) and carries its value(s) (``value``; several for
a multiple choice, none for an information step). When the session has moved on since the
page was drawn - the same step answered in another window - the answer is not applied to
whatever step it is at now: the caller shows that step instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["answer_from_form"]


def answer_from_form(scripts: Any, session_id: str, form: Any) -> Any:
    """The session's next view after answering its current step with ``form``'s value, or None
    when the form answered a step the session is no longer at. Blocks (the scripts service):
    call it through ``web.blocking``.

    Raises:
        ScriptError: from the scripts service (the session ended, an action failed).
    """
    values = [str(v) for v in form.getlist("value")]
    current = scripts.view(session_id)
    if current.step != str(form.get("step", current.step)):
        return None
    if current.kind == "info":
        value: Any = None
    elif current.kind == "multichoice":
        value = values
    else:
        value = values[0] if values else ""
    return scripts.answer(session_id, value)
