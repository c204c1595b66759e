"""SANDBOX: Zoom webhook signing, exactly as Zoom computes it. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac


def sign_zoom_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """Return the `x-zm-signature` value Zoom sends for `body` sent at `timestamp` (seconds)."""
    # Zoom signs the raw body bytes, so the message is assembled as bytes: re-encoding a decoded
    # body would break on any non-UTF-8 or re-serialised payload.
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return "v0=" + digest


def encrypt_plain_token(secret: str, plain_token: str) -> str:
    """Return the `encryptedToken` a receiver must answer to `endpoint.url_validation`."""
    return hmac.new(secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256).hexdigest()


def url_validation_response(secret: str, plain_token: str) -> dict[str, str]:
    """Return the JSON body Zoom expects in answer to an `endpoint.url_validation` event."""
    return {"plainToken": plain_token, "encryptedToken": encrypt_plain_token(secret, plain_token)}


def is_valid_zoom_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Check a received `x-zm-signature` in constant time."""
    return hmac.compare_digest(sign_zoom_webhook(secret, timestamp, body), signature)
