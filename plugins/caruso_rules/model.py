"""What a rule file says, read but not yet compiled: plain values with their file:line."""

from __future__ import annotations

import attrs

from caruso.services.scripts.model import ActionCall, Expr, Where

__all__ = ["EVENTS", "Rule"]

EVENTS = ("created", "changed", "reached", "deleted", "due")
"""What a rule can wait for: an object saved for the first time, saved with changes,
an attribute reaching a value, deleted, or a timer counted from one of its dates."""


@attrs.frozen
class Rule:
    """One ``<rule>``: when ``on`` happens to ``object`` and ``condition`` holds, run ``actions``.

    ``attribute`` and ``value`` narrow the event (see rules.dtd); ``after`` is the
    timer's delay in seconds for ``due`` rules. ``actions`` reuse the dialogue
    scripts' ``ActionCall``: a rule runs the same registered actions a script does.
    """

    name: str
    on: str
    object: str
    where: Where
    actions: tuple[ActionCall, ...]
    attribute: str | None = None
    value: str | None = None
    after: float = 0.0
    condition: Expr | None = None
    enabled: bool = True
    description: str = ""

