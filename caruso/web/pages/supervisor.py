"""The supervisor's pages: the live monitor, pushed by server-sent events, and the reports.

The monitor page is rendered from the monitor service's snapshot and then kept current
by ``/supervisor/events``: the changes the monitor folds in (an agent goes ready, a
call waits, an alarm is raised) send the new snapshot as JSON - at most one every
``COALESCE`` seconds - which the page writes into its tables as text. Reports run on the reports service and are shown in the page
as the same self-contained HTML ``caruso report`` writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from caruso.errors import CarusoError
from caruso.web.guard import Refused, guarded, web_of
from caruso.web.templating import MenuItem

__all__ = ["menu", "routes"]

COALESCE = 0.25
"""Seconds between two snapshots sent to one monitor page: a call centre's busy second changes
the monitor dozens of times, and one snapshot shows them all."""
KEEP_ALIVE = 15.0
"""Seconds without a change after which a comment is sent (proxies keep the stream open, and
a page that went away is noticed)."""


def routes(web: Any) -> list[Route]:
    return [
        Route("/supervisor", monitor_page),
        Route("/supervisor/events", monitor_events),
        Route("/supervisor/reports", reports_page),
        Route("/supervisor/reports/{name}", report),
    ]


def menu(web: Any) -> list[MenuItem]:
    return [
        MenuItem("monitor", "Monitor", "/supervisor", lambda perms: perms.can("monitor"), order=20),
        MenuItem("reports", "Reports", "/supervisor/reports", lambda perms: perms.can("reports"), order=21),
    ]


def _service(request: Request, name: str) -> Any:
    found = web_of(request).optional_service(name)
    if found is None:
        raise Refused(503, f"the {name} service is not running in this application")
    return found


@guarded(action="monitor")
async def monitor_page(request: Request) -> Response:
    web = web_of(request)
    snapshot = await web.blocking(_service(request, "monitor").snapshot)
    return web.templates.render(request, "supervisor/monitor.html", title="Monitor", snapshot=snapshot)


@guarded(action="monitor")
async def monitor_events(request: Request) -> Response:
    monitor = _service(request, "monitor")
    web = web_of(request)

    async def stream():
        yield "retry: 2000\n\n"
        changed = asyncio.Event()

        async def follow() -> None:
            async for _change in monitor.changes():
                changed.set()

        follower = asyncio.create_task(follow())
        try:
            while not await request.is_disconnected():
                try:
                    await asyncio.wait_for(changed.wait(), timeout=KEEP_ALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                changed.clear()
                snapshot = await web.blocking(monitor.snapshot)
                yield f"event: snapshot\ndata: {json.dumps(snapshot.to_dict(), default=str)}\n\n"
                await asyncio.sleep(COALESCE)  # a burst of changes becomes one snapshot
        finally:
            follower.cancel()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@guarded(action="reports")
async def reports_page(request: Request) -> Response:
    web = web_of(request)
    reports = _service(request, "reports")
    names = await web.blocking(reports.names)
    definitions = [await web.blocking(reports.definition, name) for name in names]
    return web.templates.render(request, "supervisor/reports.html", title="Reports", definitions=definitions)


@guarded(action="reports")
async def report(request: Request) -> Response:
    """One report over ``from``..``to`` (ISO dates; default: today) as its HTML page."""
    from caruso.services.reporting.render import to_html

    web = web_of(request)
    reports = _service(request, "reports")
    name = request.path_params["name"]
    if name not in await web.blocking(reports.names):
        raise Refused(404, f"there is no report {name!r}")
    today = dt.datetime.combine(dt.date.today(), dt.time())
    try:
        start = dt.datetime.fromisoformat(request.query_params.get("from", today.isoformat()))
        end = dt.datetime.fromisoformat(request.query_params.get("to", (start + dt.timedelta(days=1)).isoformat()))
        result = await web.blocking(reports.run, name, start, end)
    except ValueError as exc:
        raise Refused(400, f"from and to are dates like 2026-12-02: {exc}") from None
    except CarusoError as exc:
        raise Refused(400, str(exc)) from None
    return HTMLResponse(to_html(result, application=web.context.app.name if web.context.app else ""))
