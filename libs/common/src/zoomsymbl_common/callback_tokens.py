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

import time
from datetime import timedelta

from pydantic import SecretStr

from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.signed_tokens import sign, signing_key, verify

_CONTEXT = b"zoomsymbl-callback-v2\x1f"
# Symbl and AssemblyAI finish within hours; their webhook retries end within a day. The sweeper asks the
# provider's job API for anything older, so a week is ample and bounds what a leaked token can do.
TOKEN_TTL = timedelta(days=7)
_MAX_JOB_REF = 256


def make_callback_token(
    secret: SecretStr | str | bytes, job_ref: str, *, ttl: timedelta = TOKEN_TTL, now: float | None = None
) -> str:
    """The token that proves a callback concerns ``job_ref`` until ``now + ttl`` (registered with the redactor)."""
    if not job_ref or len(job_ref) > _MAX_JOB_REF:
        raise ValueError(f"job_ref must be 1..{_MAX_JOB_REF} characters, got {len(job_ref)!r}")
    expires = int((time.time() if now is None else now) + ttl.total_seconds())
    token = sign(_CONTEXT, signing_key(secret, "callback secret"), job_ref, expires)
    register_secret(token, ttl=ttl)
    return token


def verify_callback_token(secret: SecretStr | str | bytes, token: str, *, now: float | None = None) -> str | None:
    """The job reference carried by ``token`` when its MAC is valid under ``secret`` and it has not expired."""
    key = signing_key(secret, "callback secret")
    found = verify(_CONTEXT, key, token, now=time.time() if now is None else now, max_subject=_MAX_JOB_REF)
    return found[0] if found else None
