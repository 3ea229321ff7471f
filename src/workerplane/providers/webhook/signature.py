"""The ``Workerplane-Signature`` header: how the webhook provider signs, how a receiver verifies.

Import-light on purpose (standard library only): a receiver imports it without the provider.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import MutableMapping

SIGNATURE_HEADER = "Workerplane-Signature"
DELIVERY_HEADER = "Workerplane-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class SignatureError(ValueError):
    """A webhook request failed verification; the message says why (never the secret)."""


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
    seen: MutableMapping[str, float] | None = None,
) -> None:
    """Check a ``Workerplane-Signature`` header, for receivers. Raises :class:`SignatureError`.

    ``seen`` (signature -> timestamp), if given, records accepted signatures so that a replay of an
    accepted request inside the tolerance window is refused; entries older than the window are
    dropped since the timestamp check refuses those anyway.
    """
    if not header:
        raise SignatureError("missing signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError("malformed signature header") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("timestamp outside the tolerance window")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature mismatch")
    if seen is not None:
        for key, stamp in list(seen.items()):
            if current - stamp > tolerance_s:
                del seen[key]
        if given in seen:
            raise SignatureError("replayed request")
        seen[given] = timestamp
