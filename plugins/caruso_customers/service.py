"""The ``customers`` service: finding a customer, and the 360-degree view of one.

The view is what an agent opens when a contact arrives: the customer, every
collection of the Customer object - contacts and addresses from this plugin,
and whatever other plugins and verticals add by extending Customer with a
collection (contracts, cases, meters) - and the whole contact history across
channels from the ``history`` service. Nothing here knows those other
plugins: an extension that adds ``<collection name="cases" object="Case"/>`` to
Customer appears in the view by that alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from caruso.errors import ServiceNotFound, ServiceStateError, UnknownName
from caruso.services.base import Service

__all__ = ["CustomerView", "CustomersService"]

SEARCHED = ("name", "number", "email", "phone", "mobile")
"""The attributes ``find`` looks in."""


@attrs.frozen
class CustomerView:
    """One customer seen from every side (the 360-degree view).

    Attributes:
        customer: the customer's attribute values.
        collections: collection name -> the attribute values of each object in it, in the
            collection's order (``contacts``, ``addresses``, and what extensions add).
        history: the customer's contact history, oldest first (``HistoryEntry`` values of
            the ``history`` service; empty without one).
    """

    key: Any
    customer: Mapping[str, Any]
    collections: Mapping[str, Sequence[Mapping[str, Any]]]
    history: Sequence[Any] = ()


class CustomersService(Service):
    """The default ``customers`` service, over the plugin's Customer business object."""

    requires = ("bom",)

    def on_start(self) -> None:
        self.bom = self.context.manager.get("bom")
        if "Customer" not in self.bom.model:
            raise UnknownName("business object", "Customer", self.bom.model.classes)

    def view(self, key: Any, *, history: int | None = 200) -> CustomerView | None:
        """The customer ``key`` from every side, or None when there is none; the last
        ``history`` entries of the contact history (None: all of them)."""
        customer_class = self.bom.model.Customer
        with self.bom.session() as session:
            customer = customer_class.get(session, key)
            if customer is None:
                return None
            collections = {
                name: [item.to_dict() for item in session.scalars(customer.select_related(name))]
                for name in customer_class.__caruso__.collection_order
            }
            values = customer.to_dict()
        return CustomerView(key, values, collections, self._history(key, history))

    def find(self, text: str, *, limit: int = 20) -> list[Mapping[str, Any]]:
        """Customers whose name, number, e-mail or phone contains ``text`` (without case),
        best first: an exact match of number, e-mail or phone before a part of the name."""
        wanted = text.strip().lower()
        if not wanted:
            return []
        customer_class = self.bom.model.Customer
        columns = [getattr(customer_class, name) for name in SEARCHED]
        exact = sa.or_(*(sa.func.lower(column) == wanted for column in columns[1:]))
        query = (sa.select(customer_class)
                 .where(sa.or_(*(sa.func.lower(column).contains(wanted, autoescape=True) for column in columns)))
                 .order_by(sa.case((exact, 0), else_=1), customer_class.name, customer_class.id)
                 .limit(limit))
        with self.bom.session() as session:
            return [row.to_dict() for row in session.scalars(query)]

    def _history(self, key: Any, limit: int | None) -> tuple[Any, ...]:
        manager = self.context.manager
        try:
            history = manager.get("history")
        except ServiceNotFound:
            return ()
        try:
            return tuple(history.for_customer(key, limit=limit))
        except ServiceStateError:
            return ()
