"""Per-job callback tokens: the only thing that authenticates a provider's job-status webhook.

Symbl signs nothing and AssemblyAI only echoes a header we choose, so the submitter puts an
unguessable token in the webhook URL (Symbl) or the auth header (AssemblyAI) and the notifier checks
it. The token carries the job reference, an expiry (Unix seconds) and an HMAC-SHA256 of both under a
secret shared by the submitter (``ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET``) and the notifier
(``ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET``): ``<urlsafe-b64(job_ref)>.<expiry>.<urlsafe-b64(mac)>``, no
padding, safe in a URL path segment and an HTTP header. A token stops working at its expiry (by default
:data:`TOKEN_TTL` after it was made, longer than any provider keeps a job running plus its retries), so a
token leaked from an old job's URL cannot keep reporting. Tokens are secrets: register them with the redactor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from datetime import timedelta

from pydantic import SecretStr

from zoomsymbl_common.logs import register_secret

_CONTEXT = b"zoomsymbl-callback-v2\x1f"
# Symbl and AssemblyAI finish within hours; their webhook retries end within a day. The sweeper asks the
# provider's job API for anything older, so a week is ample and bounds what a leaked token can do.
TOKEN_TTL = timedelta(days=7)
_MAX_EXPIRY_DIGITS = 12
_MAX_JOB_REF = 256
_MAC_LEN = 32


def _key(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(key) < 16:
        # A short secret makes every token guessable; refuse rather than issue weak tokens.
        raise ValueError("callback secret must be at least 16 bytes")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, job_ref: str, expires: int) -> bytes:
    message = _CONTEXT + job_ref.encode("utf-8") + b"\x1f" + str(expires).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()


def make_callback_token(
    secret: SecretStr | str | bytes, job_ref: str, *, ttl: timedelta = TOKEN_TTL, now: float | None = None
) -> str:
    """The token that proves a callback concerns ``job_ref`` until ``now + ttl`` (registered with the redactor)."""
    if not job_ref or len(job_ref) > _MAX_JOB_REF:
        raise ValueError(f"job_ref must be 1..{_MAX_JOB_REF} characters, got {len(job_ref)!r}")
    expires = int((time.time() if now is None else now) + ttl.total_seconds())
    token = f"{_b64(job_ref.encode('utf-8'))}.{expires}.{_b64(_mac(_key(secret), job_ref, expires))}"
    register_secret(token, ttl=ttl)
    return token


def verify_callback_token(secret: SecretStr | str | bytes, token: str, *, now: float | None = None) -> str | None:
    """The job reference carried by ``token`` when its MAC is valid under ``secret`` and it has not expired."""
    key = _key(secret)
    if len(token) > 4 * _MAX_JOB_REF:
        return None
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    ref_part, expiry_part, mac_part = parts
    if not expiry_part.isdigit() or not expiry_part.isascii() or len(expiry_part) > _MAX_EXPIRY_DIGITS:
        return None
    try:
        job_ref = _unb64(ref_part).decode("utf-8")
        mac = _unb64(mac_part)
    except (binascii.Error, ValueError):
        return None
    expires = int(expiry_part)
    if len(mac) != _MAC_LEN or _b64(job_ref.encode("utf-8")) != ref_part or str(expires) != expiry_part:
        return None
    if not hmac.compare_digest(mac, _mac(key, job_ref, expires)):
        return None
    return job_ref if (time.time() if now is None else now) < expires else None
