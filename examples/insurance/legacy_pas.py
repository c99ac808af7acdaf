"""A stand-in for the broker's policy administration system (PAS), speaking XML-RPC.

Brokers run their portfolio in a policy administration package bought in the
1990s: it holds the clients, the policies placed with each insurer, and it
passes claims on to the insurers. It answers like such packages do: upper-case
field names, dates as ``YYYYMMDD``, amounts as strings, product and insurer
codes, faults with numeric codes from the manual.

Run it on its own, or let the ``pas-standin`` service of the application start it::

    python legacy_pas.py --port 8911

Tests start it in-process: ``server, thread = serve(port=0)``; ``server.url``
is its address, ``server.calls`` counts the calls per method.

Methods:
    system.status()                                  -> {"STATUS": "UP", "SYSTEM": ..., "TIME": ...}
    client.list()                                    -> ["C10042", ...]
    client.get(client_no)                            -> {"CLNO", "NAME", "BIRTH", "PHONE", "EMAIL"}
    policy.list(client_no)                           -> [{"POLNO", "CLNO", "PROD", "INS", "PREM", "START", "RENEW", "STAT"}]
    policy.get(policy_no)                            -> the same record for one policy
    claim.register(policy_no, occurred, cause, text, amount) -> {"CLAIMNO": "S2026-000101", "INSREF": "NN-..."}
    policy.renew(policy_no)                          -> {"POLNO", "RENEW"}: the next renewal date

Faults:
    5001 CLIENT NOT FOUND
    5002 POLICY NOT FOUND
    5003 POLICY NOT IN FORCE ON DATE   the policy did not cover the day of the loss
    5004 INVALID AMOUNT
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xmlrpc.client import Fault

from caruso.standin import XmlRpcStandIn, run_standin_cli

CLIENT_NOT_FOUND = 5001
POLICY_NOT_FOUND = 5002
NOT_IN_FORCE = 5003
INVALID_AMOUNT = 5004

SYSTEM = "ASSUR/5.1 (stand-in)"

CLIENTS = {
    "C10042": {"CLNO": "C10042", "NAME": "Marieke Visser", "BIRTH": "19810412",
               "PHONE": "+31201234567", "EMAIL": "marieke.visser@example.com"},
    "C10077": {"CLNO": "C10077", "NAME": "Bakkerij Jansen", "BIRTH": "",
               "PHONE": "+31301234567", "EMAIL": "info@bakkerij-jansen.example"},
}

# Status: A in force, L lapsed (premium not paid), C cancelled. Renewal dates follow today's
# date (see _renewal), so the stand-in's policies are in force whenever it runs.
POLICIES = {
    "AU-100231": {"POLNO": "AU-100231", "CLNO": "C10042", "PROD": "AUTO", "INS": "NN",
                  "PREM": "612.40", "START": "20230301", "STAT": "A"},
    "WO-200518": {"POLNO": "WO-200518", "CLNO": "C10042", "PROD": "HOME", "INS": "ASR",
                  "PREM": "288.00", "START": "20210115", "STAT": "A"},
    "BU-300007": {"POLNO": "BU-300007", "CLNO": "C10077", "PROD": "BUSI", "INS": "ACH",
                  "PREM": "1840.00", "START": "20190601", "STAT": "A"},
    "RE-400912": {"POLNO": "RE-400912", "CLNO": "C10077", "PROD": "LIAB", "INS": "NN",
                  "PREM": "420.00", "START": "20200101", "STAT": "L"},
}


def _renewal(start: str, status: str, today: date) -> str:
    """The next anniversary of ``start`` after today; for a lapsed policy the last one."""
    year = today.year
    anniversary = date(year, int(start[4:6]), int(start[6:8]))
    if anniversary <= today:
        anniversary = anniversary.replace(year=year + 1)
    if status == "L":
        anniversary = anniversary.replace(year=anniversary.year - 1)
    return anniversary.strftime("%Y%m%d")


class Portfolio:
    """Clients, policies and registered claims, in memory, guarded by one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._clients = {k: dict(v) for k, v in CLIENTS.items()}
        today = date.today()
        self._policies = {k: dict(v, RENEW=_renewal(v["START"], v["STAT"], today)) for k, v in POLICIES.items()}
        self._claims: list[dict] = []

    def status(self) -> dict:
        return {"STATUS": "UP", "SYSTEM": SYSTEM, "TIME": datetime.now().strftime("%Y%m%d%H%M%S")}

    def clients(self) -> list[str]:
        with self._lock:
            return sorted(self._clients)

    def client(self, client_no: str) -> dict:
        with self._lock:
            try:
                return dict(self._clients[str(client_no).upper()])
            except KeyError:
                raise Fault(CLIENT_NOT_FOUND, f"CLIENT NOT FOUND: {client_no}") from None

    def policies(self, client_no: str) -> list[dict]:
        self.client(client_no)
        with self._lock:
            return [dict(p) for p in self._policies.values() if p["CLNO"] == str(client_no).upper()]

    def policy(self, policy_no: str) -> dict:
        with self._lock:
            return dict(self._policy(policy_no))

    def register_claim(self, policy_no: str, occurred: str, cause: str, text: str, amount: str) -> dict:
        with self._lock:
            policy = self._policy(policy_no)
            day = str(occurred)
            if policy["STAT"] != "A" or not policy["START"] <= day < policy["RENEW"]:
                raise Fault(NOT_IN_FORCE, f"POLICY NOT IN FORCE ON DATE {day}: {policy['POLNO']} STATUS {policy['STAT']}")
            try:
                value = Decimal(str(amount))
            except InvalidOperation:
                raise Fault(INVALID_AMOUNT, f"INVALID AMOUNT: {amount!r}") from None
            if not value.is_finite() or value < 0:
                raise Fault(INVALID_AMOUNT, f"INVALID AMOUNT: {amount!r}")
            number = f"S{date.today().year}-{len(self._claims) + 101:06d}"
            claim = {"CLAIMNO": number, "INSREF": f"{policy['INS']}-{len(self._claims) + 7001}",
                     "POLNO": policy["POLNO"], "DATE": day, "CAUSE": str(cause).upper(), "TEXT": str(text),
                     "AMOUNT": str(value)}
            self._claims.append(claim)
            return {"CLAIMNO": claim["CLAIMNO"], "INSREF": claim["INSREF"]}

    def renew(self, policy_no: str) -> dict:
        with self._lock:
            policy = self._policy(policy_no)
            renew = policy["RENEW"]
            policy["RENEW"] = f"{int(renew[:4]) + 1}{renew[4:]}"
            policy["STAT"] = "A"
            return {"POLNO": policy["POLNO"], "RENEW": policy["RENEW"]}

    def _policy(self, policy_no: str) -> dict:
        try:
            return self._policies[str(policy_no).strip().upper()]
        except KeyError:
            raise Fault(POLICY_NOT_FOUND, f"POLICY NOT FOUND: {policy_no}") from None


class PasServer(XmlRpcStandIn):
    """The XML-RPC server: one thread per connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.portfolio = Portfolio()
        super().__init__(
            {
                "system.status": self.portfolio.status,
                "client.list": self.portfolio.clients,
                "client.get": self.portfolio.client,
                "policy.list": self.portfolio.policies,
                "policy.get": self.portfolio.policy,
                "policy.renew": self.portfolio.renew,
                "claim.register": self.portfolio.register_claim,
            },
            host,
            port,
        )


def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[PasServer, threading.Thread]:
    """Start the stand-in on a background thread; stop it with ``server.stop()``."""
    server = PasServer(host, port)
    return server, server.serve_in_background("legacy-pas")


def main(argv: list[str] | None = None) -> None:
    run_standin_cli(PasServer, "A stand-in policy administration system (XML-RPC).", 8911, SYSTEM, argv,
                    hint=f"clients {', '.join(CLIENTS)}")


if __name__ == "__main__":
    main()
