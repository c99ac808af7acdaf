"""Version 2 of the PAS wrapper: policy numbers as people type them.

Clients type ``au100231`` or ``AU 100231`` in self-service; the PAS only knows
``AU-100231``. This version writes the number in the PAS's form before asking.
Everything else is version 1: the replacement keeps every method callers use,
as the service manager demands of a runtime replacement.
"""

from __future__ import annotations

import re

from pas_wrapper import Policy
from pas_wrapper import PolicyAdministration as Version1

_POLICY_NUMBER = re.compile(r"\s*([A-Za-z]{2})[\s-]*([0-9]{6})\s*")


class PolicyAdministration(Version1):
    version = "2.0"

    def policy(self, number: str) -> Policy:
        return super().policy(normalise(number))

    def renew(self, policy: str):
        return super().renew(normalise(policy))


def normalise(number: str) -> str:
    """``au 100231`` -> ``AU-100231``; anything else unchanged (the PAS then says it is unknown)."""
    found = _POLICY_NUMBER.fullmatch(str(number))
    return f"{found.group(1).upper()}-{found.group(2)}" if found else str(number)
