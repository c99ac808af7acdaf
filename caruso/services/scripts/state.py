"""The state of one dialogue session, and its compact JSON form.

A session is small on purpose: where it stands, the answers given, the
variables actions set, the context it was started with and what it asked
other components to do (transfer, escalate, call back). Everything else -
the bound business objects, the rendered prompts - is derived again from the
script when a session is loaded, so the stored form stays a few kilobytes
even for long scripts and a session survives a restart or a change of
channel.

Values in the JSON are plain JSON, except dates, datetimes and decimals,
written as ``{"$date": "2026-01-31"}``, ``{"$datetime": "...+00:00"}`` and
``{"$decimal": "12.50"}`` so they come back as the same Python types.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from caruso.errors import ScriptError

__all__ = ["ACTIVE", "ENDED", "FAILED", "SessionState", "plain_value"]

ACTIVE, ENDED, FAILED = "active", "ended", "failed"

_MAX_DEPTH = 20


@attrs.define(slots=True)
class SessionState:
    """Everything about a session that must outlive the process.

    Attributes:
        id: the session id.
        script: the script's id; ``version`` the script version it started on.
        mode: ``agent``, ``self-service`` or ``ivr``; ``language`` of the prompts.
        step: the current step's id.
        status: ``active``, ``ended`` or ``failed``.
        outcome: the end's outcome once ended; ``error`` why it failed.
        answers: variable -> answer, in the order given.
        prefilled: variables answered without asking (known or prefilled), so
            an agent can tell what the customer said from what was looked up.
        known: answers known before the session started, used when their
            question comes up (skipped unless it asks to confirm).
        variables: what ``set`` and other actions stored.
        context: the contact's context (``channel``, ``queue``, ``customer_id``, ...).
        trail: the steps that stopped for the person before the current one,
            for ``back`` (stored as one space-separated string).
        requests: what the script asked of other components (transfer,
            escalate, callback), for them to act on; see docs/actions.md.
        notes: notes recorded by the ``note`` action.
        actions: one ``[step, action, error-or-null]`` per action run, so a
            failure is never half-done and unreported.
    """

    id: str
    script: str
    version: str
    mode: str
    language: str
    step: str
    status: str = ACTIVE
    outcome: str | None = None
    error: str | None = None
    answers: dict[str, Any] = attrs.field(factory=dict)
    prefilled: list[str] = attrs.field(factory=list)
    known: dict[str, Any] = attrs.field(factory=dict)
    variables: dict[str, Any] = attrs.field(factory=dict)
    context: dict[str, Any] = attrs.field(factory=dict)
    trail: list[str] = attrs.field(factory=list)
    requests: list[dict[str, Any]] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    actions: list[list[Any]] = attrs.field(factory=list)

    @property
    def channel(self) -> str | None:
        return self.context.get("channel")

    def to_json(self) -> str:
        """The compact JSON stored for the session; empty collections are left out."""
        data: dict[str, Any] = {}
        for field in attrs.fields(SessionState):
            value = getattr(self, field.name)
            if value or field.name in _ALWAYS:
                data[field.name] = value
        if self.trail:
            data["trail"] = " ".join(self.trail)  # step ids are XML name tokens: never a space
        return json.dumps(_escape(data), separators=(",", ":"), ensure_ascii=False, default=_encode)

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionState:
        """The state back from ``to_json``'s text.

        Raises:
            ScriptError: the text is not a stored session state (damaged in the database).
        """
        try:
            data = json.loads(text, object_hook=_decode)
        except (ValueError, ArithmeticError, TypeError) as exc:  # InvalidOperation is an ArithmeticError
            raise ScriptError(f"a stored session state cannot be read ({type(exc).__name__}: {exc})") from exc
        if "trail" in data:
            data["trail"] = data["trail"].split()
        return cls(**data)


_ALWAYS = frozenset({"id", "script", "version", "mode", "language", "step", "status"})


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"a session cannot store a {type(value).__name__}")


def _escape(value: Any) -> Any:
    """Data whose dicts could be mistaken for the type tags below, made unmistakable.

    A caller's own one-key dict such as ``{"$date": "soon"}`` (from a web form,
    say) is stored as ``{"$dict": [["$date", "soon"]]}``, so it comes back as the
    same dict rather than as a date, or an error.
    """
    if isinstance(value, dict):
        escaped = {key: _escape(item) for key, item in value.items()}
        if len(escaped) == 1 and next(iter(escaped)).startswith("$"):
            return {"$dict": [[key, item] for key, item in escaped.items()]}
        return escaped
    if isinstance(value, list):
        return [_escape(item) for item in value]
    return value


def _decode(data: dict[str, Any]) -> Any:
    if len(data) == 1:
        ((key, text),) = data.items()
        if key == "$dict":
            return {item_key: item for item_key, item in text}
        if key == "$date":
            return date.fromisoformat(text)
        if key == "$datetime":
            return datetime.fromisoformat(text)
        if key == "$decimal":
            return Decimal(text)
    return data


def plain_value(value: Any, _depth: int = 0) -> Any:
    """``value`` as something a session can store and an expression can read:
    None, bool, int, float, str, Decimal, date, datetime, lists and dicts of
    them. Tuples and sets become lists; attrs and dataclass instances become
    dicts of their fields. Infinite and NaN floats are refused (JSON has none).

    Raises:
        TypeError: naming the type that cannot be kept (a connection, a
            business object: return its key or ``to_dict()`` instead).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"{value!r} cannot be kept in a dialogue session; only finite numbers can")
    if value is None or isinstance(value, bool | int | float | str | Decimal | date):
        return value
    if _depth > _MAX_DEPTH:
        raise TypeError(f"a value nested deeper than {_MAX_DEPTH} levels cannot be kept")
    if isinstance(value, Mapping):
        return {str(k): plain_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_value(v, _depth + 1) for v in value]
    if attrs.has(type(value)):
        return plain_value(attrs.asdict(value, recurse=False), _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain_value({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, _depth + 1)
    raise TypeError(
        f"a {type(value).__name__} cannot be kept in a dialogue session; "
        "return plain data (numbers, text, dates, lists, dicts)"
    )
