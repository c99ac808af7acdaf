"""Where alarms go: the monitor itself, e-mail, SMS.

``monitor`` is always there: open alarms are in every snapshot and each change
is pushed to the monitor's subscribers. ``email`` and ``sms`` hand the message
to the services of those names (the channels of ``caruso.services.channels``:
``send_mail(to, subject, text)``, ``send_sms(to, text)``), so whatever
implements them - the built-in channels, a company's own gateway wrapper -
delivers alarms too. A rule that names a channel whose service is not
registered stops the monitor from starting (``ConfigError`` naming the
service and the rule), and ``caruso check`` reports it: an alert that cannot
be delivered must not look configured. A delivery that fails at run time is
logged; the alarm stays open on the monitor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from caruso.services.reporting.alerts import Alarm, AlertRule

__all__ = ["CHANNELS", "deliver"]

log = logging.getLogger("caruso.reporting.alerts")

CHANNELS = {"monitor": None, "email": "email", "sms": "sms"}
"""Each notifier channel and the service it needs (None: the monitor's own)."""


def _text(alarm: Alarm, change: str, timezone: dt.tzinfo) -> tuple[str, str]:
    when = dt.datetime.fromtimestamp(alarm.since, timezone).isoformat(timespec="seconds")
    if change == "raised":
        return f"ALERT {alarm.rule} ({alarm.subject})", f"{alarm.message}\nsince {when}\n"
    return f"CLEARED {alarm.rule} ({alarm.subject})", f"{alarm.message}\nraised at {when}; back within the threshold now\n"


def deliver(rule: AlertRule, alarm: Alarm, change: str, *, lookup: Callable[[str], Any],
            timezone: dt.tzinfo) -> list[str]:
    """Send one alarm change (``raised`` or ``cleared``) on the rule's e-mail and SMS channels.

    Returns the channels that failed (each failure is logged); the monitor
    channel is the caller's.
    """
    subject, text = _text(alarm, change, timezone)
    failed = []
    for channel in rule.channels:
        try:
            if channel == "email" and rule.email:
                lookup("email").send_mail(list(rule.email), subject, text)
            elif channel == "sms":
                for number in rule.sms:
                    lookup("sms").send_sms(number, f"{subject}: {alarm.message}")
        except Exception:
            log.exception("alert %r: the %s channel failed to deliver %r", rule.name, channel, subject)
            failed.append(channel)
    return failed
