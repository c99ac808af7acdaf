"""Readable names for legacy tables and columns: ``CUST_MAST`` -> ``CustomerMaster``, ``CUST_NM`` -> ``name``.

Reflection proposes names for a draft model; an integrator reviews them. The
rules are simple on purpose: split on underscores and case changes, expand
common abbreviations, make a table name singular, and drop a column's leading
word when it repeats the table's (``CUST_NM`` in table ``CUSTOMER`` is ``name``).
"""

from __future__ import annotations

import keyword
import re
from collections import Counter

from caruso.bom.objects import RESERVED_NAMES

__all__ = [
    "ABBREVIATIONS",
    "attribute_name",
    "attribute_names",
    "class_name",
    "plural",
    "singular",
    "snake_case",
    "unique_name",
    "words",
]

ABBREVIATIONS = {
    "acct": "account", "addr": "address", "amt": "amount", "bal": "balance", "cnt": "count",
    "cust": "customer", "cst": "customer", "dept": "department", "desc": "description",
    "descr": "description", "dt": "date", "eml": "email", "emp": "employee", "fname": "first_name",
    "inv": "invoice", "lname": "last_name", "mast": "master", "mgr": "manager", "mob": "mobile",
    "nbr": "number", "no": "number", "nm": "name", "nam": "name", "nr": "number", "num": "number", "ord": "order",
    "org": "organisation", "pmt": "payment", "prod": "product", "qty": "quantity", "stat": "status",
    "tel": "phone", "ts": "timestamp", "txt": "text", "upd": "updated", "crt": "created",
}
"""Abbreviations common in legacy schemas and what they stand for (lower case)."""

_TABLE_PREFIXES = ("tbl", "tb", "t")
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_KEY_SUFFIXES = ("id", "number", "no", "code", "key", "fk")


def words(name: str) -> list[str]:
    """The words of a database name, lower case, abbreviations expanded."""
    found: list[str] = []
    for part in _SPLIT.split(name):
        if part:
            found.extend(ABBREVIATIONS.get(part.lower(), part.lower()).split("_"))
    return found


def singular(word: str) -> str:
    """``activities`` -> ``activity``, ``addresses`` -> ``address``, ``contacts`` -> ``contact``."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def plural(word: str) -> str:
    """``activity`` -> ``activities``, ``address`` -> ``addresses``, ``contact`` -> ``contacts``."""
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def class_name(table: str) -> str:
    """A class name for a table: ``tbl_customer_contacts`` -> ``CustomerContact``."""
    parts = words(table)
    if len(parts) > 1 and parts[0] in _TABLE_PREFIXES:
        parts = parts[1:]
    parts[-1] = singular(parts[-1])
    name = "".join(p.capitalize() for p in parts) or "Table"
    return name if name[0].isalpha() else "T" + name


def attribute_name(column: str, table: str) -> str:
    """An attribute name for a column of ``table``: ``CUST_NM`` in ``CUSTOMER`` -> ``name``."""
    parts = words(column)
    table_words = words(table)
    if len(parts) > 1 and table_words and parts[0] in (table_words[-1], singular(table_words[-1]), table_words[0]):
        parts = parts[1:]
    return identifier("_".join(parts))


def attribute_names(columns: list[str], table: str) -> dict[str, str]:
    """Attribute names for all columns of a table: the table's word is dropped from a
    column name only where that leaves no two columns with the same name
    (ORD_NO and LINE_NO in ORDER_LINES stay order_number and line_number)."""
    short = {c: attribute_name(c, table) for c in columns}
    counts = Counter(short.values())
    names: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        name = short[column] if counts[short[column]] == 1 else identifier("_".join(words(column)))
        names[column] = unique_name(name, used)
    return names


def unique_name(name: str, used: set[str], *, separator: str = "_") -> str:
    """``name``, or ``name_2``, ``name_3``... whichever is not in ``used`` yet; added to ``used``."""
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name}{separator}{number}", number + 1
    used.add(candidate)
    return candidate


def reference_name(columns: list[str], target_class: str) -> str:
    """A name for a reference held in ``columns``: ``CUST_NO`` -> ``customer``."""
    if len(columns) == 1:
        parts = words(columns[0])
        while len(parts) > 1 and parts[-1] in _KEY_SUFFIXES:
            parts = parts[:-1]
        if parts and parts[-1] not in _KEY_SUFFIXES:
            return identifier("_".join(parts))
    return identifier(snake_case(target_class))


_CASE_CHANGE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``CustomerContact`` -> ``customer_contact`` (the default table name of an object)."""
    return _CASE_CHANGE.sub("_", name).lower()


def identifier(name: str) -> str:
    """``name`` made a valid, non-reserved attribute name."""
    name = re.sub(r"\W", "_", name).strip("_").lower() or "value"
    if name[0].isdigit():
        name = "c_" + name
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        name += "_"
    return name
