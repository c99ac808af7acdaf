"""Portable types against each real backend: exact decimals, UTC datetimes, JSON, enumerations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from caruso.storage import PORTABLE_TYPES, Storage, portable_type
from caruso.storage.metadata import new_metadata
from caruso.storage.types import Enumeration, ExactDecimal, JSONType, UTCDateTime


@pytest.fixture
def values_table(storage: Storage) -> sa.Table:
    metadata = new_metadata()
    table = sa.Table(
        "value_holder",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", ExactDecimal(12, 2)),
        sa.Column("wide", ExactDecimal(18, 6)),
        sa.Column("at", UTCDateTime()),
        sa.Column("doc", JSONType()),
        sa.Column("state", Enumeration(("open", "closed"))),
    )
    storage.upgrade(metadata)
    return table


def test_decimals_stay_exact_in_and_out_and_in_sql_sums(storage, values_table):
    """0.10 + 0.20 is 0.30 (a float would give 0.30000000000000004), also when SQL adds them;
    18 significant digits survive, and ordering in SQL is numeric."""
    with storage.transaction() as conn:
        conn.execute(values_table.insert(), [
            {"id": 1, "amount": Decimal("0.10"), "wide": Decimal("123456789012.123456")},
            {"id": 2, "amount": Decimal("0.20"), "wide": Decimal("-0.000001")},
            {"id": 3, "amount": Decimal("9.99"), "wide": 7},
            {"id": 4, "amount": "10.00", "wide": "0"},
        ])
    with storage.transaction() as conn:
        amounts = conn.execute(sa.select(values_table.c.amount).order_by(values_table.c.id)).scalars().all()
        wides = conn.execute(sa.select(values_table.c.wide).order_by(values_table.c.id)).scalars().all()
        total = conn.execute(
            sa.select(sa.func.sum(values_table.c.amount)).where(values_table.c.id.in_([1, 2]))
        ).scalar_one()
        ordered = conn.execute(
            sa.select(values_table.c.id).order_by(values_table.c.amount.desc())
        ).scalars().all()
        over_nine = conn.execute(
            sa.select(values_table.c.id).where(values_table.c.amount > Decimal("9.5")).order_by(values_table.c.id)
        ).scalars().all()
    assert [Decimal("0.10"), Decimal("0.20"), Decimal("9.99"), Decimal("10.00")] == amounts
    assert [Decimal("123456789012.123456"), Decimal("-0.000001"), Decimal("7.000000"), Decimal("0.000000")] == wides
    assert Decimal("0.30") == Decimal(total).quantize(Decimal("0.01"))
    assert [4, 3, 2, 1] == ordered
    assert [3, 4] == over_nine


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (0.1, "float"),
        (Decimal("1.005"), "more than 2 decimal places"),
        (Decimal("12345678901.00"), "at most 10 digits before the decimal point"),
        (Decimal("1E+30"), "at most 10 digits before the decimal point"),
        ("abc", "not a decimal number"),
        (Decimal("NaN"), "not a finite number"),
    ],
)
def test_a_decimal_that_does_not_fit_is_refused_not_rounded(value, complaint):
    """Money is never rounded or truncated silently: the value must fit DECIMAL(12, 2)."""
    with pytest.raises(ValueError) as caught:
        ExactDecimal(12, 2).coerce(value)
    assert complaint in str(caught.value)


def test_datetimes_come_back_in_utc_with_microseconds(storage, values_table):
    """An Amsterdam time is stored and returned as the same instant in UTC, on every backend."""
    amsterdam = dt.datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Amsterdam"))
    with storage.transaction() as conn:
        conn.execute(values_table.insert(), [{"id": 1, "at": amsterdam}])
    with storage.transaction() as conn:
        back = conn.execute(sa.select(values_table.c.at)).scalar_one()
        later = conn.execute(
            sa.select(sa.func.count()).where(values_table.c.at > dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC))
        ).scalar_one()
    assert dt.datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=dt.UTC) == back
    assert dt.UTC == back.tzinfo
    assert 1 == later


def test_a_naive_datetime_is_refused_and_nothing_is_written(storage, values_table):
    """A datetime without a zone would be guessed at; the write fails before reaching the table."""
    with pytest.raises(sa.exc.StatementError) as caught:
        with storage.transaction() as conn:
            conn.execute(values_table.insert(), [{"id": 1, "at": dt.datetime(2026, 1, 1, 9, 0)}])
    assert "naive datetime" in str(caught.value)
    with storage.transaction() as conn:
        assert 0 == conn.execute(sa.select(sa.func.count()).select_from(values_table)).scalar_one()


def test_json_and_enumeration_round_trip_and_refuse_bad_values(storage, values_table):
    """JSON documents come back equal; an enumeration accepts only its values, and JSON only
    what json can encode."""
    document = {"tags": ["gold", "b2b"], "limits": {"daily": 3}, "note": "ünïcödé"}
    with storage.transaction() as conn:
        conn.execute(values_table.insert(), [{"id": 1, "doc": document, "state": "open"}, {"id": 2, "doc": None, "state": None}])
    with storage.transaction() as conn:
        rows = conn.execute(sa.select(values_table.c.doc, values_table.c.state).order_by(values_table.c.id)).all()
    assert [(document, "open"), (None, None)] == [tuple(r) for r in rows]
    with pytest.raises(sa.exc.StatementError, match="'pending' is not one of the allowed values open, closed"):
        with storage.transaction() as conn:
            conn.execute(values_table.insert(), [{"id": 3, "state": "pending"}])
    with pytest.raises(sa.exc.StatementError, match="cannot be stored as JSON"):
        with storage.transaction() as conn:
            conn.execute(values_table.insert(), [{"id": 4, "doc": {"when": object()}}])
    with pytest.raises(sa.exc.StatementError, match="cannot be stored as JSON: Out of range float values"):
        with storage.transaction() as conn:  # Python's json writes NaN; it is not JSON (PostgreSQL refuses it)
            conn.execute(values_table.insert(), [{"id": 5, "doc": {"ratio": float("nan")}}])
    with storage.transaction() as conn:
        assert 2 == conn.execute(sa.select(sa.func.count()).select_from(values_table)).scalar()


def test_portable_types_cover_the_model_format_and_check_their_options():
    """Every type name of the model format has a factory; options that do not apply are refused."""
    assert {"string", "text", "integer", "decimal", "boolean", "date", "datetime", "json", "enum"} == set(PORTABLE_TYPES)
    built = portable_type("decimal", length=None, precision=10, scale=2, values=None)
    assert (ExactDecimal, 10, 2) == (type(built), built.precision, built.scale)
    assert 40 == portable_type("string", length=40).length
    assert 255 == portable_type("string").length
    assert ("a", "b") == portable_type("enum", values=["a", "b"]).values
    assert isinstance(portable_type("datetime"), UTCDateTime)
    assert isinstance(portable_type("json"), JSONType)
    with pytest.raises(ValueError, match="length does not apply to type 'integer'"):
        portable_type("integer", length=10)
    with pytest.raises(ValueError, match="needs a precision"):
        portable_type("decimal", scale=2)
    with pytest.raises(ValueError, match="unknown type 'strng' \\(did you mean 'string'\\?\\)"):
        portable_type("strng")
