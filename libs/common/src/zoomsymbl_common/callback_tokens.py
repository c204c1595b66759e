"""Per-job callback tokens: the only thing that authenticates a provider's job-status webhook.

Symbl signs nothing and AssemblyAI only echoes a header we choose, so the submitter puts an
unguessable token in the webhook URL (Symbl) or the auth header (AssemblyAI) and the notifier checks
it. The token carries the job reference and an HMAC-SHA256 of it under a secret shared by the
submitter (``ZOOMSYMBL_SUBMITTER_CALLBACK_SECRET``) and the notifier
(``ZOOMSYMBL_NOTIFIER_CALLBACK_SECRET``): ``<urlsafe-b64(job_ref)>.<urlsafe-b64(mac)>``, no padding,
safe in a URL path segment and an HTTP header. Tokens are secrets: register them with the redactor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from pydantic import SecretStr

from zoomsymbl_common.logs import register_secret

_CONTEXT = b"zoomsymbl-callback-v1\x1f"
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


def _mac(key: bytes, job_ref: str) -> bytes:
    return hmac.new(key, _CONTEXT + job_ref.encode("utf-8"), hashlib.sha256).digest()


def make_callback_token(secret: SecretStr | str | bytes, job_ref: str) -> str:
    """The token that proves a callback concerns ``job_ref`` (registered with the log redactor)."""
    if not job_ref or len(job_ref) > _MAX_JOB_REF:
        raise ValueError(f"job_ref must be 1..{_MAX_JOB_REF} characters, got {len(job_ref)!r}")
    token = f"{_b64(job_ref.encode('utf-8'))}.{_b64(_mac(_key(secret), job_ref))}"
    register_secret(token)
    return token


def verify_callback_token(secret: SecretStr | str | bytes, token: str) -> str | None:
    """The job reference carried by ``token`` when its MAC is valid under ``secret``, else None."""
    key = _key(secret)
    ref_part, dot, mac_part = token.partition(".")
    if not dot or not ref_part or not mac_part or len(token) > 4 * _MAX_JOB_REF:
        return None
    try:
        job_ref = _unb64(ref_part).decode("utf-8")
        mac = _unb64(mac_part)
    except (binascii.Error, ValueError):
        return None
    if len(mac) != _MAC_LEN or _b64(job_ref.encode("utf-8")) != ref_part:
        return None
    return job_ref if hmac.compare_digest(mac, _mac(key, job_ref)) else None
