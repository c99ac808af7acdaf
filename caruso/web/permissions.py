"""What a logged-in user may do: the union of their roles, asked by every page and API call.

Record rules narrow what a user reads and writes to some records of an object. They
are applied in two forms from one definition: as SQL criteria for lists and searches
(``criteria``), and as a check of one loaded record (``allows``) for detail pages,
forms and API calls by key - so a customer who types another customer's id into the
address bar gets a 404, exactly as if the record did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.web.settings import ANY, RoleSettings
from caruso.web.users import User

__all__ = ["Permissions"]


def _union(values: Iterable[tuple[str, ...]]) -> frozenset[str]:
    return frozenset(item for value in values for item in value)


@attrs.frozen
class Permissions:
    """The permissions of one user, from the roles they hold (unknown role names give nothing)."""

    user: User | None
    menus: frozenset[str] = frozenset()
    views: frozenset[str] = frozenset()
    readable: frozenset[str] = frozenset()
    writable: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    records: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    portal: str = "/"

    @classmethod
    def of(cls, user: User | None, roles: Mapping[str, RoleSettings]) -> Permissions:
        if user is None:
            return cls(None)
        held = [roles[name] for name in user.roles if name in roles]
        records: dict[str, dict[str, str]] = {}
        for role in held:
            for name, rule in role.records.items():
                records.setdefault(name, {}).update(rule)
        # A record rule binds when every role that reads the object has one: a user who is also
        # an agent without a rule on Customer is not narrowed by their customer role's rule.
        unbound = [role for role in held if not role.records]
        for name in list(records):
            if any(_names(role.read, name) or _names(role.write, name) for role in unbound):
                del records[name]
        return cls(
            user,
            menus=_union(r.menus for r in held),
            views=_union(r.views for r in held),
            readable=_union(r.read + r.write for r in held),
            writable=_union(r.write for r in held),
            actions=_union(r.actions for r in held),
            records=records,
            portal=next((r.portal for r in held), "/"),
        )

    @property
    def logged_in(self) -> bool:
        return self.user is not None

    def can(self, action: str) -> bool:
        return action in self.actions

    def can_read(self, obj: str) -> bool:
        return ANY in self.readable or obj in self.readable

    def can_write(self, obj: str) -> bool:
        return ANY in self.writable or obj in self.writable

    def can_view(self, view: str) -> bool:
        return ANY in self.views or view in self.views

    def sees_menu(self, menu: str) -> bool:
        return ANY in self.menus or menu in self.menus

    def criteria(self, obj: str, cls: type) -> list[Any]:
        """SQL criteria that keep only the records of ``obj`` this user may see."""
        rule = self.records.get(obj)
        if not rule:
            return []
        criteria = []
        for attribute, field in rule.items():
            column = getattr(cls, attribute)
            wanted = [_as_type_of(column, value) for value in self._wanted(field)]
            if not wanted:
                return [sa.false()]
            criteria.append(column.in_(wanted) if len(wanted) > 1 else column == wanted[0])
        return criteria

    def allows(self, obj: str, record: Any) -> bool:
        """Whether this user may see the loaded ``record`` of ``obj`` under its record rules."""
        for attribute, field in self.records.get(obj, {}).items():
            value = getattr(record, attribute, None)
            if value is None or str(value) not in {str(w) for w in self._wanted(field)}:
                return False
        return True

    def _wanted(self, field: str) -> list[Any]:
        value = self.user.field(field) if self.user is not None else None
        if value is None:
            return []
        return [v for v in value] if isinstance(value, tuple) else [value]


def _names(listed: tuple[str, ...], obj: str) -> bool:
    return ANY in listed or obj in listed


def _as_type_of(column: Any, value: Any) -> Any:
    """A user's field (text) as the column's Python type, so PostgreSQL compares like with like."""
    try:
        python_type = column.type.python_type
    except (AttributeError, NotImplementedError):
        return value
    try:
        return python_type(value) if not isinstance(value, python_type) else value
    except (TypeError, ValueError):
        return value
