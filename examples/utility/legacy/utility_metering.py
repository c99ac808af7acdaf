"""The metering system behind the Caruso service interface: the wrapper service.

Scripts, rules, views and the self-service web ask the service named ``metering`` for a
meter's readings and hand it new ones, in plain Python (``MeterInfo``, ``date``, ``int``),
and never see XML-RPC, ``YYYYMMDD`` strings, Dutch field names or fault 330. Registered from
the template's ``caruso.toml``::

    [services.metering]
    implementation = "utility_metering:MeteringService"

    [services.metering.settings]
    url = "http://127.0.0.1:8911"
    timeout = 2.0

Timeouts, retries, the circuit breaker and health come from ``LegacyService``, the XML-RPC
client from ``XmlRpcLegacyService``
(docs/wrapper-services.md); this module is the translation, plus a health that says in
one phrase what an operator needs to know when the system is gone: "metering system
unreachable".
"""

from __future__ import annotations

import socket
import xmlrpc.client
from datetime import date, datetime
from urllib.parse import urlsplit

import attrs

from caruso.errors import LegacyUnavailable
from caruso.services.base import Health
from caruso.services.legacy import LegacySettings
from caruso.services.xmlrpc_legacy import XmlRpcLegacyService

#: What the metering system's fault codes mean, for the agent or customer who reads them.
FAULT_MEANINGS = {
    310: "the metering system does not know this connection (EAN code); check the EAN code",
    320: "the reading's date is in the future or before the last reading on file",
    330: "the reading is lower than the last one on file; a meter does not run backwards - read the black digits again",
}

PRODUCTS = {"ELEKTRA": "electricity", "GAS": "gas", "WATER": "water"}
UNITS = {"KWH": "kWh", "M3": "m3"}

UNREACHABLE = "metering system unreachable"


@attrs.frozen(kw_only=True)
class MeteringSettings(LegacySettings):
    """The common wrapper settings, plus where the metering system's XML-RPC service listens.

    Args:
        url: the metering system's endpoint, ``http://`` or ``https://``.
        probe_timeout: seconds health waits for the system's port to answer.
    """

    url: str = "http://127.0.0.1:8911"
    probe_timeout: float = attrs.field(default=0.5, converter=float, validator=attrs.validators.gt(0))


@attrs.frozen
class Reading:
    """One reading as the metering system holds it."""

    read_on: date
    normal: int
    low: int
    origin: str


@attrs.frozen
class MeterInfo:
    """A meter as an agent sees it: what it measures and its last reading."""

    ean: str
    product: str
    meter_number: str
    smart: bool
    registers: int
    unit: str
    last: Reading


@attrs.frozen
class Submission:
    """What the metering system made of a reading: accepted, or kept as implausible (with the range it expected)."""

    number: str
    accepted: bool
    expected_min: int | None = None
    expected_max: int | None = None

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "implausible"


class MeteringService(XmlRpcLegacyService):
    """Meter data from the metering system: meters, readings, and new readings to check and store."""

    system = "metering"
    Settings = MeteringSettings
    fault_meanings = FAULT_MEANINGS
    allow_none = True

    def check(self, proxy: xmlrpc.client.ServerProxy) -> None:
        """``MDM.Status`` must say ONLINE."""
        status = proxy.MDM.Status().get("STATUS")
        if status != "ONLINE":
            raise LegacyUnavailable(self.system, "connect", f"the metering system reports {status!r} instead of 'ONLINE'")

    # -- the interface -------------------------------------------------------------

    def meter(self, ean: str) -> MeterInfo:
        """The meter on a connection, with its last reading."""
        row = self.remote("MDM.GetMeter", str(ean), idempotent=True)
        return MeterInfo(ean=row["EAN"], product=PRODUCTS.get(row["PRODUCT"], row["PRODUCT"].lower()),
                         meter_number=row["METER_NO"], smart=row["TYPE"] == "SLIM",
                         registers=int(row["REGISTERS"]), unit=UNITS.get(row["UNIT"], row["UNIT"]),
                         last=_reading(row["LAST"]))

    def readings(self, ean: str, count: int = 12) -> list[Reading]:
        """The connection's latest readings, newest first."""
        return [_reading(row) for row in self.remote("MDM.GetReadings", str(ean), int(count), idempotent=True)]

    def submit_reading(self, ean: str, read_on: date, normal: int, low: int = 0, *, origin: str = "customer") -> Submission:
        """Hand a reading to the metering system; whether it was accepted or kept to be checked.

        Not retried after a timeout (the reading may be stored): the metering system refuses
        an older date than its last reading, so a repeat by hand cannot store it twice.
        """
        if isinstance(read_on, datetime):
            read_on = read_on.date()
        answer = self.remote("MDM.SubmitReading", str(ean), read_on.strftime("%Y%m%d"), int(normal), int(low),
                              {"customer": "KLANT", "agent": "AGENT", "ivr": "IVR", "web": "WEB"}.get(origin, "KLANT"))
        if answer["RESULT"] == "ACCEPTED":
            return Submission(number=answer["READING_NO"], accepted=True)
        return Submission(number=answer["READING_NO"], accepted=False,
                          expected_min=int(answer["EXPECTED_MIN"]), expected_max=int(answer["EXPECTED_MAX"]))

    # -- health ------------------------------------------------------------------------

    def health(self) -> Health:
        """The breakers' verdict, and, when they see no trouble, whether the system's port answers.

        Either way a system that cannot be reached is reported as "metering system unreachable"
        at the front of the detail, so the admin page and ``caruso services --health`` say it plainly.
        """
        found = super().health()
        if found.status == "ok" and self._pool is not None:
            problem = self._probe()
            if problem is not None:
                return Health("down", f"{UNREACHABLE} at {self.settings.url}: {problem}")
            return found
        if found.status != "ok" and self._pool is not None and self._probe() is not None:
            return Health(found.status, f"{UNREACHABLE} at {self.settings.url}; {found.detail}")
        return found

    def _probe(self) -> str | None:
        """None when the system's port accepts a connection, else why not (cheap: no call is made)."""
        parts = urlsplit(self.settings.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=self.settings.probe_timeout):
                return None
        except OSError as exc:
            return exc.strerror or type(exc).__name__


def _reading(row: dict) -> Reading:
    return Reading(read_on=datetime.strptime(row["DATE"], "%Y%m%d").date(), normal=int(row["T1"]),
                   low=int(row["T2"]), origin=str(row["ORIGIN"]).lower())
