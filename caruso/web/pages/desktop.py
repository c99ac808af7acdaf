"""The agent desktop: log in to the communication server, set a state, take what is offered,
run the dialogue script, answer the chat, the e-mail or the SMS, transfer, wrap up.

The page is rendered on the server; a server-sent-events stream (``/desktop/events``)
carries the communication server's events for this agent, and the page reloads its
work panel when one arrives - so an offered call appears without polling. The same
stream carries the customer's chat messages (``event: chat``), which the page appends
to the conversation without reloading. Every decision (accept, an answer to the
script, a message, a transfer, wrap up) is a CSRF-protected form that the server checks
again: an agent may act only on an interaction connected to them (another agent's, or
one that does not exist, is answered 404 and logged).

The user's ``agent`` field names the agent they are on the communication server.

What the desktop remembers between requests (``Desk``): which script session runs for
which interaction (kept with the interaction, so an agent it is transferred to continues
the same session), the last answer the script refused, and one notice per agent. It lives
in this process's memory: after a restart of the front office, an agent starts the
script again (the answers already given come back as known answers of the customer).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from caruso.errors import CarusoError
from caruso.web.guard import Refused, guarded, hide, permissions, web_of
from caruso.web.script_steps import answer_from_form
from caruso.web.templating import MenuItem

__all__ = ["Desk", "Entry", "menu", "routes"]


ACTION = "desktop"
HELD = ("connected", "wrapup")
"""The states in which an interaction is the agent's to work on."""
PHONE = {"voice": "phone", "callback": "phone", "voicemail": "phone"}
"""The channel a script session is told (``context.channel``), by interaction channel."""
MAX_TEXT = 10_000
"""The longest chat message, e-mail or SMS reply the desktop passes on (characters)."""
KEEPALIVE = 15.0
"""Seconds between comments on an idle event stream (a proxy would close a silent one)."""


def routes(web: Any) -> list[Route]:
    return [
        Route("/desktop", desktop),
        Route("/desktop/panel", panel),
        Route("/desktop/events", events),
        Route("/desktop/state", set_state, methods=["POST"]),
        Route("/desktop/{interaction}/accept", accept, methods=["POST"]),
        Route("/desktop/{interaction}/complete", complete, methods=["POST"]),
        Route("/desktop/{interaction}/script", script_start, methods=["POST"]),
        Route("/desktop/{interaction}/script/answer", script_answer, methods=["POST"]),
        Route("/desktop/{interaction}/script/back", script_back, methods=["POST"]),
        Route("/desktop/{interaction}/chat", chat_send, methods=["POST"]),
        Route("/desktop/{interaction}/reply", reply, methods=["POST"]),
        Route("/desktop/{interaction}/transfer", transfer, methods=["POST"]),
    ]


def menu(web: Any) -> list[MenuItem]:
    return [MenuItem("desktop", "Desktop", "/desktop", lambda perms: perms.can(ACTION), order=10)]


# --- what the desktop remembers --------------------------------------------------------


class Desk:
    """Per interaction: its script session and the script's last refusal; per agent: a notice.

    Bounded (the oldest interactions are forgotten first) and safe from any thread.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._refusals: dict[str, str] = {}
        self._notices: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, request: Request) -> Desk:
        state = request.app.state
        desk = getattr(state, "desk", None)
        if desk is None:  # created on the event loop's thread: no race
            desk = state.desk = cls()
        return desk

    def session(self, interaction: str) -> str | None:
        with self._lock:
            return self._sessions.get(interaction)

    def set_session(self, interaction: str, session: str) -> None:
        with self._lock:
            self._sessions[interaction] = session
            self._sessions.move_to_end(interaction)
            self._refusals.pop(interaction, None)
            while len(self._sessions) > self.LIMIT:
                forgotten, _ = self._sessions.popitem(last=False)
                self._refusals.pop(forgotten, None)

    def refusal(self, interaction: str) -> str | None:
        with self._lock:
            return self._refusals.get(interaction)

    def set_refusal(self, interaction: str, error: str | None) -> None:
        with self._lock:
            if error:
                self._refusals[interaction] = error
            else:
                self._refusals.pop(interaction, None)

    def forget(self, interaction: str) -> None:
        with self._lock:
            self._sessions.pop(interaction, None)
            self._refusals.pop(interaction, None)

    def notify(self, agent: str, text: str, *, kind: str = "error") -> None:
        with self._lock:
            self._notices[agent] = (kind, text)

    def take_notice(self, agent: str) -> tuple[str, str] | None:
        with self._lock:
            return self._notices.pop(agent, None)


# --- what the panel shows -------------------------------------------------------------


@attrs.frozen
class Entry:
    """One interaction as the work panel shows it (every field defined: the templates are strict).

    Attributes:
        item: the server's ``InteractionView``.
        mine: connected to (or in wrap-up with) this agent: the tools below apply.
        given: the answers the customer already gave, as (where, answers): from
            ``self-service`` (``data["script"]``) or the ``IVR`` (``data["ivr"]``).
        script: the running script session's ``SessionView``, or None.
        script_error: why the last answer was refused, or why the session could not be read.
        resumable: the customer's self-service session to continue in agent mode, or None.
        choices: (id, title) of the scripts an agent may start.
        messages: the chat transcript, the e-mail thread or the SMS messages, oldest first,
            as dicts with ``from``, ``text`` and for e-mail ``subject``, ``direction``, ``status``
            (the text only: a customer's HTML is never shown on the desktop).
        can_reply: a reply form fits the channel (chat, e-mail, SMS) and its service runs.
        targets: (value, label) of the queues and agents it can be transferred to.
    """

    item: Any
    mine: bool = False
    given: tuple[tuple[str, dict], ...] = ()
    script: Any = None
    script_error: str | None = None
    resumable: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    messages: tuple[dict, ...] = ()
    can_reply: bool = False
    targets: tuple[tuple[str, str], ...] = ()

    @property
    def script_ended(self) -> bool:
        return self.script is not None and self.script.status != "active"


def _agent_name(request: Request) -> str:
    user = permissions(request).user
    if not user.agent:
        raise Refused(403, "your user is not an agent of the communication server "
                           "(give it one with caruso web user --agent NAME)", event="denied")
    return user.agent


def _server(request: Request) -> Any:
    server = web_of(request).optional_service("communication")
    if server is None:
        raise Refused(503, "the communication server is not running")
    return server


def _services(request: Request) -> dict[str, Any]:
    web = web_of(request)
    return {name: web.optional_service(name) for name in ("scripts", "chat", "email", "sms", "history")}


def _work(server: Any, name: str, desk: Desk, services: dict[str, Any]) -> dict[str, Any]:
    """The agent's state and interactions with what each one needs shown (a worker thread)."""
    agent = server.agent(name)
    interactions = []
    for interaction_id in agent.interactions:
        try:
            interactions.append(server.interaction(interaction_id))
        except CarusoError:  # it ended between the two reads
            continue
    entries = [_entry(server, name, item, desk, services) for item in interactions]
    return {"agent": agent, "interactions": interactions, "entries": entries}


def _entry(server: Any, name: str, item: Any, desk: Desk, services: dict[str, Any]) -> Entry:
    given = _given(item)
    if item.agent != name or item.state not in HELD:
        return Entry(item, given=given)
    scripts = services["scripts"]
    script = resumable = None
    error = desk.refusal(item.id)
    choices: tuple[tuple[str, str], ...] = ()
    session = desk.session(item.id)
    if scripts is not None:
        if session is not None:
            try:
                script = scripts.view(session)
            except CarusoError as exc:
                error = f"the script session could not be read: {exc}"
        else:
            self_service = item.data.get("script") or {}
            if self_service.get("session") and self_service.get("status", "active") == "active":
                resumable = str(self_service["session"])
            choices = _agent_scripts(scripts)
    try:
        messages, can_reply = _messages(item, services)
    except CarusoError as exc:  # the conversation cannot be read now; the contact can still be worked on
        messages, can_reply = ({"from": "desktop", "text": f"the conversation could not be read: {exc}",
                                "direction": "note", "subject": "", "status": "", "seq": None},), True
    return Entry(item, mine=True, given=given, script=script, script_error=error, resumable=resumable,
                 choices=choices, messages=messages, can_reply=can_reply,
                 targets=_targets(server, name) if item.state == "connected" else ())


def _given(item: Any) -> tuple[tuple[str, dict], ...]:
    found = []
    self_service = item.data.get("script")
    if isinstance(self_service, dict) and self_service.get("answers"):
        found.append(("self-service", dict(self_service["answers"])))
    ivr = item.data.get("ivr")
    if isinstance(ivr, dict) and (ivr.get("answers") or ivr.get("error")):
        found.append(("IVR", dict(ivr.get("answers") or {})))
    return tuple(found)


def _agent_scripts(scripts: Any) -> tuple[tuple[str, str], ...]:
    """The scripts with at least one step an agent is asked (``modes`` includes ``agent``)."""
    found = []
    for script_id, script in sorted(scripts.scripts.items()):
        if script.fragment:
            continue
        if any("agent" in getattr(step, "modes", ("agent",)) for step in script.steps.values()):
            found.append((script_id, script.title or script_id))
    return tuple(found)


def _messages(item: Any, services: dict[str, Any]) -> tuple[tuple[dict, ...], bool]:
    channel = item.channel
    if channel == "chat" and services["chat"] is not None:
        return tuple(services["chat"].transcript(item.id)), True
    if channel == "email" and services["email"] is not None:
        mails = services["email"].messages(item.id)
        return tuple({"from": mail.address if mail.direction == "inbound" else "you",
                      "direction": mail.direction, "subject": mail.subject or "", "text": mail.text,
                      "status": mail.status} for mail in mails), True
    if channel == "sms" and services["sms"] is not None:
        history = services["history"]
        entries = history.for_interaction(item.id) if history is not None else []
        return tuple({"from": "customer" if entry.direction == "inbound" else entry.agent,
                      "text": entry.summary or ""} for entry in entries), True
    return (), False


def _targets(server: Any, name: str) -> tuple[tuple[str, str], ...]:
    queues = [(f"queue:{status.name}", f"queue {status.name}") for status in server.queue_status()]
    agents = [(f"agent:{agent.name}", f"agent {agent.name} ({agent.state})")
              for agent in server.agent_views() if agent.name != name]
    return tuple(queues + agents)


# --- pages ----------------------------------------------------------------------------


@guarded(action=ACTION)
async def desktop(request: Request) -> Response:
    web = web_of(request)
    server, name = _server(request), _agent_name(request)
    desk = Desk.of(request)
    work = await web.blocking(_work, server, name, desk, _services(request))
    notice = desk.take_notice(name)
    message = request.query_params.get("message", "")
    if notice is not None and notice[0] == "error":
        message = notice[1]
    return web.templates.render(request, "desktop/desktop.html", title="Desktop", **work, message=message,
                                notice=notice[1] if notice is not None and notice[0] == "ok" else "")


@guarded(action=ACTION)
async def panel(request: Request) -> Response:
    web = web_of(request)
    work = await web.blocking(_work, _server(request), _agent_name(request), Desk.of(request), _services(request))
    return web.templates.render(request, "desktop/panel.html", **work)


@guarded(action=ACTION)
async def events(request: Request) -> Response:
    """This agent's events, and their chats' customer messages, as server-sent events."""
    server, name = _server(request), _agent_name(request)
    chat = web_of(request).optional_service("chat")

    async def stream():
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=10_000)

        def put(text: str | None) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(text)

        async def from_server() -> None:
            async for event in server.events():
                if event.agent == name or (event.kind == "routed" and (event.data or {}).get("agent") == name):
                    put(f"event: {event.kind}\n"
                        f"data: {json.dumps({'kind': event.kind, 'interaction': event.interaction})}\n\n")

        loop = asyncio.get_running_loop()

        def from_chat(frame: dict) -> None:  # on the chat's threads
            if frame.get("type") == "message" and frame.get("from") == "customer":
                data = {"interaction": frame.get("chat"), "seq": frame.get("seq"), "from": "customer",
                        "text": frame.get("text")}
                loop.call_soon_threadsafe(put, f"event: chat\ndata: {json.dumps(data)}\n\n")

        async def until_gone() -> None:
            # the page going away is noticed at once, not at the next write: the chat feed
            # leaves the chat with it
            while (await request.receive())["type"] != "http.disconnect":
                pass
            put(None)

        unfollow = chat.follow(name, from_chat) if chat is not None else None
        helpers = [asyncio.ensure_future(from_server()), asyncio.ensure_future(until_gone())]
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    text = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    text = ": still here\n\n"
                if text is None:
                    break
                yield text
        finally:
            for helper in helpers:
                helper.cancel()
            if unfollow is not None:
                unfollow()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- the agent's state and offers ------------------------------------------------------


async def _act(request: Request, operation: Any, *args: Any, **options: Any) -> Response:
    """Run a server operation for this agent; a refusal (wrong state) comes back as a notice."""
    web = web_of(request)
    try:
        await web.blocking(operation, *args, **options)
    except (CarusoError, ValueError) as exc:
        Desk.of(request).notify(_agent_name(request), str(exc))
    return RedirectResponse("/desktop", status_code=303)


def _done(request: Request, text: str | None = None, *, error: bool = False) -> Response:
    if text:
        Desk.of(request).notify(_agent_name(request), text, kind="error" if error else "ok")
    return RedirectResponse("/desktop", status_code=303)


@guarded(action=ACTION)
async def set_state(request: Request) -> Response:
    server, name = _server(request), _agent_name(request)
    state = str((await request.form()).get("state", ""))
    operations = {"ready": lambda: (server.login(name) if server.agent(name).state == "logged-out"
                                    else server.set_ready(name)),
                  "away": lambda: server.set_away(name, "break"),
                  "logged-out": lambda: server.logout(name)}
    if state not in operations:
        raise Refused(400, f"unknown state {state!r}; choose ready, away or logged-out")
    return await _act(request, operations[state])


@guarded(action=ACTION)
async def accept(request: Request) -> Response:
    server, name = _server(request), _agent_name(request)
    return await _act(request, server.accept, name, request.path_params["interaction"])


@guarded(action=ACTION)
async def complete(request: Request) -> Response:
    web = web_of(request)
    server, name = _server(request), _agent_name(request)
    interaction_id = request.path_params["interaction"]
    code = str((await request.form()).get("code", "")).strip()[:40] or None
    desk = Desk.of(request)
    outcome = None
    session, scripts = desk.session(interaction_id), web.optional_service("scripts")
    if session is not None and scripts is not None:
        try:
            view = await web.blocking(scripts.view, session)
            outcome = view.outcome if view.status == "ended" else None
        except CarusoError:
            pass
    try:
        await web.blocking(server.complete, name, interaction_id, code, outcome)
    except CarusoError as exc:
        return _done(request, str(exc), error=True)
    desk.forget(interaction_id)
    return _done(request)


# --- working on a held interaction -----------------------------------------------------


async def _held(request: Request) -> tuple[Any, str, Any]:
    """(server, agent name, interaction) for an interaction connected to this agent or in their
    wrap-up; anything else - another agent's, an ended or unknown one - is 404 and logged."""
    web = web_of(request)
    server, name = _server(request), _agent_name(request)
    interaction_id = request.path_params["interaction"]
    try:
        item = await web.blocking(server.interaction, interaction_id)
    except CarusoError:
        item = None
    if item is None or item.agent != name or item.state not in HELD:
        hide(request, f"interaction {interaction_id}, which is not with agent {name!r}")
    return server, name, item


def _text(form: Any, what: str) -> str:
    text = str(form.get("text", "")).strip()
    if not text:
        raise ValueError(f"{what} needs text")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    return text


def _scripts(request: Request) -> Any:
    scripts = web_of(request).optional_service("scripts")
    if scripts is None:
        raise Refused(503, "the script engine is not running")
    return scripts


@guarded(action=ACTION)
async def script_start(request: Request) -> Response:
    """Start (or continue) the interaction's script: the customer's self-service session in
    agent mode, or the script the agent chose, with the IVR's answers as known answers."""
    web = web_of(request)
    server, name, item = await _held(request)
    scripts = _scripts(request)
    desk = Desk.of(request)
    form = await request.form()
    channel = PHONE.get(item.channel, item.channel)
    self_service = item.data.get("script") or {}
    try:
        if form.get("resume") and self_service.get("session"):
            view = await web.blocking(scripts.resume, str(self_service["session"]), mode="agent", channel=channel)
        else:
            script_id = str(form.get("script", "")).strip()
            if not script_id:
                return _done(request, "choose a script to start", error=True)
            known = {**(self_service.get("answers") or {}), **((item.data.get("ivr") or {}).get("answers") or {})}
            view = await web.blocking(
                scripts.start_session, script_id, mode="agent", customer=item.customer, channel=channel,
                known=known or None,
                context={"interaction": item.id, "agent": name, "queue": item.queue})
    except CarusoError as exc:
        return _done(request, str(exc), error=True)
    desk.set_session(item.id, view.session_id)
    return _done(request)


async def _running_script(request: Request) -> tuple[Any, Any, Any, str | None]:
    """(the contact, the scripts service, the desk, the contact's script session or None)."""
    _, _, item = await _held(request)
    desk = Desk.of(request)
    return item, _scripts(request), desk, desk.session(item.id)


NO_SCRIPT = "no script runs for this contact yet; start one first"


@guarded(action=ACTION)
async def script_answer(request: Request) -> Response:
    web = web_of(request)
    item, scripts, desk, session = await _running_script(request)
    if session is None:
        return _done(request, NO_SCRIPT, error=True)
    form = await request.form()
    try:
        view = await web.blocking(answer_from_form, scripts, session, form)
    except CarusoError as exc:
        return _done(request, str(exc), error=True)
    if view is None:
        return _done(request, "the script had moved on (answered elsewhere); here is the step it is at now",
                     error=True)
    desk.set_refusal(item.id, view.error)
    return _done(request)


@guarded(action=ACTION)
async def script_back(request: Request) -> Response:
    web = web_of(request)
    item, scripts, desk, session = await _running_script(request)
    if session is None:
        return _done(request, NO_SCRIPT, error=True)
    try:
        await web.blocking(scripts.back, session)
    except CarusoError as exc:
        return _done(request, str(exc), error=True)
    desk.set_refusal(item.id, None)
    return _done(request)


@guarded(action=ACTION)
async def chat_send(request: Request) -> Response:
    web = web_of(request)
    _, name, item = await _held(request)
    chat = web.optional_service("chat")
    if item.channel != "chat":
        return _done(request, f"interaction {item.id} is {item.channel}, not a chat", error=True)
    if chat is None:
        raise Refused(503, "the chat service is not running")
    form = await request.form()
    try:
        await web.blocking(chat.send_to_customer, name, item.id, _text(form, "a chat message"))
    except (CarusoError, ValueError) as exc:
        return _done(request, str(exc), error=True)
    return _done(request)


@guarded(action=ACTION)
async def reply(request: Request) -> Response:
    """Answer an e-mail (the last message the customer sent) or an SMS."""
    web = web_of(request)
    _, name, item = await _held(request)
    if item.channel not in ("email", "sms"):
        return _done(request, f"interaction {item.id} is {item.channel}: only an e-mail or an SMS is "
                              "answered with a reply", error=True)
    service = web.optional_service(item.channel)
    if service is None:
        raise Refused(503, f"the {item.channel} service is not running")
    form = await request.form()
    try:
        await web.blocking(service.reply, item.id, _text(form, "a reply"), agent=name)
    except (CarusoError, ValueError) as exc:
        return _done(request, str(exc), error=True)
    return _done(request, "Your reply is on its way (in the outbox until the relay takes it).")


@guarded(action=ACTION)
async def transfer(request: Request) -> Response:
    """Move the interaction to another queue or agent (the server's ``transfer``)."""
    web = web_of(request)
    server, name, item = await _held(request)
    form = await request.form()
    kind, _, target = str(form.get("target", "")).partition(":")
    reason = str(form.get("reason", "")).strip()[:200] or None
    if kind not in ("queue", "agent") or not target:
        return _done(request, "choose a queue or an agent to transfer to", error=True)
    options = {"queue": target} if kind == "queue" else {"to_agent": target}
    try:
        await web.blocking(server.transfer, name, item.id, reason=reason, **options)
    except CarusoError as exc:
        return _done(request, str(exc), error=True)
    return _done(request, f"Transferred to {kind} {target}.")
