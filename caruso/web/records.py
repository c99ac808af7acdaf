"""Business objects read and written on behalf of one web user: the one place where the view
pages and the JSON API meet the model.

Every read and write passes the user's permissions here - may the role read or write the
object, and do the record rules let this user see this record - so a page and an API
call can never disagree about what a user may do. Values arrive as form text or JSON and
are parsed by the attribute's type; a save the model refuses comes back as
``FieldErrors`` (one message per field, answered with 422) and nothing is written.

The methods block on the database: call them through ``web.blocking``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.bom.values import parse_value
from caruso.errors import IntegrityViolation, ValidationError, did_you_mean
from caruso.web.guard import Refused, deny, hide, permissions, web_of

__all__ = ["Field", "FieldErrors", "Page", "Records", "fields_of", "json_kind", "plain"]

MAX_PAGE = 500
"""The most records one list page or API call returns."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""What an integer column holds on every backend."""
DECIMAL_DIGITS = 30
"""Decimals of this many digits before the point or more fit no column Caruso makes."""

_PYTHON_TYPES = {int: "integer", str: "string", bool: "boolean", decimal.Decimal: "decimal",
                 dt.date: "date", dt.datetime: "datetime"}


@attrs.frozen
class Field:
    """One attribute of a business object as a form and the API see it."""

    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    length: int | None = None
    primary_key: bool = False
    generated: bool = False
    description: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


class FieldErrors(Exception):
    """Values a save refused, by field name; nothing was saved (answered with 422)."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


@attrs.frozen
class Page:
    """One page of a list: the records' values, and how many records match in all."""

    rows: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def fields_of(cls: type) -> Mapping[str, Field]:
    """The attributes and foreign-key keys of a business-object class, in model order (worked
    out once per class: every list, form and API call asks)."""
    cache = cls.__caruso__.statements
    found = cache.get("web_fields")
    if found is None:
        found = cache["web_fields"] = MappingProxyType(_fields(cls))
    return found


def _fields(cls: type) -> dict[str, Field]:
    mapper = sa.inspect(cls)
    found = {
        a.name: Field(a.name, a.type, a.required, a.values, a.length, a.primary_key,
                      mapper.columns[a.name].autoincrement is True, a.description)
        for a in cls.__caruso__.definition.attributes
    }
    for prop in mapper.column_attrs:
        if prop.key not in found:  # a foreign-key key such as customer_id
            column = prop.columns[0]
            try:
                kind = _PYTHON_TYPES.get(column.type.python_type, "string")
            except NotImplementedError:
                kind = "string"
            found[prop.key] = Field(prop.key, kind, required=not column.nullable)
    return found


def plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as JSON has them: dates as ISO text, decimals as text (never a rounded float)."""
    return {name: _plain(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


class Records:
    """The business objects one request's user may reach."""

    def __init__(self, request: Any):
        self.request = request
        self.perms = permissions(request)
        bom = web_of(request).optional_service("bom")
        if bom is None:
            raise Refused(503, "the bom service is not running: this application has no business objects")
        self.bom = bom

    # --- which object --------------------------------------------------------------

    def object_class(self, name: str, *, write: bool = False) -> type:
        """The class of ``name`` when the user's roles may read it (or write it)."""
        if name not in self.bom.model:
            hide(self.request, f"business object {name}")
        if not self.perms.can_read(name):
            deny(self.request, f"reading {name}")
        if write and not self.perms.can_write(name):
            deny(self.request, f"changing {name}")
        return self.bom.model[name]

    def key_of(self, cls: type, text: str) -> tuple[Any, ...]:
        """A record's key from its text in an address (``12``; ``a,b`` for a composite key).
        Text that cannot be a key of this object answers 404, like a key nobody has."""
        attributes = cls.__caruso__.definition.primary_key
        parts = text.split(",") if len(attributes) > 1 else [text]
        if len(parts) != len(attributes):
            hide(self.request, f"{cls.__caruso__.name} {text}")
        try:
            return tuple(_parse(Field(a.name, a.type, values=a.values), part)
                         for a, part in zip(attributes, parts, strict=True))
        except ValueError:
            hide(self.request, f"{cls.__caruso__.name} {text}")
            raise  # hide always raises; this keeps type checkers content

    @staticmethod
    def key_text(cls: type, values: Mapping[str, Any]) -> str:
        """How a record's key is written in an address: the inverse of ``key_of``."""
        return ",".join(str(values[a.name]) for a in cls.__caruso__.definition.primary_key)

    # --- reading -------------------------------------------------------------------

    def list(self, name: str, *, search: str = "", search_in: Sequence[str] = (),
             filters: Mapping[str, str] | None = None, sort: Sequence[str] = (),
             offset: int = 0, limit: int = 50) -> Page:
        """One page of the records the user may see, matching ``search`` (in ``search_in``,
        without case) and ``filters`` (attribute = value as text), sorted by ``sort``
        (attribute names, ``-name`` for descending)."""
        cls = self.object_class(name)
        fields = fields_of(cls)
        criteria = list(self.perms.criteria(name, cls))
        errors: dict[str, str] = {}
        for attribute, text in (filters or {}).items():
            field = self._field(fields, attribute, errors)
            if field is None:
                continue
            if field.type == "json":
                errors[attribute] = "a json attribute cannot be a filter"
                continue
            try:
                criteria.append(getattr(cls, attribute) == _parse(field, text))
            except ValueError as exc:
                errors[attribute] = str(exc)
        wanted = search.strip().lower()
        if wanted and search_in:
            criteria.append(sa.or_(*(sa.func.lower(getattr(cls, a)).contains(wanted, autoescape=True)
                                     for a in search_in)))
        order = []
        for item in sort:
            attribute = item.lstrip("-")
            if self._field(fields, attribute, errors) is not None:
                column = getattr(cls, attribute)
                order.append(column.desc() if item.startswith("-") else column.asc())
        if errors:
            raise FieldErrors(errors)
        order.extend(getattr(cls, a.name).asc() for a in cls.__caruso__.definition.primary_key)
        limit = max(1, min(limit, MAX_PAGE))
        offset = max(0, offset)
        with self.bom.session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(cls).where(*criteria))
            rows = session.scalars(sa.select(cls).where(*criteria).order_by(*order).offset(offset).limit(limit))
            return Page([row.to_dict() for row in rows], total or 0, offset, limit)

    def get(self, name: str, key: str) -> dict[str, Any]:
        """The record ``key`` of ``name``; 404 (logged) when it does not exist or the user's
        record rules exclude it - the same answer, so ids cannot be probed."""
        cls = self.object_class(name)
        with self.bom.session() as session:
            found = self._load(session, cls, key)
            return found.to_dict()

    def related(self, name: str, key: str, collection: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The first ``limit`` records of one collection of a record the user may see (empty
        when the user may not read the collection's object)."""
        return self.with_related(name, key, {collection: limit})[1][collection]

    def with_related(self, name: str, key: str, collections: Mapping[str, int]
                     ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
        """A record and the first records of some of its collections (name -> how many), in
        one session: what a detail page or the 360-degree view shows. A collection whose
        object the user may not read comes back empty; record rules narrow the others."""
        cls = self.object_class(name)
        order = cls.__caruso__.collection_order
        unknown = [c for c in collections if c not in order]
        if unknown:
            raise FieldErrors({c: f"{name} has no collection {c!r}{did_you_mean(c, order)}" for c in unknown})
        with self.bom.session() as session:
            record = self._load(session, cls, key)
            found: dict[str, list[dict[str, Any]]] = {}
            for collection, limit in collections.items():
                target = getattr(cls, collection).property.mapper.class_
                target_name = target.__caruso__.name
                if not self.perms.can_read(target_name):
                    found[collection] = []
                    continue
                columns = [getattr(target, prop.key) for prop in sa.inspect(target).column_attrs]
                statement = (record.select_related(collection).where(*self.perms.criteria(target_name, target))
                             .with_only_columns(*columns).limit(limit))  # rows, not objects: a page only reads them
                found[collection] = [dict(row) for row in session.execute(statement).mappings()]
            return record.to_dict(), found

    def _load(self, session: Any, cls: type, key: str) -> Any:
        name = cls.__caruso__.name
        found = cls.get(session, self.key_of(cls, key))
        if found is None or not self.perms.allows(name, found):
            hide(self.request, f"{name} {key}")
        return found

    # --- writing -------------------------------------------------------------------

    def create(self, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """A new record from ``values`` (form text or JSON values), checked by the model."""
        cls = self.object_class(name, write=True)
        parsed = self._parse(cls, values, creating=True)
        with self._unit_of_work() as session:
            record = cls(**parsed)
            if not self.perms.allows(name, record):
                deny(self.request, f"creating a {name} outside your record rules")
            session.add(record)
            self._flush(session)
            return record.to_dict()

    def update(self, name: str, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Change the record ``key`` with ``values``; its key cannot be changed."""
        cls = self.object_class(name, write=True)
        parsed = self._parse(cls, values, creating=False)
        with self._unit_of_work() as session:
            record = self._load(session, cls, key)
            for attribute, value in parsed.items():
                setattr(record, attribute, value)
            if not self.perms.allows(name, record):
                deny(self.request, f"moving a {name} outside your record rules")
            self._flush(session)
            return record.to_dict()

    def delete(self, name: str, key: str) -> None:
        cls = self.object_class(name, write=True)
        with self._unit_of_work() as session:
            session.delete(self._load(session, cls, key))
            self._flush(session)

    def _unit_of_work(self) -> Any:
        user = self.perms.user.name if self.perms.user is not None else None
        return self.bom.unit_of_work(user=user)

    @staticmethod
    def _flush(session: Any) -> None:
        try:
            session.flush()
        except ValidationError as exc:
            raise FieldErrors({v.attribute: v.message for v in exc.violations}) from None
        except IntegrityViolation as exc:  # a Contact of a Customer that does not exist, a taken number
            raise FieldErrors({name: str(exc) for name in exc.attributes} or {"": str(exc)}) from None
        except sa.exc.IntegrityError as exc:
            raise FieldErrors({"": _integrity_message(exc)}) from None

    def _parse(self, cls: type, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        fields = fields_of(cls)
        parsed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for attribute, value in values.items():
            field = self._field(fields, attribute, errors)
            if field is None:
                continue
            if field.primary_key and (not creating or field.generated):
                errors[attribute] = "is the record's key and is not written by hand"
                continue
            try:
                parsed[attribute] = _parse(field, value)
            except ValueError as exc:
                errors[attribute] = str(exc)
        if errors:
            raise FieldErrors(errors)
        return parsed

    @staticmethod
    def _field(fields: Mapping[str, Field], attribute: str, errors: dict[str, str]) -> Field | None:
        field = fields.get(attribute)
        if field is None:
            errors[attribute] = f"no such attribute{did_you_mean(attribute, fields)}"
        return field


def _parse(field: Field, value: Any) -> Any:
    """A value from a form (text) or JSON as the attribute's type; empty text is no value.

    Raises:
        ValueError: saying why the value cannot be the attribute's - before the model's rules
            run, so no array, NUL character or 80-digit number ever reaches a database driver.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode text") from None
        if value == "":
            return None  # an emptied field: a required attribute is then refused as missing
        if field.type in ("string", "text"):
            return value
        parsed = parse_value(field.type, value, values=field.values)
    else:
        parsed = _json_value(field, value)
    if field.type == "integer" and not INT64_MIN <= parsed <= INT64_MAX:
        raise ValueError("does not fit in an integer column")
    if field.type == "decimal" and parsed != 0 and parsed.adjusted() >= DECIMAL_DIGITS:
        raise ValueError("is too large for a decimal")
    return parsed


def _json_value(field: Field, value: Any) -> Any:
    """A JSON value that is not text, when it is of the attribute's type."""
    kind = field.type
    if kind == "json":
        if isinstance(value, dict | list):
            return value
        raise ValueError(f"is {json_kind(value)}; a json attribute takes a JSON object or array")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"is {json_kind(value)}; expected a whole number like 42")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"is {json_kind(value)}; expected a decimal number as text, like \"12.50\"")
        return parse_value("decimal", str(value))
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"is {json_kind(value)}; expected true or false")
        return value
    expected = {"date": "a date as text, like \"2026-12-31\"",
                "datetime": "a moment as text, like \"2026-12-31T09:30:00+00:00\""}.get(kind, "text")
    raise ValueError(f"is {json_kind(value)}; expected {expected}")


def json_kind(value: Any) -> str:
    """What kind of JSON value ``value`` is, for messages: "a number", "an array"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _integrity_message(exc: Exception) -> str:
    """What a database constraint refused, without the SQL statement around it."""
    text = str(getattr(exc, "orig", exc)).splitlines()[0]
    return f"the database refused the change: {text}"
