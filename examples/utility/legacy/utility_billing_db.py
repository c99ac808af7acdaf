"""A stand-in for the utility's legacy billing database: its tables, with their own names.

The billing system of a Dutch utility of the 1990s, as it still runs: upper-case Dutch
table and column names (``KLANT_FACTUUR``, ``FCT_BEDRAG``), one-letter status codes,
amounts as ``NUMERIC``. The CRM does not own these tables; ``models/billing-legacy.xml``
maps them with ``legacy="yes"``, so ``caruso db upgrade`` never creates, alters or drops
them. This module plays the billing system's part for the demo: it creates the tables
when they are missing and puts a few tariffs and bills in them.

Caruso manages one database per application, so the stand-in creates them in the
application's own database (``[storage] url``). Run it on its own to make a database
file that ``caruso bom reflect`` can read::

    python legacy/utility_billing_db.py utility.db

Tables:
    TARIEF          tariffs: TARIEF_CD, TARIEF_OMS, PRODUCT_CD (E/G/W), PRIJS_EENHEID, VASTRECHT_MND, GROEN_JN
    KLANT_FACTUUR   bills: FACT_NR, KLANTNR, FACT_DT, VERVAL_DT, FCT_BEDRAG, OPEN_BEDRAG, FACT_SOORT, FACT_STATUS, PER_VAN, PER_TM
    BET_REGELING    payment arrangements: REG_NR, KLANTNR, START_DT, AANT_TERMIJN, TERMIJN_BEDRAG, TOTAAL_BEDRAG, REG_STATUS, AANGEMAAKT_DOOR
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal

import sqlalchemy as sa

from caruso import Service

#: The billing system's tables as its DBA made them. Upper-case names, which SQLAlchemy quotes,
#: so they keep their case on every backend (an unquoted KLANT_FACTUUR becomes klant_factuur
#: on PostgreSQL, and the model's legacy mapping names the table as the billing system does).
LEGACY = sa.MetaData()
sa.Table(
    "TARIEF", LEGACY,
    sa.Column("TARIEF_CD", sa.String(8), primary_key=True),
    sa.Column("TARIEF_OMS", sa.String(60), nullable=False),
    sa.Column("PRODUCT_CD", sa.CHAR(1), nullable=False),
    sa.Column("PRIJS_EENHEID", sa.Numeric(9, 5)),
    sa.Column("VASTRECHT_MND", sa.Numeric(8, 2)),
    sa.Column("GROEN_JN", sa.CHAR(1), server_default="N"),
)
sa.Table(
    "KLANT_FACTUUR", LEGACY,
    sa.Column("FACT_NR", sa.String(12), primary_key=True),
    sa.Column("KLANTNR", sa.Integer, nullable=False, index=True),
    sa.Column("FACT_DT", sa.Date, nullable=False),
    sa.Column("VERVAL_DT", sa.Date),
    sa.Column("FCT_BEDRAG", sa.Numeric(10, 2), nullable=False),
    sa.Column("OPEN_BEDRAG", sa.Numeric(10, 2)),
    sa.Column("FACT_SOORT", sa.CHAR(1), server_default="V"),
    sa.Column("FACT_STATUS", sa.CHAR(1), server_default="O"),
    sa.Column("PER_VAN", sa.Date),
    sa.Column("PER_TM", sa.Date),
)
sa.Table(
    "BET_REGELING", LEGACY,
    sa.Column("REG_NR", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("KLANTNR", sa.Integer, nullable=False, index=True),
    sa.Column("START_DT", sa.Date, nullable=False),
    sa.Column("AANT_TERMIJN", sa.Integer, nullable=False),
    sa.Column("TERMIJN_BEDRAG", sa.Numeric(10, 2), nullable=False),
    sa.Column("TOTAAL_BEDRAG", sa.Numeric(10, 2), nullable=False),
    sa.Column("REG_STATUS", sa.CHAR(1), server_default="A"),
    sa.Column("AANGEMAAKT_DOOR", sa.String(20)),
)

TABLES = ("TARIEF", "KLANT_FACTUUR", "BET_REGELING")

#: The tariffs on file: code, description, product, price per kWh / m3, monthly standing charge, green.
TARIFFS = (
    ("E-GRIJS", "Stroom vast 1 jaar", "E", "0.27450", "6.25", "N"),
    ("E-GROEN", "Groene stroom vast 1 jaar", "E", "0.28120", "6.25", "J"),
    ("E-DYN", "Stroom dynamisch", "E", "0.24990", "5.99", "N"),
    ("G-VAST", "Gas vast 1 jaar", "G", "1.38500", "6.75", "N"),
    ("G-GROEN", "Groen gas vast 1 jaar", "G", "1.45200", "6.75", "J"),
    ("W-STD", "Drinkwater standaard", "W", "1.09800", "5.10", "N"),
)

#: The demo customer the seeded bills belong to: the first customer ``demo_data.generate`` makes.
SEED_CUSTOMER = 100001

#: A few bills already on file for the seed customer (FACT_NR starts with S: seeded).
SEED_BILLS = (
    ("S2026000001", SEED_CUSTOMER, "2026-09-01", "2026-09-15", "112.00", "0.00", "V", "B", "2026-09-01", "2026-09-30"),
    ("S2026000002", SEED_CUSTOMER, "2026-10-01", "2026-10-15", "112.00", "0.00", "V", "B", "2026-10-01", "2026-10-31"),
    ("S2026000003", SEED_CUSTOMER, "2026-11-01", "2026-11-15", "112.00", "112.00", "V", "H", "2026-11-01", "2026-11-30"),
    ("S2026000004", SEED_CUSTOMER, "2026-11-20", "2026-12-04", "418.37", "418.37", "J", "O", "2025-11-01", "2026-10-31"),
)


def create_billing_tables(bind: sa.Engine | str, *, seed: bool = True) -> list[str]:
    """Create the billing tables that are missing (and, with ``seed``, their demo rows);
    the names of the tables created. Tables that exist are left exactly as they are."""
    engine = sa.create_engine(bind) if isinstance(bind, str) else bind
    existing = set(sa.inspect(engine).get_table_names())
    created = [name for name in TABLES if name not in existing]
    if not created:
        return []
    with engine.begin() as connection:
        LEGACY.create_all(connection, tables=[LEGACY.tables[name] for name in created])
        if seed and "TARIEF" in created:
            _insert(connection, LEGACY.tables["TARIEF"], TARIFFS)
        if seed and "KLANT_FACTUUR" in created:
            _insert(connection, LEGACY.tables["KLANT_FACTUUR"], SEED_BILLS)
    return created


def _insert(connection: sa.Connection, table: sa.Table, rows: tuple[tuple, ...]) -> None:
    connection.execute(table.insert(), [{column.name: _typed(column, value) for column, value in
                                         zip(table.columns, row, strict=True)} for row in rows])


def _typed(column: sa.Column, value: object) -> object:
    """A seed value written as text, as the column's type takes it."""
    if isinstance(column.type, sa.Date) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(column.type, sa.Numeric) and isinstance(value, str):
        return decimal.Decimal(value)
    return value


class BillingDatabaseStandIn(Service):
    """Creates the legacy billing tables in the application's database when they are missing."""

    requires = ("storage",)
    version = "1994.2"

    def on_start(self) -> None:
        self.created = create_billing_tables(self.context.manager.get("storage").engine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create the legacy billing tables in a SQLite file.")
    parser.add_argument("database", help="the SQLite file (created when missing)")
    parser.add_argument("--no-seed", action="store_true", help="create the tables empty")
    args = parser.parse_args(argv)
    created = create_billing_tables(f"sqlite:///{args.database}", seed=not args.no_seed)
    print(f"created {', '.join(created)}" if created else "the billing tables exist already; nothing changed")


if __name__ == "__main__":
    main()
