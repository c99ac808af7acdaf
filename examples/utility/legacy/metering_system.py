"""A stand-in for the utility's metering system (meter data management), speaking XML-RPC.

The metering system holds every meter's readings - the smart meters' daily ones and those
customers pass on - and decides whether a reading is plausible. It is reachable only through
its XML-RPC service, the way such systems were opened up in the 2000s: method names in
CamelCase under ``MDM.``, upper-case field names, dates as ``YYYYMMDD`` strings and numbered
faults from the vendor's manual. The CRM reaches it through the wrapper service
``utility_metering.MeteringService`` (the complex interface to a legacy system).

Run it on its own::

    python legacy/metering_system.py --port 8911

Tests start it in-process: ``server, thread = serve(port=0)``; ``server.url`` is its
address and ``server.calls`` counts calls per method.

Every well-formed EAN code is known to it (``8716870`` + product digit + 10 digits; the
product digit is 1 electricity, 2 gas, 3 water): its history is made up from the code, the
same every time, so the stand-in has data for every connection the demo generator creates.
Electricity meters whose EAN ends in an even digit have two registers (T1 normal, T2 low
rate); a reading gives both.

Methods:
    MDM.Status()                              -> {"STATUS": "ONLINE", "SYSTEM", "TIME"}
    MDM.GetMeter(ean)                         -> {"EAN", "PRODUCT", "METER_NO", "TYPE", "REGISTERS", "UNIT", "LAST"}
    MDM.GetReadings(ean, count)               -> [{"DATE", "T1", "T2", "ORIGIN"}] newest first
    MDM.SubmitReading(ean, date, t1, t2, origin)
        -> {"RESULT": "ACCEPTED", "READING_NO"} or
           {"RESULT": "IMPLAUSIBLE", "READING_NO", "EXPECTED_MIN", "EXPECTED_MAX"} (kept, to be checked)

Faults:
    310 UNKNOWN EAN                  not a connection of this utility
    320 READING DATE IN THE FUTURE   or older than the last reading on file
    330 READING BELOW PREVIOUS       a meter does not run backwards: the digits were misread
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import date, datetime, timedelta
from xmlrpc.client import Fault

from caruso.standin import XmlRpcStandIn, run_standin_cli

UNKNOWN_EAN = 310
BAD_DATE = 320
BELOW_PREVIOUS = 330

SYSTEM = "MDM/4.1 (stand-in)"
EAN = re.compile(r"8716870([123])[0-9]{10}")

#: product digit -> (product, unit, usage per day, meter number prefix)
PRODUCTS = {
    "1": ("ELEKTRA", "KWH", 7.4, "E"),
    "2": ("GAS", "M3", 3.3, "G"),
    "3": ("WATER", "M3", 0.3, "W"),
}

#: A reading above the previous one plus this many times the usual use is implausible.
PLAUSIBLE_FACTOR = 3.0


def ean_code(product: str, serial: int) -> str:
    """The EAN code the stand-in knows for ``product`` (electricity, gas, water) and a serial number."""
    digit = {"electricity": "1", "gas": "2", "water": "3"}[product]
    return f"8716870{digit}{serial:010d}"


def _dual(ean: str) -> bool:
    """Whether the meter has two registers (day and night rate): electricity meters whose EAN
    ends in an even digit. The demo generator follows the same rule for the CRM's Meter."""
    return ean[7] == "1" and int(ean[-1]) % 2 == 0


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _day(text: str) -> date:
    try:
        return datetime.strptime(str(text), "%Y%m%d").date()
    except ValueError:
        raise Fault(BAD_DATE, f"INVALID DATE {text!r} (FORMAT YYYYMMDD)") from None


class MeterData:
    """Every meter's readings: made up from the EAN on first use, then kept in memory."""

    def __init__(self, today: date | None = None):
        self._today = today
        self._lock = threading.Lock()
        self._readings: dict[str, list[dict]] = {}
        self._numbers = 0

    def today(self) -> date:
        return self._today or date.today()

    def status(self) -> dict:
        return {"STATUS": "ONLINE", "SYSTEM": SYSTEM, "TIME": datetime.now().strftime("%Y%m%d%H%M%S")}

    def meter(self, ean: str) -> dict:
        with self._lock:
            product, unit, _, prefix = self._product(ean)
            readings = self._history(ean)
            digest = int(hashlib.sha256(ean.encode()).hexdigest(), 16)
            registers = 2 if _dual(ean) else 1
            return {"EAN": ean, "PRODUCT": product, "METER_NO": f"{prefix}{ean[-8:]}",
                    "TYPE": "SLIM" if digest % 5 else "CONV", "REGISTERS": registers, "UNIT": unit,
                    "LAST": dict(readings[0])}

    def readings(self, ean: str, count: int = 12) -> list[dict]:
        with self._lock:
            self._product(ean)
            return [dict(r) for r in self._history(ean)[: max(1, min(int(count), 100))]]

    def submit(self, ean: str, day: str, t1: int, t2: int = 0, origin: str = "KLANT") -> dict:
        with self._lock:
            _, _, per_day, _ = self._product(ean)
            when = _day(day)
            history = self._history(ean)
            last = history[0]
            if when > self.today():
                raise Fault(BAD_DATE, f"READING DATE IN THE FUTURE: {_ymd(when)}")
            if when < _day(last["DATE"]):
                raise Fault(BAD_DATE, f"READING DATE {_ymd(when)} BEFORE LAST READING {last['DATE']}")
            t1, t2 = int(t1), int(t2 or 0)
            if t1 < last["T1"] or t2 < last["T2"]:
                raise Fault(BELOW_PREVIOUS, f"READING BELOW PREVIOUS: {t1}/{t2} < {last['T1']}/{last['T2']} ON {last['DATE']}")
            days = max(1, (when - _day(last["DATE"])).days)
            expected_max = last["T1"] + last["T2"] + int(days * per_day * PLAUSIBLE_FACTOR) + 10
            self._numbers += 1
            number = f"MR{self._numbers:09d}"
            history.insert(0, {"DATE": _ymd(when), "T1": t1, "T2": t2, "ORIGIN": str(origin).upper()[:10]})
            if t1 + t2 > expected_max:
                return {"RESULT": "IMPLAUSIBLE", "READING_NO": number,
                        "EXPECTED_MIN": last["T1"] + last["T2"], "EXPECTED_MAX": expected_max}
            return {"RESULT": "ACCEPTED", "READING_NO": number}

    def _product(self, ean: str) -> tuple[str, str, float, str]:
        found = EAN.fullmatch(str(ean))
        if found is None:
            raise Fault(UNKNOWN_EAN, f"UNKNOWN EAN {ean}")
        return PRODUCTS[found.group(1)]

    def _history(self, ean: str) -> list[dict]:
        if ean not in self._readings:
            self._readings[ean] = synthetic_history(ean, self.today())
        return self._readings[ean]


HISTORY_MONTHS = 24


def synthetic_history(ean: str, today: date, months: int = HISTORY_MONTHS) -> list[dict]:
    """The latest ``months`` of the monthly readings the stand-in has on file for ``ean`` (two
    years up to the first of ``today``'s month), newest first; the same for the same code and
    month. The demo generator copies the latest into the CRM, so both systems tell an agent
    the same."""
    found = EAN.fullmatch(str(ean))
    if found is None:
        raise Fault(UNKNOWN_EAN, f"UNKNOWN EAN {ean}")
    _, _, per_day, _ = PRODUCTS[found.group(1)]
    digest = int(hashlib.sha256(ean.encode()).hexdigest(), 16)
    two = _dual(ean)
    days = []
    day = today.replace(day=1)
    for _ in range(HISTORY_MONTHS):
        days.append(day)
        day = (day - timedelta(days=1)).replace(day=1)
    readings, t1, t2 = [], float(1000 + digest % 40000), float((1000 + digest % 40000) // 3 if two else 0)
    origin = "SLIM" if digest % 5 else "SCHATTING"
    for day in reversed(days):
        use = per_day * 30 * (0.7 + (digest >> day.month) % 60 / 100)
        if two:
            t1, t2 = t1 + use * 0.6, t2 + use * 0.4
        else:
            t1 += use
        readings.append({"DATE": _ymd(day), "T1": int(t1), "T2": int(t2), "ORIGIN": origin})
    readings.reverse()
    return readings[:months]


class MeteringServer(XmlRpcStandIn):
    """The metering system's XML-RPC gateway: one thread per connection, also on ``/mdm``."""

    rpc_paths = ("/", "/RPC2", "/mdm")

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data: MeterData | None = None):
        self.data = data or MeterData()
        super().__init__(
            {
                "MDM.Status": self.data.status,
                "MDM.GetMeter": self.data.meter,
                "MDM.GetReadings": self.data.readings,
                "MDM.SubmitReading": self.data.submit,
            },
            host,
            port,
            allow_none=True,
        )


def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[MeteringServer, threading.Thread]:
    """Start the stand-in on a background thread; stop it with ``server.stop()``."""
    server = MeteringServer(host, port)
    return server, server.serve_in_background("legacy-metering")


def main(argv: list[str] | None = None) -> None:
    run_standin_cli(MeteringServer, "A stand-in metering system (XML-RPC).", 8911, SYSTEM, argv,
                    hint=f"try EAN {ean_code('electricity', 1)}")


if __name__ == "__main__":
    main()
