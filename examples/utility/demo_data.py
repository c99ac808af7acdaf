"""Realistic demo data for the utility template, at any size from a hundred to a million customers.

    from caruso import Application
    import demo_data

    with Application.from_folder("examples/utility") as app:
        app.services.get("storage").upgrade()
        written = demo_data.generate(app, customers=10_000, progress=lambda done, total: ...)

Customers of a regional energy and water utility around Utrecht, in Dutch (most) and English:
persons and a few businesses with an address, one to three connections (electricity always,
gas and water mostly) each with its EAN code and meter, the last three monthly readings (the
same the metering stand-in has on file), contracts on the
billing system's tariffs, bills in the legacy billing tables, the contact history (calls,
letters, web visits), service requests and a few payment arrangements and outages. The
same ``seed`` gives the same data.

Rows go in with ``bom.insert_many`` (one executemany per object and batch), checked by the
model's rules like any save; a batch of customers is one transaction. The customers
plugin's ``Customer`` and the service plugin's ``ServiceRequest`` are auditable, so
``insert_many`` saves those through the unit of work, each insert with its audit entry -
they are the slow part (about 60% of the time) of a large run.

``DEMO_USERS`` are the front-office logins the demo creates (when the ``web`` service runs).
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

__all__ = ["DEMO_USERS", "FIRST_CUSTOMER", "generate"]

#: The first customer number (KLANTNR) the generator gives: the billing stand-in's seeded bills belong to it.
FIRST_CUSTOMER = 100001

#: (name, password, roles, fields) of the demo's front-office users: an agent per queue
#: (names as in [services.communication.settings.agents]), a supervisor, an admin, and a
#: customer logged in to self-service as customer FIRST_CUSTOMER.
DEMO_USERS: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("anouk", "anouk-demo-2026", ["agent"], {"agent": "anouk", "queues": ["billing", "meter-readings"]}),
    ("bas", "bas-demo-2026", ["agent"], {"agent": "bas", "queues": ["technical"]}),
    ("charlotte", "charlotte-demo-2026", ["agent"], {"agent": "charlotte", "queues": ["moves"]}),
    ("dylan", "dylan-demo-2026", ["agent"], {"agent": "dylan", "queues": ["technical", "billing"]}),
    ("sophie", "sophie-demo-2026", ["supervisor", "agent"], {"agent": "sophie", "queues": ["backoffice", "supervisors"]}),
    ("admin", "admin-demo-2026", ["admin"], {}),
    ("klant", "klant-demo-2026", ["customer"], {"customer": FIRST_CUSTOMER}),
]

BATCH = 2000

FIRST_NAMES_NL = ["Jan", "Piet", "Kees", "Sanne", "Lotte", "Daan", "Emma", "Sem", "Julia", "Lucas", "Tess",
                  "Noah", "Anna", "Finn", "Sophie", "Bram", "Eva", "Thijs", "Fleur", "Ruben", "Iris", "Joost",
                  "Marieke", "Willem", "Femke", "Gerrit", "Annelies", "Henk", "Ingrid", "Mohammed", "Fatima",
                  "Yusuf", "Noor", "Priya", "Wei"]
LAST_NAMES_NL = ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
                 "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
                 "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer",
                 "Kok", "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "El Amrani", "Yilmaz", "Kaya"]
FIRST_NAMES_EN = ["James", "Olivia", "William", "Amelia", "Oliver", "Isla", "Harry", "Emily", "George",
                  "Charlotte", "Thomas", "Grace", "Daniel", "Chloe", "Ryan", "Megan", "Aidan", "Siobhan"]
LAST_NAMES_EN = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans",
                 "Walker", "Wright", "Thompson", "Murphy", "O'Brien", "Kelly", "Campbell", "Stewart"]
BUSINESSES = ["Bakkerij {n}", "{n} Installatietechniek B.V.", "Kapsalon {n}", "Café {n}", "{n} Advocaten",
              "Fietsenmaker {n}", "{n} Bouw B.V.", "Tandartspraktijk {n}", "Restaurant {n}", "{n} & Zn."]

#: City -> (first postcode, last postcode, streets), a region around Utrecht.
CITIES = {
    "Utrecht": (3511, 3585, ["Oudegracht", "Biltstraat", "Amsterdamsestraatweg", "Kanaalweg", "Vleutenseweg",
                             "Nachtegaalstraat", "Burgemeester Reigerstraat", "Kardinaal de Jongweg"]),
    "Amersfoort": (3811, 3829, ["Utrechtseweg", "Leusderweg", "Kamp", "Langestraat", "Hogeweg"]),
    "Zeist": (3701, 3709, ["Slotlaan", "Utrechtseweg", "Laan van Vollenhove", "Steynlaan"]),
    "Nieuwegein": (3430, 3439, ["Dorpsstraat", "Structuurbaan", "Zuidstedeweg", "Wijkerslootweg"]),
    "Houten": (3990, 3995, ["Het Rond", "Loerikseweg", "Oude Dijk", "Molenzoom"]),
    "Woerden": (3440, 3449, ["Rijnstraat", "Boerendijk", "Jozef Israelslaan", "Hollandbaan"]),
    "Veenendaal": (3900, 3907, ["Hoofdstraat", "Kerkewijk", "Prins Bernhardlaan", "Dragonder"]),
}
LETTERS = "ABCDEGHJKLMNPRTVWXZ"
BANKS = ["ABNA", "INGB", "RABO", "SNSB", "TRIO", "ASNB", "KNAB", "BUNQ"]
GRID = {"electricity": "Stedin", "gas": "Stedin", "water": "Vitens"}
CAPACITY = {"electricity": ["1x35A", "3x25A", "3x25A", "3x35A"], "gas": ["G4", "G4", "G6"], "water": ["Qn 2.5"]}
PER_MONTH = {"electricity": 225, "gas": 100, "water": 9}          # usual use: kWh, m3, m3
TARIFFS = {"electricity": (("E-GRIJS", Decimal("0.27450")), ("E-GROEN", Decimal("0.28120")), ("E-DYN", Decimal("0.24990"))),
           "gas": (("G-VAST", Decimal("1.38500")), ("G-GROEN", Decimal("1.45200"))),
           "water": (("W-STD", Decimal("1.09800")),)}
READING_KINDS = {"agent": "call", "ivr": "ivr", "self-service": "web"}   # reading source -> activity kind
PRODUCT_DIGIT = {"electricity": "1", "gas": "2", "water": "3"}
SUBJECTS = {
    "call": ["Question about the annual bill", "Asked for the advance amount to be lowered", "Direct debit changed",
             "Meter reading passed on", "Asked about green electricity", "Reminder received, paid already"],
    "letter": ["Annual bill sent", "Advance amount adjusted", "Welcome letter", "Payment reminder"],
    "web": ["Logged in to self-service", "Changed e-mail address", "Downloaded the annual bill"],
    "email": ["Question about the tariff", "Confirmation of the move", "Complaint about the bill"],
}
REQUESTS = [("moves", "request", "Move registered"), ("billing", "complaint", "Complaint about the annual bill"),
            ("meter", "request", "Meter shows an error"), ("outage", "request", "No power at the address"),
            ("billing", "question", "Why did the advance go up?"), ("tariff", "request", "Switch tariff")]


def _metering_system() -> Any:
    """The metering stand-in's module (legacy/metering_system.py), for the readings it has on file."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "legacy" / "metering_system.py"
    spec = importlib.util.spec_from_file_location("utility_demo_metering_system", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def history(ean: str, today: dt.date, months: int) -> list[dict[str, Any]]:
    """The latest ``months`` readings the metering system has on file for ``ean``, newest first."""
    global _history
    if _history is None:
        _history = _metering_system().synthetic_history
    return _history(ean, today, months)


_history: Callable[..., list[dict[str, Any]]] | None = None


def ean_code(product: str, serial: int) -> str:
    """The EAN code of a connection, as the metering stand-in knows it (``legacy/metering_system.py``)."""
    return f"8716870{PRODUCT_DIGIT[product]}{serial:010d}"


def _iban(rng: random.Random) -> str:
    """A Dutch IBAN with valid check digits (ISO 13616, mod 97)."""
    bank, account = rng.choice(BANKS), f"{rng.randrange(10**9, 10**10)}"
    digits = "".join(str(int(c, 36)) for c in bank + account + "NL00")
    return f"NL{98 - int(digits) % 97:02d}{bank}{account}"


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c == "."))


def _max(session: Any, column: Any) -> int:
    return session.scalar(sa.select(sa.func.max(column))) or 0


def generate(app: Any, *, customers: int = 1000, seed: int = 1,
             progress: Callable[[int, int], None] | None = None, users: bool = False) -> dict[str, int]:
    """Fill the started application ``app`` with ``customers`` customers and everything around them.

    The tables must exist (``caruso db upgrade``, or ``app.services.get("storage").upgrade()``).
    Runs again add more customers after the ones there are. ``progress(done, total)`` is
    called after every batch of customers (and once at the start, with 0). ``users=True``
    also creates the front-office users of ``DEMO_USERS`` that do not exist yet (``caruso demo``
    creates them itself, so the default leaves them out).

    Returns:
        rows written per business object (``{"Customer": 1000, "Connection": 2400, ...}``),
        plus ``"users"`` with ``users=True``: the front-office users created.
    """
    if customers < 0:
        raise ValueError(f"customers must be 0 or more, not {customers}")
    bom = app.services.get("bom")
    model = bom.model
    now = app.services.get("clock").now()
    today = now.date()
    rng = random.Random(seed)
    written: Counter[str] = Counter()
    with bom.session() as session:
        next_customer = max(_max(session, model.Customer.id), FIRST_CUSTOMER - 1) + 1
        next_connection = _max(session, model.Connection.id) + 1
        next_meter = _max(session, model.Meter.id) + 1
        next_arrangement = _max(session, model.PaymentArrangement.number) + 1
    if progress is not None:
        progress(0, customers)
    done = 0
    while done < customers:
        size = min(BATCH, customers - done)
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in (
            "Customer", "Address", "Connection", "Meter", "MeterReading", "Contract", "Bill",
            "PaymentArrangement", "Activity", "ServiceRequest")}
        for _ in range(size):
            key = next_customer
            next_customer += 1
            english = rng.random() < 0.15
            business = rng.random() < 0.08
            first = rng.choice(FIRST_NAMES_EN if english else FIRST_NAMES_NL)
            last = rng.choice(LAST_NAMES_EN if english else LAST_NAMES_NL)
            name = rng.choice(BUSINESSES).format(n=last.split()[-1]) if business else f"{first} {last}"
            city = rng.choice(list(CITIES))
            low, high, streets = CITIES[city]
            street, number = rng.choice(streets), str(rng.randint(1, 250)) + rng.choice(["", "", "", "A", "bis"])
            postcode = f"{rng.randint(low, high)} {rng.choice(LETTERS)}{rng.choice(LETTERS)}"
            green = rng.random() < 0.3
            mail = _ascii(f"{first}.{last}".replace(" ", "").lower())
            rows["Customer"].append({
                "id": key, "number": str(key), "kind": "organisation" if business else "person", "name": name,
                "segment": "business" if business else "residential", "language": "en" if english else "nl",
                "phone": f"+3130{key % 10**7:07d}", "mobile": None if business else f"+316{key % 10**8:08d}",
                "email": f"{mail}{key}@example.nl" if rng.random() < 0.85 else None,
                "created": now - dt.timedelta(days=rng.randint(30, 3650)),
                "iban": _iban(rng), "payment_method": "direct-debit" if rng.random() < 0.8 else "transfer",
                "green_energy": green, "priority_register": rng.random() < 0.01,
            })
            rows["Address"].append({"kind": "home" if not business else "office", "street": f"{street} {number}",
                                    "postcode": postcode, "city": city, "country": "NL", "customer_id": key})
            products = ["electricity"] + (["gas"] if rng.random() < 0.8 else []) + (["water"] if rng.random() < 0.6 else [])
            advance = Decimal(0)
            for product in products:
                connection = next_connection
                next_connection += 1
                rows["Connection"].append({
                    "id": connection, "ean": ean_code(product, connection), "product": product, "street": street,
                    "house_number": number, "postcode": postcode, "city": city,
                    "capacity": rng.choice(CAPACITY[product]), "grid_operator": GRID[product], "status": "active",
                    "customer_id": key})
                meter = next_meter
                next_meter += 1
                smart = product != "water" and rng.random() < 0.75
                registers = 2 if product == "electricity" and connection % 2 == 0 else 1   # as the metering system says
                use = PER_MONTH[product] * (3 if business else 1)
                readings = []
                for on_file in reversed(history(ean_code(product, connection), today, 3)):   # oldest first
                    source = "smart-meter" if smart else rng.choice(["self-service", "ivr", "agent", "estimate"])
                    ymd = on_file["DATE"]
                    day = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
                    for register, value in (("normal", on_file["T1"]), ("low", on_file["T2"]))[:registers]:
                        readings.append({"read_on": day, "register": register, "value": value, "meter_id": meter,
                                         "customer_id": key, "status": "accepted", "source": source})
                value = readings[-registers]["value"]
                rows["MeterReading"].extend(readings)
                latest = readings[-registers]
                if latest["source"] in READING_KINDS:          # the customer passed it on: a contact in the history
                    rows["Activity"].append({
                        "kind": READING_KINDS[latest["source"]], "subject": f"Meter reading {product}",
                        "occurred": dt.datetime.combine(latest["read_on"], dt.time(9), tzinfo=dt.UTC)
                        + dt.timedelta(minutes=rng.randint(0, 600)),
                        "notes": f"{product} meter reading {value} passed on ({latest['source']})",
                        "agent": rng.choice(("anouk", "fenna", "gijs")) if latest["source"] == "agent" else None,
                        "customer_id": key})
                rows["Meter"].append({
                    "id": meter, "serial": f"{'EGW'[['electricity', 'gas', 'water'].index(product)]}{meter:09d}",
                    "kind": "smart" if smart else "conventional", "registers": registers,
                    "installed": today - dt.timedelta(days=rng.randint(200, 5000)), "last_reading": value,
                    "last_read_on": readings[-1]["read_on"], "connection_id": connection})
                options = TARIFFS[product]
                if product == "water":
                    code, price = options[0]
                elif green:
                    code, price = options[1]
                elif product == "electricity":
                    code, price = rng.choice((options[0], options[2]))
                else:
                    code, price = options[0]
                monthly = (price * use + Decimal("6.25")).quantize(Decimal(1))
                advance += monthly
                starts = today - dt.timedelta(days=rng.randint(30, 1500))
                rows["Contract"].append({
                    "product": f"{product} {code}", "starts": starts, "ends": None, "sla": "standard",
                    "customer_id": key, "monthly_advance": monthly, "status": "active",
                    "connection_id": connection, "tariff_code": code})
            for months_ago in (2, 1, 0):
                issued = (today.replace(day=1) - dt.timedelta(days=28 * months_ago)).replace(day=1)
                late = months_ago == 0 and rng.random() < 0.15
                rows["Bill"].append({
                    "number": f"F{key:07d}{months_ago:02d}", "customer_id": key, "issued": issued,
                    "due": issued + dt.timedelta(days=14), "amount": advance,
                    "open_amount": advance if late else Decimal("0.00"), "kind": "V",
                    "status": ("H" if rng.random() < 0.3 else "O") if late else "B",
                    "period_from": issued, "period_to": (issued + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)})
            if rng.random() < 0.25:
                settlement = (advance * Decimal(rng.uniform(-1.5, 2.5))).quantize(Decimal("0.01"))
                issued = today - dt.timedelta(days=rng.randint(20, 300))
                owed = max(settlement, Decimal("0.00"))
                arranged = owed > 0 and rng.random() < 0.1
                rows["Bill"].append({
                    "number": f"F{key:07d}J1", "customer_id": key, "issued": issued,
                    "due": issued + dt.timedelta(days=14), "amount": settlement,
                    "open_amount": owed if issued > today - dt.timedelta(days=60) or arranged else Decimal("0.00"),
                    "kind": "J", "status": "R" if arranged else ("O" if owed and issued > today - dt.timedelta(days=60) else "B"),
                    "period_from": issued - dt.timedelta(days=365), "period_to": issued - dt.timedelta(days=1)})
                if arranged:
                    months = rng.randint(3, 10)
                    rows["PaymentArrangement"].append({
                        "number": next_arrangement, "customer_id": key, "starts": issued + dt.timedelta(days=30),
                        "instalments": months, "instalment_amount": (owed / months).quantize(Decimal("0.01")) + Decimal("0.01"),
                        "total": owed, "status": "A", "created_by": "demo"})
                    next_arrangement += 1
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                kind = rng.choice(("call", "call", "letter", "web", "email"))
                rows["Activity"].append({
                    "kind": kind, "occurred": now - dt.timedelta(minutes=rng.randint(60, 525600)),
                    "subject": rng.choice(SUBJECTS[kind]), "notes": None,
                    "agent": rng.choice(("anouk", "bas", "charlotte", "dylan")) if kind == "call" else None,
                    "customer_id": key})
            if rng.random() < 0.1:
                category, kind, subject = rng.choice(REQUESTS)
                status = rng.choice(("resolved", "resolved", "closed", "closed", "open"))
                # open ones are recent, still within the back office's day: nothing escalates at start
                opened = now - dt.timedelta(hours=rng.randint(1, 12) if status == "open" else rng.randint(24, 24 * 200))
                rows["ServiceRequest"].append({
                    "kind": kind, "category": category, "priority": "high" if category == "outage" else "normal",
                    "subject": subject, "status": status, "channel": rng.choice(("voice", "web", "email")),
                    "opened": opened, "due": opened + dt.timedelta(days=1) if status == "open" else None,
                    "resolved": opened + dt.timedelta(hours=rng.randint(1, 30)) if status != "open" else None,
                    "resolution": "handled" if status != "open" else None, "customer_id": key})
        with bom.unit_of_work(user="demo-data") as session:
            for name, batch in rows.items():
                if batch:
                    written[name] += bom.insert_many(session, name, batch)
        done += size
        if progress is not None:
            progress(done, customers)
    written.update(_outages(app, rng, now))
    if users:
        written["users"] = _users(app)
    return dict(written)


def _outages(app: Any, rng: random.Random, now: dt.datetime) -> dict[str, int]:
    """Two outages going on now (one in Utrecht's centre, 3511) and a few resolved ones."""
    bom = app.services.get("bom")
    rows = [
        {"product": "electricity", "area": "3511", "description": "Cable fault, Oudegracht",
         "started": now - dt.timedelta(minutes=40), "expected_end": now + dt.timedelta(hours=2), "status": "active"},
        {"product": "water", "area": "3701", "description": "Burst main, Slotlaan",
         "started": now - dt.timedelta(hours=3), "expected_end": now + dt.timedelta(hours=1), "status": "active"},
    ]
    for _ in range(5):
        started = now - dt.timedelta(days=rng.randint(2, 90))
        low, high, streets = CITIES[rng.choice(list(CITIES))]
        rows.append({"product": rng.choice(("electricity", "gas", "water")), "area": str(rng.randint(low, high)),
                     "description": f"Repair, {rng.choice(streets)}", "started": started,
                     "expected_end": started + dt.timedelta(hours=3), "status": "resolved",
                     "reports": rng.randint(1, 40)})
    with bom.unit_of_work(user="demo-data") as session:
        return {"Outage": bom.insert_many(session, "Outage", rows)}


def _users(app: Any) -> int:
    """The users of ``DEMO_USERS`` that do not exist yet, when the application runs a front office."""
    from caruso.errors import ServiceNotFound

    try:
        web = app.services.get("web")
    except ServiceNotFound:
        return 0
    created = 0
    for name, password, roles, fields in DEMO_USERS:
        if web.users.get(name) is None:
            web.users.add(name, password, roles=roles, **fields)
            created += 1
    return created
