"""The agent desktop: log in to the communication server, set a state, take what is offered.

The page is rendered on the server; a server-sent-events stream (``/desktop/events``)
carries the communication server's events for this agent, and the page reloads its
work panel when one arrives - so an offered call appears without polling, and every
decision (accept, wrap up) is a CSRF-protected form the server checks again.
The user's ``agent`` field names the agent they are on the communication server.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from caruso.errors import CarusoError
from caruso.web.guard import Refused, guarded, permissions, web_of
from caruso.web.templating import MenuItem

__all__ = ["menu", "routes"]

ACTION = "desktop"


def routes(web: Any) -> list[Route]:
    return [
        Route("/desktop", desktop),
        Route("/desktop/panel", panel),
        Route("/desktop/events", events),
        Route("/desktop/state", set_state, methods=["POST"]),
        Route("/desktop/{interaction}/accept", accept, methods=["POST"]),
        Route("/desktop/{interaction}/complete", complete, methods=["POST"]),
    ]


def menu(web: Any) -> list[MenuItem]:
    return [MenuItem("desktop", "Desktop", "/desktop", lambda perms: perms.can(ACTION), order=10)]


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


def _work(server: Any, name: str) -> dict[str, Any]:
    """The agent's state and interactions, read under the server's lock."""
    agent = server.agent(name)
    interactions = [server.interaction(i) for i in agent.interactions]
    return {"agent": agent, "interactions": interactions}


@guarded(action=ACTION)
async def desktop(request: Request) -> Response:
    web = web_of(request)
    server, name = _server(request), _agent_name(request)
    work = await web.blocking(_work, server, name)
    return web.templates.render(request, "desktop/desktop.html", title="Desktop", **work,
                                message=request.query_params.get("message", ""))


@guarded(action=ACTION)
async def panel(request: Request) -> Response:
    web = web_of(request)
    work = await web.blocking(_work, _server(request), _agent_name(request))
    return web.templates.render(request, "desktop/panel.html", **work)


@guarded(action=ACTION)
async def events(request: Request) -> Response:
    """This agent's events as server-sent events (the page reloads its panel on each)."""
    server, name = _server(request), _agent_name(request)

    async def stream():
        yield "retry: 2000\n\n"
        async for event in server.events():
            if event.agent == name or (event.kind == "routed" and (event.data or {}).get("agent") == name):
                yield f"event: {event.kind}\ndata: {json.dumps({'kind': event.kind, 'interaction': event.interaction})}\n\n"
            if await request.is_disconnected():
                break

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _act(request: Request, operation: Any, *args: Any, **options: Any) -> Response:
    """Run a server operation for this agent; a refusal (wrong state) comes back as a message."""
    web = web_of(request)
    try:
        await web.blocking(operation, *args, **options)
    except CarusoError as exc:
        from urllib.parse import quote

        return RedirectResponse(f"/desktop?message={quote(str(exc))}", status_code=303)
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
    server, name = _server(request), _agent_name(request)
    code = str((await request.form()).get("code", "")).strip()[:40] or None
    return await _act(request, server.complete, name, request.path_params["interaction"], code)
