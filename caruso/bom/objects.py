"""The base class of every business object, and the facts each generated class carries.

Classes are generated when the models load (``type(name, bases, ...)``) and
mapped with SQLAlchemy's imperative mapping, so there is no generated source
to keep in sync with the XML. What the modeler needs at save time travels on
the class as ``__caruso__`` (an ``ObjectInfo``); the query helpers return plain
``sqlalchemy.select()`` statements so callers keep composing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import sqlalchemy as sa
from sqlalchemy.orm import Session, with_parent

from caruso.errors import did_you_mean

if TYPE_CHECKING:
    from caruso.bom.audit import AuditTrail
    from caruso.bom.definitions import ObjectDef
    from caruso.bom.rules import Validator

__all__ = ["RESERVED_NAMES", "BusinessObject", "ObjectInfo"]


@attrs.frozen
class ObjectInfo:
    """What the modeler knows about a generated class at run time.

    Args:
        name: the business object's name.
        definition: the definition it was built from (extensions applied).
        validator: checks run on every save.
        defaults: (attribute key, factory) for every attribute with a default.
        keys: every attribute key a constructor accepts (attributes, foreign-key
            keys, references, collections).
        collection_order: collection name -> the ORDER BY of ``select_related``.
        audit: where changes are recorded, or None when the object is not auditable.
        statements: statements built once per class (fetch by key).
    """

    name: str
    definition: ObjectDef
    validator: Validator
    defaults: tuple[tuple[str, Callable[[], object]], ...]
    keys: frozenset[str]
    collection_order: dict[str, tuple[sa.ColumnElement, ...]] = attrs.field(factory=dict)
    audit: AuditTrail | None = None
    statements: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


class BusinessObject:
    """Base of every business-object class; a behaviour class (mixin) comes before it.

    Construct with keyword arguments named like the model's attributes and
    references; attributes left out start at their model default.
    """

    __caruso__: ClassVar[ObjectInfo]

    def __init__(self, **values: Any):
        info = type(self).__caruso__
        unknown = values.keys() - info.keys
        if unknown:
            name = sorted(unknown)[0]
            raise TypeError(f"{info.name} has no attribute {name!r}{did_you_mean(name, info.keys)}")
        for key, make in info.defaults:
            if key not in values:
                setattr(self, key, make())
        for key, value in values.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        info = type(self).__caruso__
        shown = [a.name for a in info.definition.attributes if a.primary_key]
        parts = ", ".join(f"{key}={self.__dict__.get(key)!r}" for key in shown)
        return f"{info.name}({parts})"

    @classmethod
    def get(cls, session: Session, key: Any) -> Any:
        """The object with primary key ``key`` (a tuple for a composite key), or None.

        The same as ``session.get(cls, key)`` - the session's identity map first,
        then the database - but with the statement built once per class: fetching
        by key is the commonest read of a CRM screen, and building the statement
        is half its cost.
        """
        values = key if isinstance(key, tuple) else (key,)
        mapper = sa.inspect(cls)
        if session.identity_map.get(mapper.identity_key_from_primary_key(values)) is not None:
            return session.get(cls, values)
        statement, names = _by_key_statement(cls, mapper)
        if len(values) != len(names):
            raise ValueError(f"{cls.__caruso__.name} has a key of {len(names)} values, got {key!r}")
        return session.execute(statement, dict(zip(names, values, strict=True))).scalars().first()

    @classmethod
    def select(cls, *criteria: Any, **by: Any) -> sa.Select:
        """``select(cls)`` filtered by ``criteria`` and ``attribute=value`` pairs; compose on."""
        statement = sa.select(cls)
        if criteria:
            statement = statement.where(*criteria)
        if by:
            statement = statement.filter_by(**by)
        return statement

    def select_related(self, collection: str) -> sa.Select:
        """A ``select()`` of the objects in one of this object's collections, in the
        collection's order: add ``.limit(50)`` or more criteria, then execute it.

        The collection itself loads every member; this is the way to read the
        latest 50 activities of a customer with 10,000 of them.
        """
        info = type(self).__caruso__
        if collection not in info.collection_order:
            raise AttributeError(
                f"{info.name} has no collection {collection!r}{did_you_mean(collection, info.collection_order)}"
            )
        relationship = getattr(type(self), collection)
        target = relationship.property.mapper.class_
        statement = sa.select(target).where(with_parent(self, relationship))
        return statement.order_by(*info.collection_order[collection])

    def to_dict(self) -> dict[str, Any]:
        """The attribute values (attributes and foreign-key keys) by name."""
        mapper = sa.inspect(type(self))
        return {prop.key: getattr(self, prop.key) for prop in mapper.column_attrs}


def _by_key_statement(cls: type, mapper: sa.orm.Mapper) -> tuple[sa.Select, tuple[str, ...]]:
    """``select(cls) WHERE key = :k0 ...``, built once per class and kept on its ObjectInfo."""
    cache = cls.__caruso__.statements
    found = cache.get("by_key")
    if found is None:
        names = tuple(f"key_{i}" for i in range(len(mapper.primary_key)))
        keys = zip(mapper.primary_key, names, strict=True)
        statement = sa.select(cls).where(*(column == sa.bindparam(name) for column, name in keys))
        found = cache["by_key"] = (statement, names)
    return found


RESERVED_NAMES = frozenset(name for name in dir(BusinessObject) if not name.startswith("_"))
"""Member names a model may not use: they are methods every business object has."""
