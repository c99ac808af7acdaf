"""Where mail is kept: the raw messages and attachments as files, and two tables.

- ``caruso_mail``: one row per message, in or out - its Message-ID, case,
  interaction, customer, the text, the HTML as received, references to the raw
  file and the attachments, its status (``received``, ``offered``, ``joined``,
  ``parked``, ``queued``, ``sent``, ``failed``) and what was wrong with it;
- ``caruso_mail_outbox``: every outgoing message as sent over the wire, until
  the relay took it (state ``queued`` -> ``sent``, or ``failed`` after the last
  attempt) - the relay being down loses nothing, and a supervisor sees what waits.

Raw messages are written to ``folder/YYYY-MM-DD/<uuid>.eml`` before anything
else happens, byte for byte, and attachments beside them in
``folder/YYYY-MM-DD/<uuid>/``: a database can be moved with
``caruso db transfer``, the folder is copied like the voicemail folder. Long
text columns are LONGTEXT on MariaDB (its TEXT stops at 64 KB).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from caruso.storage.metadata import new_metadata

__all__ = ["MAIL_TABLE", "OUTBOX_TABLE", "MailStore"]

MAIL_TABLE = "caruso_mail"
OUTBOX_TABLE = "caruso_mail_outbox"

_LONG = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def _tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    mail = sa.Table(
        MAIL_TABLE, metadata,
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(255), nullable=False, index=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("case_ref", sa.String(40), nullable=True, index=True),
        sa.Column("interaction", sa.String(40), nullable=True, index=True),
        sa.Column("customer", sa.String(100), nullable=True),
        sa.Column("address", sa.String(255), nullable=True),
        sa.Column("recipients", sa.Text, nullable=True),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("raw", sa.String(255), nullable=True),
        sa.Column("thread", sa.Text, nullable=True),
        sa.Column("text", _LONG, nullable=True),
        sa.Column("html", _LONG, nullable=True),
        sa.Column("attachments", sa.Text, nullable=True),
        sa.Column("problems", sa.Text, nullable=True),
        info={"caruso_object": "Mail"},
    )
    outbox = sa.Table(
        OUTBOX_TABLE, metadata,
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("mail", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("subject", sa.String(255), nullable=True),
        sa.Column("raw", _LONG, nullable=False),
        sa.Column("state", sa.String(8), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Double(), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        info={"caruso_object": "MailOutbox"},
    )
    return mail, outbox


def _json(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value else None


class MailStore:
    """The e-mail channel's files and tables over a storage manager."""

    def __init__(self, storage: Any, folder: Path):
        self.storage = storage
        self.folder = folder
        self.metadata = new_metadata()
        self.mail, self.outbox = _tables(self.metadata)
        self._lock = threading.Lock()

    def open(self) -> None:
        """Register the tables and create them when missing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.storage.register(self.metadata)
        self.storage.upgrade(self.metadata)

    def close(self) -> None:
        self.storage.unregister(self.metadata)

    # --- files ------------------------------------------------------------------------

    def write_raw(self, raw: bytes, day: str) -> str:
        """Keep the message as received; its path relative to the folder."""
        name = uuid.uuid4().hex
        target = self.folder / day / f"{name}.eml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        return f"{day}/{name}.eml"

    def write_attachments(self, raw_path: str, attachments: Sequence[Any]) -> list[dict[str, Any]]:
        """Store each attachment beside the raw message; their descriptions for the mail row."""
        if not attachments:
            return []
        directory = self.folder / raw_path.removesuffix(".eml")
        directory.mkdir(parents=True, exist_ok=True)
        described = []
        for index, attachment in enumerate(attachments, 1):
            safe = _UNSAFE.sub("_", attachment.filename).strip(" .")[:100] or "attachment"
            relative = f"{raw_path.removesuffix('.eml')}/{index:02d}-{safe}"
            (self.folder / relative).write_bytes(attachment.content)
            described.append({"name": attachment.filename, "type": attachment.content_type,
                              "size": attachment.size, "sha256": attachment.sha256, "path": relative})
        return described

    def path(self, relative: str) -> Path:
        """The file a mail row or attachment refers to."""
        return self.folder / relative

    # --- messages ---------------------------------------------------------------------

    def add(self, **row: Any) -> int:
        """Insert a mail row (lists and mappings as JSON); its id."""
        values = {k: (_json(v) if k in ("recipients", "thread", "attachments", "problems") else v)
                  for k, v in row.items()}
        with self.storage.transaction() as connection:
            return connection.execute(self.mail.insert().values(**values)).inserted_primary_key[0]

    def update(self, mail_id: int, **values: Any) -> None:
        with self.storage.transaction() as connection:
            connection.execute(self.mail.update().where(self.mail.c.id == mail_id).values(**values))

    def get(self, mail_id: int) -> dict[str, Any] | None:
        return self._one(sa.select(self.mail).where(self.mail.c.id == mail_id))

    def by_message_id(self, message_id: str) -> dict[str, Any] | None:
        """The first row with this Message-ID (inbound or outbound)."""
        return self._one(sa.select(self.mail).where(self.mail.c.message_id == message_id).order_by(self.mail.c.id))

    def thread_rows(self, message_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Rows of the given Message-IDs (what a message answers), newest first."""
        ids = list(message_ids)[:100]
        if not ids:
            return []
        query = sa.select(self.mail).where(self.mail.c.message_id.in_(ids), self.mail.c.case_ref.is_not(None))
        return self._all(query.order_by(self.mail.c.id.desc()))

    def case_rows(self, case: str) -> list[dict[str, Any]]:
        """Every message of a case, oldest first."""
        return self._all(sa.select(self.mail).where(self.mail.c.case_ref == case).order_by(self.mail.c.id))

    def for_interaction(self, interaction: str) -> list[dict[str, Any]]:
        return self._all(sa.select(self.mail).where(self.mail.c.interaction == interaction).order_by(self.mail.c.id))

    def with_status(self, status: str, *, direction: str = "inbound") -> list[dict[str, Any]]:
        query = sa.select(self.mail).where(self.mail.c.status == status, self.mail.c.direction == direction)
        return self._all(query.order_by(self.mail.c.id))

    def count_status(self, status: str) -> int:
        """How many received messages have ``status`` (``parked``, say)."""
        table = self.mail
        with self.storage.transaction() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.status == status, table.c.direction == "inbound")).scalar())

    # --- outbox -----------------------------------------------------------------------

    def add_outgoing(self, mail_row: Mapping[str, Any], outbox_row: Mapping[str, Any]) -> tuple[int, int]:
        """The mail row and its outbox row in one transaction: both or neither."""
        values = {k: (_json(v) if k in ("recipients", "thread", "attachments", "problems") else v)
                  for k, v in mail_row.items()}
        with self.storage.transaction() as connection:
            mail_id = connection.execute(self.mail.insert().values(**values)).inserted_primary_key[0]
            outbox = dict(outbox_row, mail=mail_id, recipients=_json(list(outbox_row["recipients"])))
            outbox_id = connection.execute(self.outbox.insert().values(**outbox)).inserted_primary_key[0]
        return mail_id, outbox_id

    def due(self, now: float, limit: int) -> list[dict[str, Any]]:
        """Queued outgoing messages whose next attempt is due, oldest first."""
        table = self.outbox
        query = sa.select(table).where(table.c.state == "queued", table.c.next_at <= now)
        return self._all(query.order_by(table.c.next_at, table.c.id).limit(limit))

    def next_due(self) -> float | None:
        """When the next queued message is due (seconds since 1970), None when none waits."""
        table = self.outbox
        with self.storage.transaction() as connection:
            return connection.execute(sa.select(sa.func.min(table.c.next_at)).where(table.c.state == "queued")).scalar()

    def settle(self, outbox_id: int, mail_id: int | None, *, state: str, **values: Any) -> None:
        """Record an attempt's result on the outbox row and the state on its mail row."""
        with self.storage.transaction() as connection:
            connection.execute(self.outbox.update().where(self.outbox.c.id == outbox_id).values(state=state, **values))
            if mail_id is not None:
                mail_status = {"sent": "sent", "failed": "failed"}.get(state, "queued")
                connection.execute(self.mail.update().where(self.mail.c.id == mail_id).values(status=mail_status))

    def outbox_rows(self, states: Sequence[str] = ("queued", "failed")) -> list[dict[str, Any]]:
        table = self.outbox
        columns = [c for c in table.c if c.name != "raw"]
        return self._all(sa.select(*columns).where(table.c.state.in_(list(states))).order_by(table.c.id))

    def outbox_row(self, outbox_id: int) -> dict[str, Any] | None:
        return self._one(sa.select(self.outbox).where(self.outbox.c.id == outbox_id))

    def outbox_counts(self) -> dict[str, int]:
        table = self.outbox
        with self.storage.transaction() as connection:
            rows = connection.execute(sa.select(table.c.state, sa.func.count()).group_by(table.c.state))
            return {state: int(count) for state, count in rows}

    # --- reading ----------------------------------------------------------------------

    def _one(self, query: Any) -> dict[str, Any] | None:
        found = self._all(query.limit(1))
        return found[0] if found else None

    def _all(self, query: Any) -> list[dict[str, Any]]:
        with self.storage.transaction() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            for key in ("recipients", "thread", "attachments", "problems"):
                if key in row:
                    row[key] = orjson.loads(row[key]) if row[key] else []
        return rows
