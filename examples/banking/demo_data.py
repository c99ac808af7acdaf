"""Demo data for the retail-bank template: customers with accounts, cards and loans.

``caruso demo banking --customers 100000`` calls :func:`generate` with a progress bar and
then creates the logins in :data:`DEMO_USERS`. From Python::

    from caruso import Application
    with Application.from_folder("examples/banking") as app:
        app.services.get("storage").upgrade()
        demo_data.generate(app, customers=1000, seed=1)

Everything is drawn from a seeded random generator, so the same seed gives the same bank.
Rows go in with ``bom.insert_many`` - one executemany per object and batch, checked by the
model's rules like any save - in batches of :data:`BATCH` customers, each batch one
transaction, so memory stays flat at any size. Customer is auditable (the customers plugin
says so), and insert_many saves auditable objects through the unit of work: that is most of
the time per customer (100,000 customers took 140 s on a 2-core machine; a million about 25
minutes). It also writes the core-banking system's
positions file of the day before for the same accounts (``feeds/POSyyyymmdd.DAT``), as the
core's nightly batch would, so ``core-banking.import_positions`` has something to read.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BATCH = 2000
"""Customers per transaction."""

#: (name, password, roles, fields): the demo's logins. The agents are agents of the
#: communication server (caruso.toml); the customer logs in as customer 1, the first generated.
DEMO_USERS = [
    ("anouk", "anouk-demo-password", ["agent"], {"agent": "anouk"}),
    ("dirk", "dirk-demo-password", ["agent"], {"agent": "dirk"}),
    ("esther", "esther-demo-password", ["supervisor"], {"agent": "esther"}),
    ("admin", "admin-demo-password", ["admin"], {}),
    ("klant", "klant-demo-password", ["customer"], {"customer": 1}),
]

FIRST_NAMES = ("Daan", "Sem", "Lucas", "Levi", "Finn", "Noah", "Milan", "Jesse", "Bram", "Thijs", "Emma", "Julia",
               "Mila", "Tess", "Sophie", "Zoë", "Sara", "Nora", "Anna", "Eva", "Fleur", "Lotte", "Sanne", "Iris",
               "Mohamed", "Yusuf", "Fatima", "Aylin", "Priya", "Wei", "Olga", "Piet", "Kees", "Annelies", "Henk")
SURNAMES = ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
            "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
            "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs", "Yilmaz",
            "El Amrani", "Verhoeven", "Willems", "van Wijk", "Schouten", "Hoekstra", "Kramer")
BUSINESSES = ("Bakkerij", "Garage", "Installatiebedrijf", "Bloemenhandel", "Adviesbureau", "Architectenbureau",
              "Transport", "Schildersbedrijf", "Kapsalon", "Fietsenmaker", "Restaurant", "Drukkerij")
STREETS = ("Kerkstraat", "Dorpsstraat", "Schoolstraat", "Molenweg", "Stationsweg", "Nieuwstraat", "Julianastraat",
           "Beatrixlaan", "Wilhelminastraat", "Parallelweg", "Industrieweg", "Kastanjelaan", "Eikenlaan",
           "Prinsengracht", "Oranjestraat", "Marktplein", "Havenweg", "Lindelaan")
CITIES = (("Amsterdam", 1011), ("Rotterdam", 3011), ("Den Haag", 2511), ("Utrecht", 3511), ("Eindhoven", 5611),
          ("Groningen", 9711), ("Tilburg", 5011), ("Almere", 1311), ("Breda", 4811), ("Nijmegen", 6511),
          ("Enschede", 7511), ("Haarlem", 2011), ("Arnhem", 6811), ("Zwolle", 8011), ("Leiden", 2311),
          ("Maastricht", 6211), ("Delft", 2611), ("Leeuwarden", 8911))
LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"
BANK_CODE = "CRSO"


def generate(app: Any, *, customers: int = 1000, seed: int = 1,
             progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Fill the started application with ``customers`` customers and what a bank has of them.

    Args:
        app: a started application whose tables exist (``storage.upgrade()``).
        customers: how many customers (1,000 to 1,000,000 is what the template is made for).
        seed: the random generator's seed: the same seed, the same bank.
        progress: called as ``progress(customers_done, customers)`` after every batch.

    Returns:
        Rows written per business object (``{"Customer": 1000, "Account": 1552, ...}``), and
        ``feed records`` for the positions file.
    """
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, not {customers}")
    bom = app.services.get("bom")
    clock = app.services.get("clock")
    rng = random.Random(seed)
    now = clock.now()
    today = now.date()
    model = bom.model
    written = {name: 0 for name in ("Customer", "Address", "Contact", "Account", "Card", "Loan", "IdentityCheck")}
    with bom.session() as session:
        start = {name: (session.scalar(sa.select(sa.func.max(model[name].id))) or 0)
                 for name in ("Customer", "Account", "Card", "Loan")}
    ids = dict(start)
    feed_path = _feed_dir(app) / f"POS{(today - dt.timedelta(days=1)):%Y%m%d}.DAT"
    positions = _positions_module(app)
    done = 0
    if progress:
        progress(0, customers)
    with positions.PositionsWriter(feed_path, today - dt.timedelta(days=1)) as feed:
        while done < customers:
            size = min(BATCH, customers - done)
            rows = _batch(rng, ids, size, now, today)
            with bom.unit_of_work(user="demo-data") as session:
                for name in ("Customer", "Address", "Contact", "Account", "Card", "Loan", "IdentityCheck"):
                    if rows[name]:
                        written[name] += bom.insert_many(session, name, rows[name])
            for account in rows["Account"]:
                feed.add(account=account["number"], balance=account["balance"], available=account["available"],
                         status=account["status"])
            done += size
            if progress:
                progress(done, customers)
    written["feed records"] = feed.count
    _marketing(app)
    return written


def _batch(rng: random.Random, ids: dict[str, int], size: int, now: dt.datetime, today: dt.date) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in ("Customer", "Address", "Contact", "Account", "Card", "Loan",
                                                   "IdentityCheck")}
    for _ in range(size):
        ids["Customer"] += 1
        key = ids["Customer"]
        organisation = rng.random() < 0.08
        first, surname = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        if organisation:
            name = f"{rng.choice(BUSINESSES)} {surname.split()[-1]}"
            segment = "business"
        else:
            name = f"{first} {surname}"
            age = rng.randint(18, 88)
            segment = _pick(rng, (("standard", 0.70), ("premium", 0.16), ("private", 0.04), ("student", 0.10)))
            if segment == "student":
                age = rng.randint(18, 26)
        born = None if organisation else today - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        mobile = f"+316{(key * 7919 + 1234567) % 90_000_000 + 10_000_000:08d}"
        slug = name.lower().replace(" ", ".").replace("ë", "e")
        rows["Customer"].append({
            "id": key, "number": f"K{key:08d}", "core_id": f"{10_000_000 + key:08d}", "name": name,
            "kind": "organisation" if organisation else "person", "segment": segment,
            "language": "en" if rng.random() < 0.12 else "nl", "mobile": mobile,
            "phone": f"+31{rng.randint(10, 79)}{rng.randint(1_000_000, 9_999_999)}" if rng.random() < 0.4 else None,
            "email": f"{slug}.{key}@example.nl", "date_of_birth": born,
            "created": now - dt.timedelta(days=rng.randint(0, 20 * 365)),
        })
        city, postcode = rng.choice(CITIES)
        rows["Address"].append({
            "customer_id": key, "kind": "office" if organisation else "home",
            "street": f"{rng.choice(STREETS)} {rng.randint(1, 240)}",
            "postcode": f"{postcode + rng.randint(0, 80)} {rng.choice(LETTERS)}{rng.choice(LETTERS)}",
            "city": city, "country": "NL"})
        if organisation:
            rows["Contact"].append({"customer_id": key, "name": f"{first} {surname}", "role": "owner",
                                    "phone": mobile})
        accounts = [("business" if organisation else "current")]
        if rng.random() < 0.55:
            accounts.append("savings")
        current_id = None
        for kind in accounts:
            ids["Account"] += 1
            balance = _money(rng.lognormvariate(7.5 if kind != "savings" else 9, 1.2))
            if kind != "savings" and rng.random() < 0.07:
                balance = -_money(rng.uniform(10, 1500))
            overdraft = Decimal("2500.00") if kind == "business" else (Decimal("1000.00") if kind == "current"
                                                                       else Decimal("0.00"))
            status = "blocked" if rng.random() < 0.004 else "active"
            rows["Account"].append({
                "id": ids["Account"], "customer_id": key, "number": iban(ids["Account"]), "kind": kind,
                "balance": balance, "available": balance + overdraft if status == "active" else Decimal("0.00"),
                "overdraft_limit": overdraft, "status": status,
                "opened": today - dt.timedelta(days=rng.randint(30, 20 * 365)), "positions_date": today})
            if kind != "savings":
                current_id = ids["Account"]
        card_kinds = ["debit"] + (["credit"] if segment in ("premium", "private", "business") and rng.random() < 0.5
                                  else [])
        for kind in card_kinds:
            ids["Card"] += 1
            expires = dt.date(today.year + rng.randint(-1, 4), rng.randint(1, 12), 1)
            rows["Card"].append({
                "id": ids["Card"], "customer_id": key, "account_id": current_id, "kind": kind,
                "reference": f"C{100_000_000 + ids['Card']:09d}", "last4": f"{rng.randint(0, 9999):04d}",
                "expires": expires, "status": "expired" if expires < today else "active",
                "credit_limit": Decimal(rng.choice((1000, 2500, 5000))) if kind == "credit" else None})
        if segment != "student" and rng.random() < 0.22:
            ids["Loan"] += 1
            kind = _pick(rng, (("personal", 0.45), ("car", 0.25), ("mortgage", 0.30)))
            principal = Decimal(rng.randrange(150_000, 600_000, 5_000) if kind == "mortgage"
                                else rng.randrange(2_000, 40_000, 500))
            years = 30 if kind == "mortgage" else rng.choice((3, 5, 7))
            starts = today - dt.timedelta(days=rng.randint(30, years * 365 - 30))
            rate = {"personal": Decimal("7.900"), "car": Decimal("6.450"), "mortgage": Decimal("3.850")}[kind]
            rate += Decimal(rng.randint(-50, 50)) / 100
            elapsed = (today - starts).days / (years * 365)
            status = _pick(rng, (("running", 0.96), ("arrears", 0.04)))
            rows["Loan"].append({
                "id": ids["Loan"], "customer_id": key, "number": f"L{ids['Loan']:09d}", "kind": kind,
                "principal": principal, "outstanding": _money(float(principal) * (1 - elapsed)),
                "rate": rate, "monthly_payment": _annuity(principal, rate, years * 12),
                "starts": starts, "ends": starts + dt.timedelta(days=years * 365), "status": status})
        if rng.random() < 0.05:
            failed = rng.random() < 0.2
            rows["IdentityCheck"].append({
                "customer_id": key, "at": now - dt.timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 600)),
                "purpose": rng.choice(("block-lost-card", "change-address")), "channel": "voice",
                "result": "failed" if failed else "passed",
                "reason": "the date of birth does not match" if failed else None})
    return rows


def iban(number: int) -> str:
    """A Dutch IBAN of the demo bank with valid check digits (ISO 13616, mod 97)."""
    account = f"{number:010d}"
    digits = "".join(str(int(c, 36)) for c in f"{BANK_CODE}{account}NL00")
    return f"NL{98 - int(digits) % 97:02d}{BANK_CODE}{account}"


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    draw, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if draw < total:
            return value
    return weighted[-1][0]


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _annuity(principal: Decimal, rate: Decimal, months: int) -> Decimal:
    monthly = float(rate) / 1200
    factor = (1 + monthly) ** months
    return _money(float(principal) * monthly * factor / (factor - 1))


def _feed_dir(app: Any) -> Path:
    from caruso.errors import ServiceNotFound

    try:
        folder = Path(app.services.get("core-banking").settings.feed_dir)
    except (ServiceNotFound, AttributeError):  # no wrapper, or one without feed_dir: the application's feeds/
        folder = Path("feeds")
    return folder if folder.is_absolute() else Path(app.config.root) / folder


def _positions_module(app: Any) -> Any:
    from caruso.plugins import import_from_folders

    return import_from_folders("banking_positions", [Path(app.config.root) / "legacy"])


def _marketing(app: Any) -> None:
    """The cross-selling campaign's segment and campaign in the marketing plugin (once)."""
    from caruso.errors import ServiceNotFound

    try:
        marketing = app.services.get("marketing")
    except ServiceNotFound:
        return
    bom = app.services.get("bom")
    with bom.session() as session:
        known = session.scalar(sa.select(sa.func.count()).select_from(bom.model.Segment)
                               .where(bom.model.Segment.name == "premium-cross-sell"))
    if known:
        return
    marketing.define_segment("premium-cross-sell", [["segment", "=", "premium"], ["mobile", "is-not-empty"]],
                             description="Premium customers we can call: the credit-card cross-selling campaign")
    marketing.create_campaign("premium-cross-sell", "premium-cross-sell", channel="call")
