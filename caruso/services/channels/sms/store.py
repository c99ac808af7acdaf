"""The ``caruso_sms`` table: every SMS in and out, and the outgoing ones' sending state.

One row per message. Inbound rows are ``received`` (with the gateway's id, so a
webhook delivered twice is recognised); outbound rows move ``queued`` ->
``sent`` (the gateway took it, with its id) -> ``delivered`` / ``undelivered``
/ ``failed`` as the gateway's status callbacks say, or ``failed`` when the
gateway refused it or the attempts ran out.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from caruso.storage.metadata import new_metadata

__all__ = ["SMS_TABLE", "SmsStore"]

SMS_TABLE = "caruso_sms"


class SmsStore:
    """The SMS channel's table over a storage manager."""

    def __init__(self, storage: Any):
        self.storage = storage
        self.metadata = new_metadata()
        self.table = sa.Table(
            SMS_TABLE, self.metadata,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("direction", sa.String(8), nullable=False),
            sa.Column("gateway_id", sa.String(100), nullable=True, index=True),
            sa.Column("number", sa.String(32), nullable=False, index=True),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("state", sa.String(12), nullable=False, index=True),
            sa.Column("interaction", sa.String(40), nullable=True),
            sa.Column("customer", sa.String(100), nullable=True),
            sa.Column("agent", sa.String(100), nullable=True),
            sa.Column("at", sa.Double(), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, default=0),
            sa.Column("next_at", sa.Double(), nullable=True),
            sa.Column("status_at", sa.Double(), nullable=True),
            sa.Column("last_error", sa.Text, nullable=True),
            info={"caruso_object": "Sms"},
        )

    def open(self) -> None:
        self.storage.register(self.metadata)
        self.storage.upgrade(self.metadata)

    def close(self) -> None:
        self.storage.unregister(self.metadata)

    def add(self, **row: Any) -> int:
        with self.storage.transaction() as connection:
            return connection.execute(self.table.insert().values(**row)).inserted_primary_key[0]

    def update(self, sms_id: int, **values: Any) -> None:
        with self.storage.transaction() as connection:
            connection.execute(self.table.update().where(self.table.c.id == sms_id).values(**values))

    def get(self, sms_id: int) -> dict[str, Any] | None:
        return self._one(sa.select(self.table).where(self.table.c.id == sms_id))

    def inbound(self, gateway_id: str) -> dict[str, Any] | None:
        table = self.table
        return self._one(sa.select(table).where(table.c.gateway_id == gateway_id, table.c.direction == "inbound"))

    def outbound(self, gateway_id: str) -> dict[str, Any] | None:
        table = self.table
        return self._one(sa.select(table).where(table.c.gateway_id == gateway_id, table.c.direction == "outbound"))

    def last_with_interaction(self, number: str) -> dict[str, Any] | None:
        """The newest message to or from ``number`` that belongs to an interaction."""
        table = self.table
        query = sa.select(table).where(table.c.number == number, table.c.interaction.is_not(None))
        return self._one(query.order_by(table.c.id.desc()))

    def due(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        table = self.table
        query = sa.select(table).where(table.c.direction == "outbound", table.c.state == "queued",
                                       table.c.next_at <= now)
        return self._all(query.order_by(table.c.next_at, table.c.id).limit(limit))

    def next_due(self) -> float | None:
        table = self.table
        with self.storage.transaction() as connection:
            return connection.execute(sa.select(sa.func.min(table.c.next_at)).where(
                table.c.direction == "outbound", table.c.state == "queued")).scalar()

    def with_states(self, states: tuple[str, ...]) -> list[dict[str, Any]]:
        table = self.table
        query = sa.select(table).where(table.c.direction == "outbound", table.c.state.in_(list(states)))
        return self._all(query.order_by(table.c.id))

    def count(self) -> int:
        with self.storage.transaction() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(self.table)).scalar())

    def _one(self, query: Any) -> dict[str, Any] | None:
        found = self._all(query.limit(1))
        return found[0] if found else None

    def _all(self, query: Any) -> list[dict[str, Any]]:
        with self.storage.transaction() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
