"""Zoom webhook authentication: the ``x-zm-signature`` check and the url_validation answer. Pure functions."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from zoomsymbl_common.errors import ZoomsymblError

SignatureProblem = Literal[
    "missing_signature", "bad_signature", "bad_timestamp", "stale_timestamp", "no_webhook_secret_configured"
]

# Zoom sends seconds; a value this large can only be milliseconds, so both are understood.
_MILLISECONDS_ABOVE = 100_000_000_000


class SignatureRejected(ZoomsymblError):
    """A webhook's signature or timestamp is missing, wrong or too old; ``reason`` says which."""

    def __init__(self, reason: SignatureProblem) -> None:
        super().__init__(f"webhook rejected: {reason!r}")
        self.reason: SignatureProblem = reason


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` over the raw bytes."""
    message = b"v0:" + timestamp.encode("utf-8") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: float,
) -> None:
    """Return when the request is Zoom's and recent; else raise :class:`SignatureRejected`."""
    if not secret:
        # An empty key signs anything anyone can compute: a tenants file without this tenant's webhook
        # secret (e.g. another service's copy mounted by mistake) must refuse every webhook, not accept them.
        raise SignatureRejected("no_webhook_secret_configured")
    if not timestamp or not signature:
        raise SignatureRejected("missing_signature")
    expected = sign(secret, timestamp, body).encode("utf-8")
    # Compare bytes in constant time: the header is attacker-controlled and may hold any character.
    if not hmac.compare_digest(expected, signature.encode("utf-8", errors="surrogateescape")):
        raise SignatureRejected("bad_signature")
    sent_at = _epoch_seconds(timestamp)
    if sent_at is None:
        raise SignatureRejected("bad_timestamp")
    # A replayed old request (or a clock far in the future) is refused in both directions.
    if abs(now - sent_at) > tolerance_seconds:
        raise SignatureRejected("stale_timestamp")


def encrypted_token(secret: str, plain_token: str) -> str:
    """The ``encryptedToken`` answering an ``endpoint.url_validation``: hex HMAC-SHA256 of the plain token."""
    return hmac.new(secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256).hexdigest()


def _epoch_seconds(timestamp: str) -> float | None:
    text = timestamp.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        return None
    value = int(text)
    return value / 1000 if value >= _MILLISECONDS_ABOVE else float(value)
