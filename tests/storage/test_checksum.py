"""The transfer checksum: equal for equal contents from different backends, different otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from caruso.storage.checksum import canonical, table_checksum


def test_values_in_another_backends_form_have_the_same_canonical_text():
    """1.5 and 1.5000000000, JSON keys in another order: one text each."""
    assert canonical(Decimal("1.5")) == canonical(Decimal("1.5000000000"))
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1})
    assert ["\x00", "1", "0", "42", "2026-03-01T09:30:00+00:00", "6869"] == [
        canonical(None), canonical(True), canonical(False), canonical(42),
        canonical(dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)), canonical(b"hi"),
    ]


def test_the_checksum_ignores_order_but_not_a_missing_duplicated_or_changed_row():
    """Rows in any order give one digest; each kind of difference changes it."""
    rows = [(1, "Ada", Decimal("10.00")), (2, "Bob", None), (3, "Cy", Decimal("0.50"))]
    reference = table_checksum(rows)
    assert reference == table_checksum(reversed(rows))
    assert 3 == reference.rows
    for different in (rows[:2], rows + rows[:1], [rows[0], rows[1], (3, "Cy", Decimal("0.51"))],
                      [rows[0], rows[1], (3, None, Decimal("0.50"))]):
        assert reference.digest != table_checksum(different).digest
