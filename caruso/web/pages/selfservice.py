"""The customer's self-service portal: their own data, guided help (dialogue scripts in
self-service mode), the FAQ, and a way to a person - a chat or a callback.

Who the customer is comes from one place only: the logged-in user's ``customer`` field
(``caruso web adduser NAME --role customer --customer KEY``), never from the address or a
form. So a customer reads and changes only their own Customer record; the change goes
through ``Records`` (the role must write Customer, its record rules must hold) and is
checked by the model's rules - a refused value comes back next to its field with 422 and
nothing is saved. A script session is the customer's when it was started for them
(``context.customer_id``, the session view's ``customer``) in
self-service mode; anyone else's session, or one that does not exist, is answered 404
and logged - the same answer, so session ids cannot be probed.

Every service the portal uses is optional: without ``scripts``, ``knowledge``, ``chat``
or ``communication`` the page says what is not available instead of failing.
"""

from __future__ import annotations

import datetime as dt
import decimal
import types
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from caruso.errors import CarusoError, ValidationError
from caruso.web.guard import Refused, guarded, hide, permissions, web_of
from caruso.web.records import FieldErrors, Records, fields_of
from caruso.web.script_steps import answer_from_form
from caruso.web.templating import MenuItem

__all__ = ["CONTACT_FIELDS", "SHOWN_FIELDS", "menu", "routes", "self_service_scripts"]

ACTION = "selfservice"
OBJECT = "Customer"
CONTACT_FIELDS = ("name", "email", "phone", "mobile")
"""The attributes of Customer a customer may change themselves (those the model has)."""
SHOWN_FIELDS = ("number", "name", "email", "phone", "mobile", "language")
"""The attributes of Customer a customer is shown (not the company's own: segment, notes)."""
CHAT_BASE = "/chat"
"""Where the front office mounts the chat channel (``app.build_app``)."""
MAX_QUESTION = 2000
"""The longest question a customer may send to the staff (characters)."""
MAX_SEARCH = 400
"""The longest FAQ search text (characters)."""
MAX_ACTIVE_SHOWN = 5
"""How many of the customer's unfinished guided-help sessions the scripts page offers to continue."""

NOT_LINKED = ("your login is not linked to a customer record, so there is nothing to show here; "
              "please contact us to have it linked")
NO_SCRIPTS = "Guided help is not available at the moment."
NO_KNOWLEDGE = "The questions and answers (FAQ) are not available at the moment."
NO_CHAT = "Chatting with us is not available at the moment; request a callback instead."
NO_CALLBACK = "Requesting a callback is not available at the moment; please call us."
NO_DATA = "Your details cannot be shown at the moment."


def routes(web: Any) -> list[Route]:
    return [
        Route("/self-service", home, methods=["GET", "POST"]),
        Route("/self-service/scripts", script_list),
        Route("/self-service/scripts/{script}", script_start, methods=["POST"]),
        Route("/self-service/sessions/{session}", session_page, methods=["GET", "POST"]),
        Route("/self-service/sessions/{session}/back", session_back, methods=["POST"]),
        Route("/self-service/sessions/{session}/chat", session_chat, methods=["POST"]),
        Route("/self-service/callback", callback, methods=["POST"]),
        Route("/self-service/faq", faq),
        Route("/self-service/faq/ask", faq_ask, methods=["POST"]),
    ]


def menu(web: Any) -> list[MenuItem]:
    return [MenuItem("self-service", "Self-service", "/self-service", lambda perms: perms.can(ACTION), order=5)]


# --- who the customer is --------------------------------------------------------------


def _customer_text(request: Request) -> str:
    """The logged-in user's Customer key as text; 403 (logged) for a user linked to none."""
    user = permissions(request).user
    key = user.customer if user is not None else None
    if key is None or not str(key).strip():
        request.scope["caruso.refused"] = "self-service without a customer field"
        raise Refused(403, NOT_LINKED, event="denied")
    return str(key).strip()


def _typed_key(web: Any, text: str) -> Any:
    """The key as the Customer key column's type (``"42"`` -> 42), for the services' calls."""
    bom = web.optional_service("bom")
    if bom is None or OBJECT not in bom.model:
        return text
    definition = bom.model[OBJECT].__caruso__.definition
    if len(definition.primary_key) == 1 and definition.primary_key[0].type == "integer":
        stripped = text.lstrip("-")
        if stripped.isdigit():
            return int(text)
    return text


def _plain(value: Any) -> Any:
    """An answer as JSON has it (dates as ISO text, decimals as text), for a contact's data."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- the customer's own data ----------------------------------------------------------


def _no_data() -> dict[str, Any]:
    return {"customer": None, "collections": [], "fields": {}, "editable": [], "shown": [], "problem": NO_DATA}


def _own_data(request: Request, key_text: str) -> dict[str, Any]:
    """The customer's record and the collections their role may read (a worker thread).

    The record comes from the ``customers`` service's 360-degree view (or straight from the
    ``bom`` without it); the user's record rules must still let them see it."""
    web = web_of(request)
    perms = permissions(request)
    bom = web.optional_service("bom")
    if bom is None or OBJECT not in bom.model:
        return _no_data()
    records = Records(request)
    cls = bom.model[OBJECT]
    key = records.key_of(cls, key_text)
    customers = web.optional_service("customers")
    collections: Mapping[str, Any] = {}
    if customers is not None:
        view = customers.view(key if len(key) > 1 else key[0], history=1)
        values = dict(view.customer) if view is not None else None
        if view is not None:
            collections = view.collections
    else:
        with bom.session() as session:
            found = cls.get(session, key)
            values = found.to_dict() if found is not None else None
    if values is None:
        hide(request, f"{OBJECT} {key_text}, which the user's customer field names but does not exist")
    if not perms.allows(OBJECT, types.SimpleNamespace(**values)):
        hide(request, f"{OBJECT} {key_text}, outside the user's record rules")
    fields = fields_of(cls)
    shown_collections = []
    for name, items in collections.items():
        target = getattr(cls, name).property.mapper.class_.__caruso__.name
        if not perms.can_read(target):
            continue
        visible = [item for item in items if perms.allows(target, types.SimpleNamespace(**item))]
        columns = [c for c in (visible[0] if visible else {}) if c != "id" and not c.endswith("_id")]
        shown_collections.append({"name": name, "title": name.replace("_", " ").capitalize(),
                                  "columns": columns, "rows": visible})
    editable = [name for name in CONTACT_FIELDS if name in fields] if perms.can_write(OBJECT) else []
    return {"customer": values, "collections": shown_collections, "fields": fields, "editable": editable,
            "shown": [name for name in SHOWN_FIELDS if name in fields], "problem": ""}


def _contact_values(data: Mapping[str, Any]) -> dict[str, str]:
    return {name: "" if data["customer"].get(name) is None else str(data["customer"][name])
            for name in data["editable"]}


def _phone_of(data: Mapping[str, Any]) -> str:
    customer = data.get("customer") or {}
    return str(customer.get("phone") or customer.get("mobile") or "")


@guarded(action=ACTION)
async def home(request: Request) -> Response:
    """The customer's data and the form that changes their contact data (POST)."""
    web = web_of(request)
    key_text = _customer_text(request)
    try:
        data = await web.blocking(_own_data, request, key_text)
    except CarusoError:  # the database or the customers service failed: say so, keep the rest
        data = _no_data()
    errors: dict[str, str] = {}
    values = _contact_values(data) if data["customer"] is not None else {}
    if request.method == "POST":
        if not data["editable"]:
            request.scope["caruso.refused"] = "changing their own Customer record"
            raise Refused(403, "your details cannot be changed here; please contact us to change them",
                          event="denied")
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in data["editable"]}
        try:
            await web.blocking(Records(request).update, OBJECT, key_text, values)
        except FieldErrors as exc:
            errors = exc.errors
        else:
            return RedirectResponse("/self-service?saved=1", status_code=303)
    return web.templates.render(
        request, "selfservice/home.html", status=422 if errors else 200, title="Self-service", **data,
        values=values, errors=errors, saved=bool(request.query_params.get("saved")) and not errors,
        other_errors={k: v for k, v in errors.items() if k not in data["editable"]},
        phone=_phone_of(data), can_callback=web.optional_service("communication") is not None,
        no_callback=NO_CALLBACK, session_id="")


# --- guided help: dialogue scripts in self-service mode --------------------------------


def _scripts(request: Request) -> Any:
    scripts = web_of(request).optional_service("scripts")
    if scripts is None:
        raise Refused(503, NO_SCRIPTS)
    return scripts


def self_service_scripts(scripts: Any) -> list[tuple[str, str, str]]:
    """(id, title, description) of the scripts a customer can run: not fragments, and with at
    least one question asked in ``self-service`` mode."""
    found = []
    for script_id, script in sorted(scripts.scripts.items()):
        if script.fragment:
            continue
        if any("self-service" in getattr(step, "modes", ()) and hasattr(step, "kind")
               for step in script.steps.values()):
            found.append((script_id, script.title or script_id, script.description or ""))
    return found


def _unfinished(scripts: Any, key: Any) -> list[Any]:
    """The customer's active self-service sessions, newest first (a worker thread)."""
    found = []
    for session_id in scripts.sessions(customer=key, status="active"):
        try:
            view = scripts.view(session_id)
        except CarusoError:
            continue
        if view.mode == "self-service":
            found.append(view)
        if len(found) >= MAX_ACTIVE_SHOWN:
            break
    return found


@guarded(action=ACTION)
async def script_list(request: Request) -> Response:
    web = web_of(request)
    key = _typed_key(web, _customer_text(request))
    scripts = web.optional_service("scripts")
    available: list[tuple[str, str, str]] = []
    unfinished: list[Any] = []
    problem = ""
    if scripts is None:
        problem = NO_SCRIPTS
    else:
        try:
            available = self_service_scripts(scripts)
            if available:
                unfinished = await web.blocking(_unfinished, scripts, key)
        except CarusoError:
            problem = NO_SCRIPTS
    return web.templates.render(request, "selfservice/scripts.html", title="Guided help", scripts=available,
                                unfinished=unfinished, problem=problem, titles={s[0]: s[1] for s in available})


@guarded(action=ACTION)
async def script_start(request: Request) -> Response:
    web = web_of(request)
    key = _typed_key(web, _customer_text(request))
    scripts = _scripts(request)
    script_id = request.path_params["script"]
    if script_id not in {found[0] for found in self_service_scripts(scripts)}:
        raise Refused(404, "there is no such guided help")
    try:
        view = await web.blocking(scripts.start_session, script_id, mode="self-service", customer=key,
                                  channel="web")
    except CarusoError as exc:
        return _failed(request, f"the guided help could not start: {exc}")
    return RedirectResponse(f"/self-service/sessions/{view.session_id}", status_code=303)


def _failed(request: Request, message: str, *, status: int = 503) -> Response:
    return web_of(request).templates.render(request, "error.html", status=status, status_code=status,
                                            title="Self-service", message=message)


def _owned(scripts: Any, session_id: str, key: Any) -> Any:
    """The session's view when it was started for customer ``key``, else None (a worker thread)."""
    try:
        view = scripts.view(session_id)
    except CarusoError:
        return None
    return view if view.customer is not None and str(view.customer) == str(key) else None


async def _session(request: Request, session_id: str | None = None) -> tuple[Any, Any, Any]:
    """(scripts, customer key, view) of the session in the address (or ``session_id``), when it
    is this customer's; anyone else's, or none, is 404 and logged."""
    web = web_of(request)
    key = _typed_key(web, _customer_text(request))
    scripts = _scripts(request)
    session_id = session_id if session_id is not None else request.path_params.get("session", "")
    view = await web.blocking(_owned, scripts, session_id, key)
    if view is None:
        hide(request, f"script session {session_id}, which is not customer {key}'s")
    return scripts, key, view


def _customer_phone(web: Any, key: Any) -> str:
    """The customer's phone (or mobile) number to offer for a callback, or "" (a worker thread)."""
    bom = web.optional_service("bom")
    if bom is None or OBJECT not in bom.model:
        return ""
    with bom.session() as session:
        found = bom.model[OBJECT].get(session, key)
        if found is None:
            return ""
        return str(getattr(found, "phone", None) or getattr(found, "mobile", None) or "")


async def _render_session(request: Request, view: Any, key: Any, *, status: int = 200,
                          error: str | None = None) -> Response:
    web = web_of(request)
    chat = web.optional_service("chat")
    scripts = web.optional_service("scripts")
    title = view.script
    if scripts is not None and view.script in scripts.scripts:
        title = scripts.scripts[view.script].title or view.script
    asked = [r for r in view.requests if r.get("kind") in ("escalate", "transfer", "callback")]
    server = web.optional_service("communication")
    phone = await web.blocking(_customer_phone, web, key) if server is not None else ""
    return web.templates.render(
        request, "selfservice/session.html", status=status, title=title, view=view, script_title=title,
        error=error or view.error, taken_over=view.mode != "self-service", asked=asked,
        can_chat=chat is not None and getattr(chat, "asgi", None) is not None, no_chat=NO_CHAT,
        can_callback=server is not None, no_callback=NO_CALLBACK, phone=phone, session_id=view.session_id)


@guarded(action=ACTION)
async def session_page(request: Request) -> Response:
    """One step of a guided-help session (GET), or the customer's answer to it (POST)."""
    web = web_of(request)
    scripts, key, view = await _session(request)
    if request.method == "GET":
        return await _render_session(request, view, key)
    if view.mode != "self-service":
        return await _render_session(request, view, key, status=409)
    form = await request.form()
    session_id = view.session_id
    try:
        moved = await web.blocking(answer_from_form, scripts, session_id, form)
    except CarusoError as exc:
        current = await web.blocking(scripts.view, session_id)
        return await _render_session(request, current, key, status=409, error=str(exc))
    if moved is None:
        current = await web.blocking(scripts.view, session_id)
        return await _render_session(request, current, key, status=409,
                                     error="this question had already been answered (in another window); "
                                     "here is where you are now")
    if moved.error:
        return await _render_session(request, moved, key, status=422)
    return RedirectResponse(f"/self-service/sessions/{session_id}", status_code=303)


@guarded(action=ACTION)
async def session_back(request: Request) -> Response:
    web = web_of(request)
    scripts, key, view = await _session(request)
    if view.mode != "self-service":
        return await _render_session(request, view, key, status=409)
    try:
        await web.blocking(scripts.back, view.session_id)
    except CarusoError as exc:
        return await _render_session(request, view, key, status=409, error=str(exc))
    return RedirectResponse(f"/self-service/sessions/{view.session_id}", status_code=303)


@guarded(action=ACTION)
async def session_chat(request: Request) -> Response:
    """Continue in a chat: the chat page at /chat, told the session (its answers travel with
    the chat to the agent, ``data["script"]``)."""
    web = web_of(request)
    _, _, view = await _session(request)
    chat = web.optional_service("chat")
    if chat is None or getattr(chat, "asgi", None) is None:
        raise Refused(503, NO_CHAT)
    return RedirectResponse(chat.escalation_url(view.session_id, base=CHAT_BASE), status_code=303)


# --- a callback -------------------------------------------------------------------------


def _script_data(view: Any, known_queues: set[str]) -> tuple[dict[str, Any], str | None]:
    """What a callback carries of a session (the shape the chat gives ``data["script"]``) and the
    queue the script asked for, when the server has it."""
    queue = next((r.get("queue") for r in reversed(view.requests)
                  if r.get("kind") in ("escalate", "transfer", "callback")), None)
    queue = queue if queue in known_queues else None
    return ({"session": view.session_id, "script": view.script, "step": view.step, "status": view.status,
             "answers": {k: _plain(v) for k, v in view.answers.items()}, "queue": queue}, queue)


@guarded(action=ACTION)
async def callback(request: Request) -> Response:
    """Ask to be called back, on a number the customer gives, from the portal or a session."""
    from caruso.services.communication.identify import normalise_number

    web = web_of(request)
    key = _typed_key(web, _customer_text(request))
    form = await request.form()
    session_id = str(form.get("session", "")).strip()
    view = None
    if session_id:
        _, _, view = await _session(request, session_id)
    server = web.optional_service("communication")
    number_text = str(form.get("number", "")).strip()[:40]
    context = {"title": "Request a callback", "number": number_text, "session_id": session_id,
               "confirmed": None, "error": "", "retry": False, "back": f"/self-service/sessions/{session_id}" if session_id
               else "/self-service"}
    if server is None:
        return web.templates.render(request, "selfservice/callback.html", status=503,
                                    **{**context, "error": NO_CALLBACK})
    number = normalise_number(number_text) if number_text else None
    if number is None:
        message = ("give the number to call you on" if not number_text else
                   "that is not a phone number we can call; write it with the country code, like +31201234567")
        return web.templates.render(request, "selfservice/callback.html", status=422,
                                    **{**context, "error": message, "retry": True})

    def offer() -> Any:
        if not session_id:  # one waiting callback per customer: a second click is the same request
            for waiting in server.waiting():
                if (waiting.channel == "callback" and str(waiting.customer) == str(key)
                        and (waiting.data or {}).get("requested") == "self-service"):
                    return waiting
        known = {status.name for status in server.queue_status()}
        data: dict[str, Any] = {"number": number, "requested": "self-service"}
        queue = None
        if view is not None:
            data["script"], queue = _script_data(view, known)
        return server.offer("callback", queue=queue, address=number, customer=key, direction="outbound",
                            subject="Callback requested in self-service", data=data,
                            external=f"self-service-callback:{session_id}" if session_id else None)

    try:
        offered = await web.blocking(offer)
    except CarusoError as exc:
        return web.templates.render(request, "selfservice/callback.html", status=503,
                                    **{**context, "error": f"your callback could not be requested: {exc}"})
    return web.templates.render(request, "selfservice/callback.html",
                                **{**context, "number": offered.address or number, "confirmed": offered.id})


# --- the FAQ ----------------------------------------------------------------------------


@guarded(action=ACTION)
async def faq(request: Request) -> Response:
    web = web_of(request)
    _customer_text(request)
    knowledge = web.optional_service("knowledge")
    query = request.query_params.get("q", "").strip()[:MAX_SEARCH]
    results: list[dict[str, Any]] = []
    problem = ""
    if knowledge is None:
        problem = NO_KNOWLEDGE
    elif query:
        try:
            results = await web.blocking(knowledge.search, query, limit=10)
        except CarusoError:
            problem = NO_KNOWLEDGE
    return web.templates.render(request, "selfservice/faq.html", title="Questions and answers", q=query,
                                results=results, problem=problem, asked=None, error="", question=query)


@guarded(action=ACTION)
async def faq_ask(request: Request) -> Response:
    """"My question was not answered": the question becomes a request for the staff (the
    knowledge service's ``ask``, told the customer found no answer in what the FAQ has)."""
    web = web_of(request)
    key = _typed_key(web, _customer_text(request))
    knowledge = web.optional_service("knowledge")
    form = await request.form()
    question = str(form.get("question", "")).strip()
    context = {"title": "Questions and answers", "q": question[:MAX_SEARCH], "results": [], "problem": "",
               "asked": None, "error": "", "question": question}
    if knowledge is None:
        return web.templates.render(request, "selfservice/faq.html", status=503,
                                    **{**context, "problem": NO_KNOWLEDGE})
    if not question:
        return web.templates.render(request, "selfservice/faq.html", status=422,
                                    **{**context, "error": "type your question first"})
    if len(question) > MAX_QUESTION:
        return web.templates.render(request, "selfservice/faq.html", status=422,
                                    **{**context, "error": f"a question is at most {MAX_QUESTION} characters"})

    try:
        answered = await web.blocking(lambda: knowledge.ask(question, customer=key, channel="web", unanswered=True))
        request_key = answered.request
    except CarusoError as exc:  # ValidationError is a CarusoError
        detail = "; ".join(v.message for v in exc.violations) if isinstance(exc, ValidationError) else ""
        message = "your question could not be sent to us" + (f": {detail}" if detail else "; please try again later")
        return web.templates.render(request, "selfservice/faq.html", status=503, **{**context, "error": message})
    return web.templates.render(request, "selfservice/faq.html", **{**context, "asked": request_key})
