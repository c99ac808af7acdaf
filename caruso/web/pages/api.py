"""The JSON API of the front office: business objects and interactions for integrations, with
an OpenAPI document generated from the running model (docs/api.md).

Every call comes with ``Authorization: Bearer TOKEN`` (``caruso web token``) and needs the
action ``api``; business objects are read and written through ``Records``, so the API and
the pages apply the same role permissions and record rules. Interactions come from the
communication server and need ``interactions``, ``monitor`` or ``desktop`` as well.

Errors are answered as ``{"error": message}`` (and ``"fields": {attribute: message}`` for a
422 about values): 400 for a body that is not JSON, 401 without a valid token, 403 for a
role that does not allow the call (logged ``denied``), 404 for an unknown object or a record
outside the user's record rules (logged ``not-found``), 413 for a body over ``max_body``,
422 for values the model or the API refuses, 503 when a service is not running.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from caruso.errors import (
    CarusoError,
    EventLogUnavailable,
    InteractionStateError,
    ServiceStateError,
    UnknownName,
    did_you_mean,
)
from caruso.web.guard import Refused, deny, guarded, permissions, web_of
from caruso.web.records import MAX_PAGE, Field, FieldErrors, Records, fields_of, json_kind, plain

__all__ = ["openapi_document", "routes"]

RESERVED = ("q", "sort", "offset", "limit")
"""Query parameters of a list that are not attribute filters."""

INTERACTION_ACTIONS = ("interactions", "monitor", "desktop")
"""Reading and offering interactions needs ``api`` and one of these actions."""

INT64 = 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_OFFSET = INT32_MAX

_OFFER_FIELDS: dict[str, int | None] = {
    "channel": None, "queue": 100, "address": 254, "subject": 200, "language": 16, "external": 255, "data": None,
}
"""The fields of an offered interaction, with the longest text each takes."""


def routes(web: Any) -> list[Route]:
    return [
        Route("/api/openapi.json", openapi),
        Route("/api/objects", objects),
        Route("/api/objects/{name}", collection, methods=["GET", "POST"]),
        Route("/api/objects/{name}/{key}", record, methods=["GET", "PATCH", "DELETE"]),
        Route("/api/objects/{name}/{key}/{related}", related),
        Route("/api/interactions", interactions, methods=["GET", "POST"]),
        Route("/api/interactions/{id}", interaction),
    ]


# --- answers ------------------------------------------------------------------------------


def _error(status: int, message: str, fields: Mapping[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields is not None:
        body["fields"] = dict(fields)
    return JSONResponse(body, status_code=status)


def _invalid(exc: FieldErrors) -> JSONResponse:
    return _error(422, str(exc), exc.errors)


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object; 400 when the body is not JSON, 422 when it is not an object."""
    raw = await request.body()
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise Refused(400, f"the request body is not valid JSON: {reason}") from None
    if not isinstance(value, dict):
        raise Refused(422, f"the request body must be a JSON object ({{\"attribute\": value, ...}}), "
                           f"not {json_kind(value)}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can carry it (an interaction's data may hold a recording's bytes)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"bytes": len(value)}
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def _number(query: Mapping[str, str], name: str, default: int, low: int, high: int,
            errors: dict[str, str]) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        number = int(text.strip())
    except ValueError:
        errors[name] = "write a whole number like 42"
        return default
    if not low <= number <= high:
        errors[name] = f"must be between {low} and {high}"
    return number


# --- business objects ---------------------------------------------------------------------


@guarded(action="api")
async def objects(request: Request) -> Response:
    records = Records(request)
    perms = permissions(request)
    found = []
    for name in records.bom.model.definitions:
        if perms.can_read(name):
            found.append(_describe(records.bom.model[name], writable=perms.can_write(name)))
    return JSONResponse({"items": found})


def _describe(cls: type, *, writable: bool) -> dict[str, Any]:
    meta = cls.__caruso__
    return {
        "name": meta.name,
        "description": meta.definition.description or "",
        "key": [a.name for a in meta.definition.primary_key],
        "writable": writable,
        "fields": [{"name": f.name, "type": f.type, "required": f.required, "values": list(f.values),
                    "length": f.length, "primary_key": f.primary_key, "generated": f.generated,
                    "description": f.description} for f in fields_of(cls).values()],
        "collections": list(meta.collection_order),
    }


@guarded(action="api")
async def collection(request: Request) -> Response:
    if request.method == "POST":
        return await _create(request)
    web = web_of(request)
    records = Records(request)
    name = request.path_params["name"]
    cls = records.object_class(name)
    fields = fields_of(cls)
    query = request.query_params
    errors: dict[str, str] = {}
    offset = _number(query, "offset", 0, 0, MAX_OFFSET, errors)
    limit = _number(query, "limit", 50, 1, MAX_PAGE, errors)
    filters = {}
    for attribute, text in query.items():
        if attribute in RESERVED:
            continue
        if attribute in fields:
            filters[attribute] = text
        else:
            errors[attribute] = f"no such attribute{did_you_mean(attribute, fields)}"
    if errors:
        return _invalid(FieldErrors(errors))
    sort = [item.strip() for item in query.get("sort", "").split(",") if item.strip()]
    unknown = [item for item in sort if item.lstrip("-") not in fields]
    if unknown:
        wanted = unknown[0].lstrip("-")
        return _invalid(FieldErrors({"sort": f"no attribute {wanted!r} to sort by{did_you_mean(wanted, fields)}"}))
    search_in = [f.name for f in fields.values() if f.type in ("string", "text")]
    try:
        page = await web.blocking(records.list, name, search=query.get("q", ""), search_in=search_in,
                                  filters=filters, sort=sort, offset=offset, limit=limit)
    except FieldErrors as exc:
        return _invalid(exc)
    return JSONResponse({"items": [plain(row) for row in page.rows], "total": page.total,
                         "offset": page.offset, "limit": page.limit})


async def _create(request: Request) -> Response:
    records = Records(request)
    name = request.path_params["name"]
    cls = records.object_class(name, write=True)
    try:
        created = await web_of(request).blocking(records.create, name, await _body(request))
    except FieldErrors as exc:
        return _invalid(exc)
    location = f"/api/objects/{name}/{Records.key_text(cls, created)}"
    return JSONResponse(plain(created), status_code=201, headers={"Location": location})


@guarded(action="api")
async def record(request: Request) -> Response:
    web = web_of(request)
    records = Records(request)
    name, key = request.path_params["name"], request.path_params["key"]
    records.object_class(name, write=request.method != "GET")  # refused before the body is read
    try:
        if request.method == "GET":
            return JSONResponse(plain(await web.blocking(records.get, name, key)))
        if request.method == "PATCH":
            return JSONResponse(plain(await web.blocking(records.update, name, key, await _body(request))))
        await web.blocking(records.delete, name, key)
    except FieldErrors as exc:
        if request.method == "DELETE":  # only the database refuses a delete: records still refer to it
            return _error(409, str(exc), exc.errors)
        return _invalid(exc)
    return Response(status_code=204)


@guarded(action="api")
async def related(request: Request) -> Response:
    web = web_of(request)
    records = Records(request)
    name, key, wanted = (request.path_params[p] for p in ("name", "key", "related"))
    cls = records.object_class(name)
    if wanted not in cls.__caruso__.collection_order:
        known = ", ".join(cls.__caruso__.collection_order) or "none"
        raise Refused(404, f"{name} has no collection {wanted!r} (its collections: {known})")
    errors: dict[str, str] = {}
    limit = _number(request.query_params, "limit", 50, 1, MAX_PAGE, errors)
    if errors:
        return _invalid(FieldErrors(errors))
    found = await web.blocking(records.related, name, key, wanted, limit=limit)
    return JSONResponse({"items": [plain(row) for row in found], "limit": limit})


# --- interactions -------------------------------------------------------------------------


def _server(request: Request) -> Any:
    if not any(permissions(request).can(action) for action in INTERACTION_ACTIONS):
        deny(request, "interactions (it needs the action 'interactions', 'monitor' or 'desktop')")
    server = web_of(request).optional_service("communication")
    if server is None:
        raise Refused(503, "the communication server is not running in this application")
    return server


def _interaction(view: Any) -> dict[str, Any]:
    return _jsonable(attrs.asdict(view, recurse=False))


async def _call(request: Request, function: Any, *args: Any, **kwargs: Any) -> Any:
    """A communication-server call on a worker thread, its refusals as API errors."""
    try:
        return await web_of(request).blocking(function, *args, **kwargs)
    except (ServiceStateError, EventLogUnavailable) as exc:
        raise Refused(503, str(exc)) from None


@guarded(action="api")
async def interactions(request: Request) -> Response:
    server = _server(request)
    if request.method == "POST":
        return await _offer(request, server)
    query = request.query_params
    state = query.get("state", "waiting")
    if state not in ("waiting", "open"):
        return _invalid(FieldErrors({"state": "write waiting or open"}))
    queue = query.get("queue") or None
    try:
        if state == "open":
            found = await _call(request, _open, server, queue)
        else:
            found = await _call(request, server.waiting, queue)
    except UnknownName as exc:
        return _invalid(FieldErrors({"queue": str(exc)}))
    return JSONResponse({"items": [_interaction(view) for view in found]})


def _open(server: Any, queue: str | None) -> list[Any]:
    """The waiting interactions, then those the agents hold (of ``queue`` when given)."""
    found = {view.id: view for view in server.waiting(queue)}
    for agent in server.agent_views():
        for interaction_id in agent.interactions:
            try:
                view = server.interaction(interaction_id)
            except CarusoError:  # it ended between the two reads
                continue
            if queue is None or view.queue == queue:
                found.setdefault(view.id, view)
    return list(found.values())


async def _offer(request: Request, server: Any) -> Response:
    values = await _body(request)
    errors: dict[str, str] = {}
    for name, value in values.items():
        if name not in _OFFER_FIELDS:
            errors[name] = f"no such field; an interaction is offered with {', '.join(_OFFER_FIELDS)}"
        elif name == "data":
            if value is not None and not isinstance(value, dict):
                errors[name] = f"is {json_kind(value)}; expected a JSON object"
        elif value is not None and not isinstance(value, str):
            errors[name] = f"is {json_kind(value)}; expected text"
        elif value is not None and "\x00" in value:
            errors[name] = "contains a NUL character"
        elif value is not None and len(value) > (_OFFER_FIELDS[name] or INT64):
            errors[name] = f"is longer than {_OFFER_FIELDS[name]} characters"
    if not values.get("channel"):
        errors.setdefault("channel", "is required: voice, email, chat, sms, callback or voicemail")
    if errors:
        return _invalid(FieldErrors(errors))
    options = {name: values[name] for name in ("queue", "address", "subject", "language", "external", "data")
               if values.get(name) is not None}
    try:
        view = await _call(request, server.offer, values["channel"], **options)
    except UnknownName as exc:
        field = exc.kind if exc.kind in _OFFER_FIELDS else "channel"
        return _invalid(FieldErrors({field: str(exc)}))
    except InteractionStateError as exc:
        return _invalid(FieldErrors({"queue": str(exc)}))
    return JSONResponse(_interaction(view), status_code=201, headers={"Location": f"/api/interactions/{view.id}"})


@guarded(action="api")
async def interaction(request: Request) -> Response:
    server = _server(request)
    try:
        view = await _call(request, server.interaction, request.path_params["id"])
    except (UnknownName, InteractionStateError) as exc:
        raise Refused(404, str(exc)) from None
    return JSONResponse(_interaction(view))


# --- the OpenAPI document -----------------------------------------------------------------


@guarded(action="api")
async def openapi(request: Request) -> Response:
    records = Records(request)
    return JSONResponse(openapi_document(records.bom.model, permissions(request)))


def _property(field: Field, *, bounds: bool) -> dict[str, Any]:
    """The JSON schema of one attribute's value (OpenAPI 3.0)."""
    kind = field.type
    if kind == "integer":
        low, high = (INT32_MIN, INT32_MAX) if bounds else (-INT64, INT64)
        schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    elif kind == "string":
        schema = {"type": "string"}
        if field.length is not None:
            schema["maxLength"] = field.length
    elif kind == "text":
        schema = {"type": "string"}
    elif kind == "enum":
        schema = {"type": "string", "enum": list(field.values)}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "decimal":
        schema = {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    elif kind == "boolean":
        schema = {"type": "boolean"}
    else:  # json
        schema = {"type": "object"}
    if field.description:
        schema["description"] = " ".join(field.description.split())
    if not field.required or field.generated:
        schema["nullable"] = True
    return schema


def _schemas(cls: type) -> dict[str, dict[str, Any]]:
    """The record as answered, as created and as changed."""
    name = cls.__caruso__.name
    fields = fields_of(cls)
    attributes = {a.name for a in cls.__caruso__.definition.attributes}
    record: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    new: dict[str, Any] = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    changes: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
    for field in fields.values():
        schema = _property(field, bounds=field.name in attributes)
        record["properties"][field.name] = dict(schema, readOnly=True) if field.generated else schema
        if field.required and not field.generated:
            record["required"].append(field.name)
        if not field.generated:
            new["properties"][field.name] = schema
            if field.required:
                new["required"].append(field.name)
        if not field.primary_key:
            changes["properties"][field.name] = schema
    description = " ".join((cls.__caruso__.definition.description or "").split())
    if description:
        record["description"] = description
    for schema in (record, new):
        if not schema["required"]:
            del schema["required"]
    return {name: record, f"{name}New": new, f"{name}Changes": changes}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/{_ERROR_RESPONSES[status][0]}"} for status in statuses}


_ERROR_RESPONSES = {
    400: ("BadRequest", "The body is not valid JSON."),
    401: ("Unauthorized", "No valid bearer token: log in first."),
    403: ("Forbidden", "The role does not allow this (logged as denied)."),
    404: ("NotFound", ("No such object, record, collection or interaction, or a record outside the "
                       "caller's record rules (logged as not-found).")),
    409: ("Conflict", "The database refused to delete the record: other records refer to it."),
    413: ("TooLarge", "The body is larger than the front office accepts (max_body)."),
    422: ("Invalid", "Values the model or the API refuses, by field (an unknown attribute is named)."),
    503: ("Unavailable", "A service the call needs is not running."),
}

_READ_ERRORS = (401, 403, 404, 422, 503)
_WRITE_ERRORS = (400, 401, 403, 404, 413, 422, 503)


def _key_parameter(cls: type) -> dict[str, Any]:
    attributes = cls.__caruso__.definition.primary_key
    if len(attributes) == 1 and attributes[0].type == "integer":
        schema: dict[str, Any] = {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX}
    else:
        schema = {"type": "string", "minLength": 1}
    names = ", ".join(a.name for a in attributes)
    return {"name": "key", "in": "path", "required": True, "schema": schema,
            "description": f"the record's {names}" + (" (values joined by commas)" if len(attributes) > 1 else "")}


def _paths_of(cls: type, *, writable: bool) -> dict[str, Any]:
    name = cls.__caruso__.name
    fields = fields_of(cls)
    attributes = {a.name for a in cls.__caruso__.definition.attributes}
    list_parameters: list[dict[str, Any]] = [
        {"name": "q", "in": "query", "schema": {"type": "string"},
         "description": "text searched, without case, in the text attributes"},
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "attributes to sort by, separated by commas; -name sorts descending"},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    ]
    for field in fields.values():
        if field.type != "json" and field.name not in RESERVED:
            schema = _property(field, bounds=field.name in attributes)
            schema.pop("nullable", None)
            schema.pop("description", None)
            list_parameters.append({"name": field.name, "in": "query", "schema": schema,
                                    "description": f"only records whose {field.name} equals this"})
    page = {"type": "object", "required": ["items", "total", "offset", "limit"], "properties": {
        "items": {"type": "array", "items": _ref(name)}, "total": {"type": "integer"},
        "offset": {"type": "integer"}, "limit": {"type": "integer"}}}
    tag = [name]
    created_headers = {"Location": {"description": "the new record's address", "schema": {"type": "string"}}}
    paths: dict[str, Any] = {
        f"/api/objects/{name}": {"get": {
            "operationId": f"list{name}", "tags": tag, "summary": f"A page of {name} records",
            "parameters": list_parameters,
            "responses": {"200": _json(page, f"{name} records the caller may see"), **_errors(*_READ_ERRORS)}}},
        f"/api/objects/{name}/{{key}}": {
            "parameters": [_key_parameter(cls)],
            "get": {"operationId": f"get{name}", "tags": tag, "summary": f"One {name}",
                    "responses": {"200": _json(_ref(name), f"the {name}"), **_errors(*_READ_ERRORS)}}},
    }
    if writable:
        paths[f"/api/objects/{name}"]["post"] = {
            "operationId": f"create{name}", "tags": tag, "summary": f"Create a {name}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(f"{name}New")}}},
            "responses": {"201": _json(_ref(name), f"the new {name}", headers=created_headers),
                          **_errors(*_WRITE_ERRORS)}}
        paths[f"/api/objects/{name}/{{key}}"]["patch"] = {
            "operationId": f"change{name}", "tags": tag, "summary": f"Change a {name}",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref(f"{name}Changes")}}},
            "responses": {"200": _json(_ref(name), f"the changed {name}"), **_errors(*_WRITE_ERRORS)}}
        paths[f"/api/objects/{name}/{{key}}"]["delete"] = {
            "operationId": f"delete{name}", "tags": tag, "summary": f"Delete a {name}",
            "responses": {"204": {"description": "deleted"}, **_errors(*_READ_ERRORS, 409)}}
    for collection in cls.__caruso__.collection_order:
        target = getattr(cls, collection).property.mapper.class_.__caruso__.name
        items = {"type": "object", "required": ["items", "limit"], "properties": {
            "items": {"type": "array", "items": _ref(target)}, "limit": {"type": "integer"}}}
        paths[f"/api/objects/{name}/{{key}}/{collection}"] = {
            "parameters": [_key_parameter(cls)],
            "get": {"operationId": f"get{name}{collection.capitalize()}", "tags": tag,
                    "summary": f"The {collection} of a {name} (empty when the caller may not read {target})",
                    "parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}}],
                    "responses": {"200": _json(items, f"the first {collection}"), **_errors(*_READ_ERRORS)}}}
    return paths


def _interaction_schemas() -> dict[str, Any]:
    from caruso.services.communication.model import CHANNELS

    text = {"type": "string", "nullable": True}
    interaction = {"type": "object", "required": ["id", "channel", "direction", "state"], "properties": {
        "id": {"type": "string"}, "channel": {"type": "string"}, "direction": {"type": "string"},
        "state": {"type": "string"}, "customer": {"nullable": True, "description": "the identified customer's key"},
        "address": text, "subject": text, "queue": text, "priority": {"type": "integer"},
        "skills": {"type": "array", "items": {"type": "string"}}, "language": text, "agent": text,
        "waiting": {"type": "number", "description": "seconds waited"}, "data": {"type": "object"},
        "parent": text, "campaign": text, "external": text, "ivr_session": text}}
    offer: dict[str, Any] = {"type": "object", "required": ["channel"], "additionalProperties": False,
                             "properties": {"channel": {"type": "string", "enum": list(CHANNELS)}}}
    for name, length in _OFFER_FIELDS.items():
        if name == "channel":
            continue
        offer["properties"][name] = {"type": "object", "nullable": True} if name == "data" else \
            {"type": "string", "maxLength": length, "nullable": True}
    return {"Interaction": interaction, "InteractionOffer": offer}


def openapi_document(model: Any, perms: Any) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the API as ``perms``' user may call it: a schema and paths
    for every business object they may read, write operations for those they may write."""
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "Objects": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
            "type": "object", "required": ["name", "fields"], "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "key": {"type": "array", "items": {"type": "string"}}, "writable": {"type": "boolean"},
                "collections": {"type": "array", "items": {"type": "string"}},
                "fields": {"type": "array", "items": {"type": "object", "required": ["name", "type"]}}}}}}},
        **_interaction_schemas(),
    }
    paths: dict[str, Any] = {
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["api"], "summary": "This document, for the caller's roles",
            "responses": {"200": _json({"type": "object"}, "the OpenAPI document"), **_errors(401, 403, 503)}}},
        "/api/objects": {"get": {
            "operationId": "listObjects", "tags": ["api"], "summary": "The business objects the caller may read",
            "responses": {"200": _json(_ref("Objects"), "the objects with their fields"),
                          **_errors(401, 403, 503)}}},
    }
    for name in model.definitions:
        if perms.can_read(name):
            cls = model[name]
            schemas.update(_schemas(cls))
            paths.update(_paths_of(cls, writable=perms.can_write(name)))
    items = {"type": "object", "required": ["items"],
             "properties": {"items": {"type": "array", "items": _ref("Interaction")}}}
    paths["/api/interactions"] = {
        "get": {"operationId": "listInteractions", "tags": ["interactions"],
                "summary": "Waiting interactions (state=waiting) or also those agents hold (state=open)",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["waiting", "open"]}},
                    {"name": "queue", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json(items, "the interactions"), **_errors(401, 403, 422, 503)}},
        "post": {"operationId": "offerInteraction", "tags": ["interactions"],
                 "summary": "Offer an interaction (a web callback request, an e-mail from a portal)",
                 "requestBody": {"required": True,
                                 "content": {"application/json": {"schema": _ref("InteractionOffer")}}},
                 "responses": {"201": _json(_ref("Interaction"), "the interaction as it is after arriving",
                                            headers={"Location": {"schema": {"type": "string"}}}),
                               **_errors(400, 401, 403, 413, 422, 503)}},
    }
    paths["/api/interactions/{id}"] = {
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {"operationId": "getInteraction", "tags": ["interactions"], "summary": "A live interaction",
                "responses": {"200": _json(_ref("Interaction"), "the interaction"), **_errors(401, 403, 404, 503)}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Caruso front office API", "version": "1",
                 "description": "Business objects and interactions, under the caller's permissions (docs/api.md)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `caruso web token`"}},
            "schemas": schemas,
            "responses": {title: _json(_ref("Error"), description) if title != "TooLarge" else
                          {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
                          for title, description in _ERROR_RESPONSES.values()},
        },
    }
