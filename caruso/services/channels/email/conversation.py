"""Which conversation (case) a received message belongs to.

A case is one conversation with a customer, however many mails and
interactions it takes; its reference (``CASE-7K3M9QXD``) goes into the subject
of every mail Caruso sends about it. A received message joins a case when

1. its ``In-Reply-To`` or ``References`` name a message of the case (the
   nearest reference wins), or
2. its subject carries the case's reference in brackets (``[CASE-7K3M9QXD]``:
   the customer wrote a new mail and kept the reference, or a mail client
   dropped the headers);

and, either way, when it comes from the case's own customer or address. A
message that names someone else's case (a forwarded mail, a forged
``References``) opens a new case instead, with the claim noted, so nobody can
read themselves into another customer's conversation.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import attrs

from caruso.services.channels.email.parse import ParsedMail
from caruso.services.channels.email.store import MailStore
from caruso.services.channels.history import customer_text

__all__ = ["CaseMatch", "CaseReferences", "find_case"]

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read over the phone without doubt


class CaseReferences:
    """Makes and finds case references with a prefix (``CASE``)."""

    def __init__(self, prefix: str = "CASE"):
        self.prefix = prefix
        self._pattern = re.compile(r"\[\s*#?(" + re.escape(prefix) + r"-[" + _ALPHABET + r"]{8})\s*\]", re.I)

    def new(self) -> str:
        return f"{self.prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))

    def in_subject(self, subject: str) -> str | None:
        found = self._pattern.search(subject or "")
        return found.group(1).upper() if found else None

    def subject(self, case: str, subject: str) -> str:
        """``subject`` with ``[case]`` in front, once."""
        if self.in_subject(subject) == case:
            return subject
        return f"[{case}] {subject}".strip()


@attrs.frozen
class CaseMatch:
    """The case a message joins (None: a new one), the row it was found through, and any
    claim refused because the case belongs to another sender."""

    case: str | None
    row: dict[str, Any] | None = None
    refused: str | None = None


def find_case(mail: ParsedMail, customer: Any, store: MailStore, references: CaseReferences) -> CaseMatch:
    """The case ``mail`` belongs to (see the module docstring)."""
    refused = None
    for row in store.thread_rows(mail.thread_ids):
        if _same_sender(row, mail.sender, customer):
            return CaseMatch(row["case_ref"], row)
        refused = refused or f"refers to case {row['case_ref']} of another sender"
    named = references.in_subject(mail.subject)
    if named is not None:
        rows = store.case_rows(named)
        if rows and any(_same_sender(row, mail.sender, customer) for row in rows):
            return CaseMatch(named, rows[-1])
        if rows:
            refused = refused or f"names case {named} of another sender"
    return CaseMatch(None, None, refused)


def _same_sender(row: dict[str, Any], sender: str | None, customer: Any) -> bool:
    if customer is not None and row.get("customer") is not None:
        return row["customer"] == customer_text(customer)
    return bool(sender) and (row.get("address") or "").lower() == sender.lower()
