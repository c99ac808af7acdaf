"""Patterns written by integrators, matched against values typed by customers.

A pattern in a model or a dialogue script is written by someone we half trust;
the value it is matched against comes from anyone (a web form, a chat). A
pattern with nested repetition such as ``(a+)+$`` takes exponential time on a
crafted value (ReDoS), and Python's ``re`` cannot be interrupted. Patterns
therefore run on the ``regex`` package, whose matches take a timeout: a value
that takes longer than ``MATCH_SECONDS`` to check is refused, never waited for.
"""

from __future__ import annotations

import regex

__all__ = ["MATCH_SECONDS", "Pattern", "PatternTimeout"]

MATCH_SECONDS = 0.05
"""Time one match may take. Honest patterns on form-sized values take microseconds."""


class PatternTimeout(ValueError):
    """Checking a value against a pattern took longer than MATCH_SECONDS."""


class Pattern:
    """A compiled pattern whose ``fullmatch`` is bounded in time.

    Raises:
        ValueError: from the constructor, when ``source`` is not a regular expression.
    """

    __slots__ = ("source", "_compiled")

    def __init__(self, source: str):
        self.source = source
        try:
            self._compiled = regex.compile(source)
        except regex.error as exc:
            raise ValueError(f"{source!r} is not a regular expression: {exc}") from None

    def fullmatch(self, text: str) -> bool:
        """True if the whole of ``text`` matches.

        Raises:
            PatternTimeout: the match did not finish in time (a pattern with
                nested repetition meeting a hostile value).
        """
        try:
            return self._compiled.fullmatch(text, timeout=MATCH_SECONDS) is not None
        except TimeoutError:
            raise PatternTimeout(
                f"checking the value against the pattern {self.source!r} took too long;"
                " simplify the pattern (avoid nested repetition such as (a+)+)"
            ) from None
