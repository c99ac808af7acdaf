"""Copy the PAS's clients and policies into the CRM, once, before the first `caruso run`.

    python examples/insurance/load_portfolio.py [DIR]

Later lookups keep the copy fresh: every policy a script looks up is copied
again (the portfolio service's ``policy``). Run it while the application is
stopped: it starts the application (and with it the stand-in PAS) itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from caruso import Application


def main(folder: str | None = None) -> None:
    with Application.from_folder(Path(folder or Path(__file__).parent)) as app:
        clients = app.services.get("portfolio").sync_all()
        bom = app.services.get("bom")
        with bom.session() as session:
            for customer in session.scalars(bom.Customer.select().order_by(bom.Customer.id)):
                policies = ", ".join(p.number for p in customer.policies)
                print(f"customer {customer.id}: {customer.number} {customer.name} - {policies}")
    print(f"{clients} client(s) copied from the PAS")


if __name__ == "__main__":
    main(*sys.argv[1:2])
