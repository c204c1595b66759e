"""HMAC-signed, expiring tokens: ``<urlsafe-b64(subject)>.<expiry>.<urlsafe-b64(mac)>``, no padding.

One format for every token zoomsymbl hands out in a URL or header and checks later: the per-job
callback tokens (callback_tokens.py) and the meeting page links (page_tokens.py). Each use signs under
its own ``context`` so a token of one kind never passes as another. The subject travels in the clear
(base64 is not encryption): never put a secret in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from pydantic import SecretStr

_MAX_EXPIRY_DIGITS = 12
_MAC_LEN = 32
MIN_KEY_BYTES = 16
"""The shortest signing key: under it every token would be guessable."""


def signing_key(secret: SecretStr | str | bytes, what: str) -> bytes:
    """``secret`` as bytes; a ValueError when it is shorter than :data:`MIN_KEY_BYTES` bytes."""
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{what} must be at least {MIN_KEY_BYTES} bytes")
    return key


def checked_key(value: SecretStr, *, empty: str | None = None) -> SecretStr:
    """``value``, or ValueError: a setting's signing key of at least :data:`MIN_KEY_BYTES` bytes (UTF-8), as
    :func:`signing_key` will want it, refused at start-up rather than at the first token.

    ``empty`` says what an empty key means where one is allowed (``"no meeting-page links"``); ``None``: required.
    """
    size = len(value.get_secret_value().encode("utf-8"))
    if size == 0 and empty is not None:
        return value
    if size < MIN_KEY_BYTES:
        allowed = f"must be empty ({empty}) or" if empty is not None else "must be"
        raise ValueError(f"{allowed} at least {MIN_KEY_BYTES} bytes")
    return value


def b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    """The bytes of :func:`b64`'s text (``binascii.Error`` when it is not base64)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(context: bytes, key: bytes, subject: str, expires: int) -> bytes:
    message = context + subject.encode("utf-8") + b"\x1f" + str(expires).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()


def sign(context: bytes, key: bytes, subject: str, expires: int) -> str:
    """The token proving ``subject`` under ``key`` until the Unix second ``expires``."""
    return f"{b64(subject.encode('utf-8'))}.{expires}.{b64(_mac(context, key, subject, expires))}"


def verify(
    context: bytes, key: bytes, token: str, *, now: float, max_subject: int, expired_ok: bool = False
) -> tuple[str, int] | None:
    """``(subject, expires)`` of ``token`` when its MAC is valid under ``key`` and ``now`` is before its expiry
    (any expiry with ``expired_ok``: the caller decides what an expired but authentic token may still do).

    None for anything else: altered, expired, signed under another context, longer than ``max_subject``
    allows, or not a token at all (never raises on input).
    """
    if len(token) > 4 * max_subject + 80:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    subject_part, expiry_part, mac_part = parts
    if not expiry_part.isdigit() or not expiry_part.isascii() or len(expiry_part) > _MAX_EXPIRY_DIGITS:
        return None
    try:
        subject = unb64(subject_part).decode("utf-8")
        mac = unb64(mac_part)
    except (binascii.Error, ValueError):
        return None
    expires = int(expiry_part)
    # Canonical encodings only: base64 without padding leaves spare bits in the last character, so another
    # character there could decode to the same bytes (an altered token must not pass as the original).
    if len(mac) != _MAC_LEN or b64(mac) != mac_part or b64(subject.encode("utf-8")) != subject_part:
        return None
    if str(expires) != expiry_part:
        return None
    if not hmac.compare_digest(mac, _mac(context, key, subject, expires)):
        return None
    return (subject, expires) if expired_ok or now < expires else None
