"""The ``chat`` service: web chats wait in the universal queue like calls and reach agents in order.

Two WebSockets, one Starlette application (``asgi``), served by uvicorn on its
own port when ``port`` is set, or mounted in the web front office:

- ``/ws``, the customer's: the first frame ``{"type": "start", "name", "email",
  "topic", "queue", "language", "session"}`` offers a ``chat`` interaction (a
  ``session`` is a web self-service dialogue session: its answers travel with
  the chat, and its ``escalate``/``transfer`` request chooses the queue); then
  ``{"type": "message", "text"}`` frames, and ``{"type": "end"}``. The customer
  receives ``queued``, ``agent`` (connected), ``message``, ``sent`` (the
  sequence number of their own message) and ``ended``.
- ``/agent?name=anna&token=...``, the agent's: ``offer``, ``connected`` (with the
  transcript so far and the script answers), ``message``, ``withdrawn`` and
  ``ended`` frames arrive; the agent sends ``login``, ``ready``, ``away``,
  ``accept``, ``decline``, ``message``, ``end`` and ``complete``. An agent holds
  as many chats as their chat capacity allows (the router's business).

Every message is numbered per chat (``seq``), recorded in the history before it
is passed on, and passed on through one queue per WebSocket, so both sides see
each chat's messages in the order they were sent. Messages a customer writes
while waiting are kept and shown to the agent on connecting.

The page (``/``) is a jinja2 template with autoescape; ``/?session=ID`` is the
address a self-service page sends a customer to when they escalate.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

import attrs
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from caruso.errors import CarusoError
from caruso.services.base import DOWN, Health
from caruso.services.channels.base import ChannelService, NewContactSettings
from caruso.services.channels.flood import FloodGuard, FloodLimit

__all__ = ["ChatChannel", "ChatSettings"]

log = logging.getLogger("caruso.channels.chat")

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True)


@attrs.frozen
class ChatSettings:
    """``[services.chat.settings]``.

    Args:
        host, port: serve the chat on its own (port 0: a free one); None: only ``asgi``,
            to mount in the web front office.
        queue: the queue chats wait in (default: the server's default queue).
        queues: the queues a customer may ask for by name (empty: only ``queue``).
        title: the chat page's title.
        agent_token: the shared secret agents' WebSockets must give (``?token=``);
            None: agents connect without (only on a trusted network).
        max_message_length: characters per message; longer ones are refused.
        flood: messages per chat in a window; more are refused (the chat goes on).
        new_contact: create a business object for a customer no one matches.
        workers: threads for the blocking work of the sockets (the server, the history).
    """

    host: str = "127.0.0.1"
    port: int | None = None
    queue: str | None = None
    queues: tuple[str, ...] = ()
    title: str = "Chat with us"
    agent_token: str | None = None
    max_message_length: int = attrs.field(default=4000, validator=attrs.validators.gt(0))
    flood: FloodLimit = FloodLimit(messages=30, per=10.0)
    new_contact: NewContactSettings = NewContactSettings()
    workers: int = attrs.field(default=32, validator=attrs.validators.ge(1))


class _Listener:
    """A follower of an agent's frames that is not a socket (``follow``)."""

    def __init__(self, deliver: Callable[[dict], None]):
        self.deliver = deliver

    def send(self, frame: dict | None) -> None:
        if frame is not None:  # None closes a socket; a listener is stopped by its owner
            self.deliver(frame)


class _Socket:
    """One WebSocket's outgoing frames: a queue drained by one writer task, so order holds
    whichever thread sends."""

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self.writer = self.loop.create_task(self._write())

    def send(self, frame: dict | None) -> None:
        """Queue a frame (None closes the socket after what is queued); any thread."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, frame)
        except RuntimeError:  # the loop is closed: the socket is gone anyway
            pass

    async def _write(self) -> None:
        while True:
            frame = await self.queue.get()
            try:
                if frame is None:
                    await self.websocket.close()
                    return
                await self.websocket.send_json(frame)
            except Exception:  # the peer went away; the reader sees it too
                return

    async def finish(self) -> None:
        self.send(None)
        try:
            await asyncio.wait_for(self.writer, 5)
        except (asyncio.TimeoutError, Exception):
            self.writer.cancel()


async def _frames(websocket: WebSocket, socket: _Socket) -> Any:
    """The JSON objects a peer sends, until it goes; anything else is answered with an error frame."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            frame = json.loads(message.get("text") or message.get("bytes") or b"")
        except ValueError:
            frame = None
        if isinstance(frame, dict):
            yield frame
        else:
            socket.send({"type": "error", "error": "frames are JSON objects: {\"type\": ...}"})


class _Chat:
    __slots__ = ("id", "customer", "address", "name", "socket", "agent", "seq", "lock", "script", "ended")

    def __init__(self, id: str, customer: Any, address: str | None, name: str, socket: _Socket, script: Any):
        self.id = id
        self.customer = customer
        self.address = address
        self.name = name
        self.socket = socket
        self.agent: str | None = None
        self.seq = 0
        self.lock = threading.Lock()
        self.script = script
        self.ended = False


class ChatChannel(ChannelService):
    """The default ``chat`` service (see the module docstring and docs/channels.md)."""

    channel = "chat"
    Settings = ChatSettings

    def __init__(self) -> None:
        self._chats: dict[str, _Chat] = {}
        self._agents: dict[str, set[_Socket | _Listener]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.web: Any = None
        self.asgi = Starlette(routes=[
            Route("/", self._page),
            WebSocketRoute("/ws", self._customer),
            WebSocketRoute("/agent", self._agent),
        ])

    def on_start(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        super().on_start()
        settings = self.config = self.settings_of(ChatSettings)
        from caruso.services.channels.checks import check_chat, raise_problems

        raise_problems(self.context.name, check_chat(settings, {status.name for status in self.server.queue_status()}))
        # the server's and the history's calls block: run them off the event loop, enough at
        # once that the history's group commit has company
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="caruso-chat")
        self._flood = FloodGuard(settings.flood, self.clock.monotonic)
        self.scripts = self.manager.get("scripts") if "scripts" in self.manager else None
        self._abandon_orphans()
        if settings.port is not None:
            from caruso.services.channels.web import ServerThread

            self.history.open()
            self.web = ServerThread(self.asgi, host=settings.host, port=settings.port, name="caruso-chat")
            self.web.start()

    def on_stop(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _blocking(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` on the channel's threads, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def health(self) -> Health:
        if self.context is None or self.server is None:
            return Health(DOWN, "not started")
        with self._lock:
            return Health(detail=f"{len(self._chats)} chats open, {len(self._agents)} agents connected")

    @property
    def port(self) -> int | None:
        """The port the chat is served on (None: mounted elsewhere)."""
        return self.web.port if self.web is not None else None

    def escalation_url(self, session_id: str, *, base: str = "") -> str:
        """Where a self-service page sends a customer to continue in a chat."""
        from urllib.parse import quote

        return f"{base}/?session={quote(session_id)}"

    def _abandon_orphans(self) -> None:
        """Chats recovered after a restart have no customer at the other end any more: end them."""
        try:
            waiting = self.server.waiting()
        except CarusoError:
            return
        for view in waiting:
            if view.channel == "chat" and view.id not in self._chats:
                try:
                    self.server.hangup(view.id, by="customer")
                except CarusoError as exc:
                    log.warning("chat: could not end the orphaned chat %s: %s", view.id, exc)

    # --- the page ---------------------------------------------------------------------

    async def _page(self, request: Request) -> HTMLResponse:
        template = _TEMPLATES.get_template("chat.html")
        return HTMLResponse(template.render(title=self.config.title, session=request.query_params.get("session", ""),
                                            queues=self.config.queues))

    # --- the customer's side ----------------------------------------------------------

    async def _customer(self, websocket: WebSocket) -> None:
        await websocket.accept()
        socket = _Socket(websocket)
        chat: _Chat | None = None
        frames = _frames(websocket, socket)
        try:
            start = await anext(frames, None)
            if start is None or start.get("type") != "start":
                socket.send({"type": "error", "error": "the first frame must be {\"type\": \"start\", ...}"})
                return
            try:
                chat = await self._blocking(self._start, start, socket)
            except (CarusoError, ValueError) as exc:
                socket.send({"type": "error", "error": str(exc)})
                return
            async for frame in frames:
                kind = frame.get("type")
                if kind == "message":
                    error = await self._blocking(self._from_customer, chat, frame.get("text"))
                    if error:
                        socket.send({"type": "error", "error": error})
                elif kind == "end":
                    break
                else:
                    socket.send({"type": "error", "error": f"unknown frame type {kind!r}"})
        except WebSocketDisconnect:  # gone: the chat ends
            pass
        finally:
            if chat is not None:
                await self._blocking(self._customer_left, chat)
            await socket.finish()

    def _start(self, frame: dict, socket: _Socket) -> _Chat:
        settings = self.config
        name = str(frame.get("name") or "").strip()[:100] or "Customer"
        address = str(frame.get("email") or "").strip().lower()[:255] or None
        topic = str(frame.get("topic") or "").strip()[:255] or None
        queue = frame.get("queue") or settings.queue
        if frame.get("queue") and frame["queue"] not in settings.queues:
            raise ValueError(f"no chat queue {frame['queue']!r}; choose one of: {', '.join(settings.queues) or '-'}")
        script = self._script(str(frame["session"])) if frame.get("session") else None
        if script is not None and script.get("queue"):
            queue = script["queue"]
        customer, priority, _ = self.customer_for(settings.new_contact, address, name)
        # the browser's language only when the call centre works in it: a chat in a language no
        # agent speaks would wait for nobody
        language = str(frame.get("language") or "")[:8] or None
        if language not in (getattr(self.server.config, "languages", None) or ()):
            language = None
        data: dict[str, Any] = {"chat": {"name": name}}
        if script is not None:
            data["script"] = script
        holder: list[_Chat] = []
        # ring() and connect() may come before offer() returns, on this thread, under the server's
        # lock: they find the new chat through this thread's pending start (never take self._lock
        # around a server call: the server calls channels with its lock held)
        self._local.pending = (socket, name, address, script, holder)
        try:
            view = self.server.offer("chat", queue=queue, address=address, customer=customer, subject=topic,
                                     priority=priority, language=language, data=data)
        finally:
            self._local.pending = None
        chat = holder[0] if holder else _Chat(view.id, customer, address, name, socket, script)
        with self._lock:
            self._chats.setdefault(view.id, chat)
        socket.send({"type": "queued", "chat": view.id, "state": view.state})
        if chat.agent is not None:
            socket.send({"type": "agent", "chat": chat.id, "name": chat.agent})
        return chat

    def _script(self, session_id: str) -> dict[str, Any]:
        """The answers of the self-service session a customer escalates from."""
        if self.scripts is None:
            raise ValueError("no script engine: a chat cannot continue a self-service session")
        view = self.scripts.view(session_id)
        from caruso.services.communication.ivr import _plain

        queue = next((r.get("queue") for r in reversed(view.requests) if r.get("kind") in ("escalate", "transfer")),
                     None)
        known = {status.name for status in self.server.queue_status()}
        return {"session": view.session_id, "script": view.script, "step": view.step, "status": view.status,
                "answers": {k: _plain(v) for k, v in view.answers.items()},
                "queue": queue if queue in known else None}

    def _from_customer(self, chat: _Chat, text: Any) -> str | None:
        """Record and pass on one customer message; why it was refused, or None."""
        if not isinstance(text, str) or not text.strip():
            return "a message needs text"
        if len(text) > self.config.max_message_length:
            return f"the chat message is larger than max_message_length ({self.config.max_message_length})"
        if not self._flood.allow(chat.id):
            return f"too many messages: {self._flood.describe()}"
        with chat.lock:
            if chat.ended:
                return "the chat has ended"
            chat.seq += 1
            seq = chat.seq
            self.record("inbound", customer=chat.customer, address=chat.address, agent=chat.agent,
                        interaction=chat.id, summary=text, body=f"chat:{chat.id}:{seq}", data={"seq": seq})
            frame = {"type": "message", "chat": chat.id, "seq": seq, "from": "customer", "text": text}
            agent = chat.agent
        chat.socket.send({"type": "sent", "chat": chat.id, "seq": seq})
        if agent is not None:
            self._to_agent(agent, frame)
        return None

    def _customer_left(self, chat: _Chat) -> None:
        with chat.lock:
            already = chat.ended
            chat.ended = True
        if not already:
            try:
                self.server.hangup(chat.id, by="customer")
            except CarusoError:  # it was already over
                pass
        with self._lock:
            self._chats.pop(chat.id, None)

    # --- the agent's side -------------------------------------------------------------

    async def _agent(self, websocket: WebSocket) -> None:
        name = websocket.query_params.get("name", "")
        token = self.config.agent_token
        if token is not None and not hmac.compare_digest(websocket.query_params.get("token", "").encode(),
                                                         token.encode()):
            await websocket.close(code=4403, reason="wrong or missing token")
            return
        try:
            self.server.agent(name)
        except CarusoError as exc:
            await websocket.close(code=4404, reason=str(exc)[:120])
            return
        await websocket.accept()
        socket = _Socket(websocket)
        with self._lock:
            self._agents.setdefault(name, set()).add(socket)
            mine = [chat for chat in self._chats.values() if chat.agent == name]
        socket.send({"type": "hello", "agent": name, "chats": [self._connected_frame(chat) for chat in mine]})
        try:
            async for frame in _frames(websocket, socket):
                reply = await self._blocking(self._agent_frame, name, frame)
                if reply is not None:
                    socket.send(reply)
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                sockets = self._agents.get(name)
                if sockets is not None:
                    sockets.discard(socket)
                    if not sockets:
                        del self._agents[name]
            await socket.finish()

    def _agent_frame(self, name: str, frame: Any) -> dict | None:
        kind = frame.get("type") if isinstance(frame, dict) else None
        chat_id = frame.get("chat") if isinstance(frame, dict) else None
        server = self.server
        try:
            if kind == "login":
                server.login(name)
            elif kind == "ready":
                server.set_ready(name)
            elif kind == "away":
                server.set_away(name, str(frame.get("reason") or "away"))
            elif kind == "accept":
                server.accept(name, chat_id)
            elif kind == "decline":
                server.decline(name, chat_id)
            elif kind == "message":
                self.send_to_customer(name, chat_id, frame.get("text"))
            elif kind == "end":
                server.hangup(chat_id, by="agent")
            elif kind == "complete":
                server.complete(name, chat_id, code=frame.get("code"))
            else:
                return {"type": "error", "error": f"unknown frame type {kind!r}"}
        except (CarusoError, ValueError) as exc:
            return {"type": "error", "chat": chat_id, "error": str(exc)}
        return None

    def send_to_customer(self, agent: str, chat_id: str, text: Any) -> int:
        """An agent's message to the customer of a chat they are connected to; its ``seq``.

        Raises:
            ValueError: not this agent's chat, the chat has ended, or no text.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a message needs text")
        if len(text) > self.config.max_message_length:
            raise ValueError(f"the chat message is larger than max_message_length ({self.config.max_message_length})")
        chat = self._chats.get(chat_id)
        if chat is None or chat.agent != agent:
            raise ValueError(f"chat {chat_id} is not connected to {agent}")
        with chat.lock:
            if chat.ended:
                raise ValueError(f"chat {chat_id} has ended")
            chat.seq += 1
            seq = chat.seq
            self.record("outbound", customer=chat.customer, address=chat.address, agent=agent, interaction=chat.id,
                        summary=text, body=f"chat:{chat.id}:{seq}", data={"seq": seq})
        chat.socket.send({"type": "message", "chat": chat.id, "seq": seq, "from": agent, "text": text})
        return seq

    def transcript(self, chat_id: str) -> list[dict[str, Any]]:
        """Every message of a chat, in order, from the history."""
        return [{"seq": entry.data.get("seq"), "from": "customer" if entry.direction == "inbound" else entry.agent,
                 "text": entry.summary, "at": entry.at} for entry in self.history.for_interaction(chat_id)]

    def follow(self, agent: str, deliver: Callable[[dict], None]) -> Callable[[], None]:
        """Also hand ``deliver`` every frame this service sends ``agent``'s chat sockets (the
        customer's messages, chats connected and ended) until the returned function is
        called: how the front office's desktop follows an agent's chats without a socket.
        ``deliver`` is called from any thread and must not block."""
        listener = _Listener(deliver)
        with self._lock:
            self._agents.setdefault(agent, set()).add(listener)

        def stop() -> None:
            with self._lock:
                followers = self._agents.get(agent)
                if followers is not None:
                    followers.discard(listener)
                    if not followers:
                        del self._agents[agent]

        return stop

    def _to_agent(self, agent: str, frame: dict) -> None:
        with self._lock:
            sockets = list(self._agents.get(agent, ()))
        for socket in sockets:
            socket.send(frame)

    def _connected_frame(self, chat: _Chat) -> dict:
        return {"type": "connected", "chat": chat.id, "name": chat.name, "customer": chat.customer,
                "address": chat.address, "script": chat.script, "transcript": self.transcript(chat.id)}

    # --- what the server asks (Channel) -----------------------------------------------

    def _chat_of(self, interaction: Any) -> _Chat | None:
        chat = self._chats.get(interaction.id)
        pending = getattr(self._local, "pending", None)
        if chat is None and pending is not None:
            socket, name, address, script, holder = pending
            chat = _Chat(interaction.id, interaction.customer, address, name, socket, script)
            holder.append(chat)
            with self._lock:
                self._chats[interaction.id] = chat
        return chat

    def ring(self, interaction: Any, agent: Any) -> None:
        chat = self._chat_of(interaction)
        name = chat.name if chat is not None else None
        self._to_agent(agent.name, {"type": "offer", "chat": interaction.id, "name": name,
                                    "customer": interaction.customer, "subject": interaction.subject,
                                    "waiting": interaction.waiting, "script": interaction.data.get("script")})

    def connect(self, interaction: Any, agent: Any) -> None:
        chat = self._chat_of(interaction)
        if chat is None:
            return
        with chat.lock:
            chat.agent = agent.name
        self._to_agent(agent.name, self._connected_frame(chat))
        chat.socket.send({"type": "agent", "chat": chat.id, "name": agent.name})

    def withdraw(self, interaction: Any, agent: Any) -> None:
        self._to_agent(agent.name, {"type": "withdrawn", "chat": interaction.id})
        chat = self._chats.get(interaction.id)
        if chat is not None and chat.agent == agent.name:  # transferred away from this agent
            with chat.lock:
                chat.agent = None

    def release(self, interaction: Any) -> None:
        chat = self._chats.get(interaction.id)
        if interaction.agent:
            self._to_agent(interaction.agent, {"type": "ended", "chat": interaction.id})
        if chat is None:
            return
        with chat.lock:
            chat.ended = True
        chat.socket.send({"type": "ended", "chat": chat.id})
        chat.socket.send(None)
