"""HMAC-SHA256 signatures on webhook requests: who may tell Caruso that an SMS arrived.

A request carries two headers::

    X-Caruso-Timestamp: 1767600000
    X-Caruso-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>

Signing the timestamp with the body means a request captured on the way
cannot be replayed later: one older than ``max_skew`` seconds is refused.
Comparison is constant-time (``hmac.compare_digest``). Caruso signs what it
sends to the gateway the same way, so the gateway can check it too.
"""

from __future__ import annotations

import hashlib
import hmac

from caruso.errors import SignatureInvalid

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign", "signed_headers", "verify"]

SIGNATURE_HEADER = "X-Caruso-Signature"
TIMESTAMP_HEADER = "X-Caruso-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """Both headers for a request sent now."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, body: bytes, signature: str | None, timestamp: str | None, *, now: float,
           max_skew: float) -> None:
    """Check a request's signature; ``SignatureInvalid`` saying why when it does not hold."""
    if not signature or not timestamp:
        raise SignatureInvalid(f"the request has no {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers")
    if not timestamp.isdigit():
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be seconds since 1970, not {timestamp[:20]!r}")
    if abs(now - int(timestamp)) > max_skew:
        raise SignatureInvalid(f"the request was signed {abs(now - int(timestamp)):.0f} s away from now; at most "
                               f"{max_skew:g} s are accepted (a replay, or a clock that is wrong)")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise SignatureInvalid("the signature does not match: the body was changed, or signed with another secret")
