"""The IVR: a dialogue script in IVR mode answers voice calls before any agent does.

A queue with ``ivr = "main-menu"`` hands every inbound call to the ``scripts``
service first (mode ``ivr``: choices carry keypad digits). The telephony
connector plays each step (``prompt``) and reports the digits the caller
presses (``server.dtmf``). When the session ends, its result decides what
happens to the call:

- a ``transfer`` or ``escalate`` request: the call is queued in the requested
  queue (an unknown queue: the queue the call came in on - never dropped);
- a ``callback`` request: the call ends and a callback interaction waits;
- no request: the caller was served by self-service; the call is completed
  with the session's outcome;
- the session failed: the call goes to an agent in its queue, who sees why.

The answers travel with the interaction (``data["ivr"]``: session, script,
outcome, answers), and the agent can ``resume`` the same session. An answer
named ``skills`` (a list) adds skills the call needs.
"""

from __future__ import annotations

import logging
from typing import Any

from caruso.errors import ScriptError

__all__ = ["IvrBridge"]

log = logging.getLogger("caruso.communication.ivr")


class IvrBridge:
    """Runs IVR sessions for a communication server (``server`` is its caller, holding its lock)."""

    def __init__(self, server: Any, scripts: Any):
        self.server = server
        self.scripts = scripts

    def start(self, interaction: Any, queue: Any) -> None:
        from caruso.services.communication.model import IVR

        interaction.state = IVR
        try:
            view = self.scripts.start_session(
                queue.settings.ivr, mode="ivr", customer=interaction.customer, channel="phone",
                language=interaction.language,
                context={"interaction": interaction.id, "queue": queue.name, "address": interaction.address},
            )
        except ScriptError as exc:
            self._failed(interaction, queue.name, str(exc))
            return
        interaction.ivr_session = view.session_id
        self._moved(interaction, view)

    def answer(self, interaction: Any, digits: str) -> Any:
        try:
            view = self.scripts.answer(interaction.ivr_session, digits)
        except ScriptError as exc:
            self._failed(interaction, interaction.queue, str(exc))
            return None
        self._moved(interaction, view)
        return view

    def _moved(self, interaction: Any, view: Any) -> None:
        server = self.server
        if not view.ended:
            server._later("voice", "prompt", interaction, None, view)
            return
        answers = {key: _plain(value) for key, value in view.answers.items()}
        result = {"session": view.session_id, "script": view.script, "outcome": view.outcome,
                  "status": view.status, "answers": answers}
        interaction.data["ivr"] = result
        if view.language:
            interaction.language = view.language
        skills = answers.get("skills")
        if isinstance(skills, list):
            interaction.skills = tuple(sorted({*interaction.skills, *map(str, skills)}))
        server._emit("ivr", interaction, data=result)
        requests = [r for r in view.requests if r.get("kind") in ("transfer", "escalate", "callback")]
        if view.status != "ended":
            self._to_agent(interaction, interaction.queue, "ivr-failed")
            return
        if not requests:
            interaction.answered_at = server.now()
            server._emit("completed", interaction, data={"outcome": view.outcome or "self-service",
                                                         "code": "ivr", "handle": 0.0})
            server._finish(interaction, "completed")
            server._later("voice", "release", interaction)
            return
        request = requests[-1]
        if request["kind"] == "callback":
            interaction.state = "waiting-callback"
            server._outbox.append(lambda: server.callback_accepted(interaction.id, number=request.get("number")))
            return
        self._to_agent(interaction, request.get("queue"), "ivr")

    def _to_agent(self, interaction: Any, queue_name: str | None, reason: str) -> None:
        server = self.server
        queues = server.router.queues
        if queue_name not in queues:
            log.warning("IVR of %s asked for unknown queue %r; it goes to %r", interaction.id, queue_name,
                        interaction.queue)
            interaction.data.setdefault("ivr", {})["unknown_queue"] = queue_name
            queue_name = interaction.queue if interaction.queue in queues else server.default_queue
        server._enqueue(interaction, queues[queue_name], reason)

    def _failed(self, interaction: Any, queue_name: str, message: str) -> None:
        log.warning("IVR of %s failed: %s; the call goes to an agent", interaction.id, message)
        interaction.data["ivr"] = {"status": "failed", "error": message}
        self.server._emit("ivr", interaction, data=interaction.data["ivr"])
        self._to_agent(interaction, queue_name, "ivr-failed")


def _plain(value: Any) -> Any:
    """Answers as JSON-friendly data (dates as ISO text)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
