"""Meeting page links: ``/m/{token}`` where the token names one tenant's meeting until it expires.

The notifier signs, the web service verifies, both with the key ``ZOOMSYMBL_*_PAGE_KEY`` from one
Kubernetes Secret (at least 16 bytes). The token is :mod:`zoomsymbl_common.signed_tokens`' format with
the subject ``<tenant>\\x1f<meeting_uuid>`` and its own signing context, so a callback token never opens
a page. Whoever holds the link sees the meeting until the expiry (the tenant's ``page_link_days``,
default 30): tokens are secrets, registered with the log redactor where they are made and read.

An expired but authentic token still names its meeting: for the tenant's ``page_link_renewal_days`` after its expiry
the page offers to e-mail a new link to the meeting's host (``POST`` to :data:`RENEW_PATH`, the notifier's route,
which makes and sends it); it never opens the page again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from pydantic import SecretStr

from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.signed_tokens import sign, signing_key, verify

_CONTEXT = b"zoomsymbl-page-v1\x1f"
_SEPARATOR = "\x1f"
DEFAULT_LINK_DAYS = 30
DEFAULT_RENEWAL_DAYS = 365
_MAX_SUBJECT = 64 + 1 + 1024  # tenant id, separator, the longest meeting UUID we store
PAGE_PATH = "/m/"
RENEW_PATH = "/links/renew"
"""The notifier's route that e-mails a new link for an expired one (form field ``token``)."""
DAY_SECONDS = 86_400
MAX_TOKEN = 4096
"""Longest token read (a link carries one of at most ~1,500 characters)."""
NO_PREVIOUS_KEY = "no previous key"
"""What an empty ``page_key_previous`` means (web and notifier settings), in the refusal of a short one."""


@dataclass(frozen=True)
class PageClaim:
    """What a valid page token grants: one tenant's meeting until ``expires`` (Unix seconds)."""

    tenant: str
    meeting_uuid: str
    expires: int


def make_page_token(
    key: SecretStr | str | bytes,
    tenant: str,
    meeting_uuid: str,
    *,
    ttl: timedelta = timedelta(days=DEFAULT_LINK_DAYS),
    now: float | None = None,
) -> str:
    """The token of ``tenant``'s meeting ``meeting_uuid``, valid for ``ttl`` (registered with the redactor)."""
    if not 0 < len(tenant) <= 64 or _SEPARATOR in tenant or not 0 < len(meeting_uuid) <= 1024:
        raise ValueError("a page token needs a tenant without \\x1f and a meeting uuid of at most 1024 characters")
    expires = int((time.time() if now is None else now) + ttl.total_seconds())
    token = sign(_CONTEXT, signing_key(key, "page key"), f"{tenant}{_SEPARATOR}{meeting_uuid}", expires)
    register_secret(token, ttl=ttl)
    return token


def verify_page_token(
    key: SecretStr | str | bytes,
    token: str,
    *,
    now: float | None = None,
    expired_ok: bool = False,
    previous: SecretStr | str | None = None,
) -> PageClaim | None:
    """The meeting ``token`` opens, or None when it was altered, expired (unless ``expired_ok``: then whatever its
    expiry, see :func:`renewable`) or is not a page token.

    ``previous`` (empty or None: none) is the page key before the current one, kept while the page key is being
    replaced: a token signed with either opens its page; only the current key signs.
    """
    keys = [key]
    if previous is not None and _text(previous):
        keys.append(previous)
    moment = time.time() if now is None else now
    for each in keys:
        found = verify(
            _CONTEXT, signing_key(each, "page key"), token, now=moment, max_subject=_MAX_SUBJECT, expired_ok=expired_ok
        )
        if found is not None:
            return _claim(*found)
    return None


def _text(key: SecretStr | str) -> str:
    return key.get_secret_value() if isinstance(key, SecretStr) else key


def _claim(subject: str, expires: int) -> PageClaim | None:
    tenant, separator, meeting_uuid = subject.partition(_SEPARATOR)
    if not separator or not tenant or not meeting_uuid:
        return None
    return PageClaim(tenant, meeting_uuid, expires)


def read_page_token(
    key: SecretStr | str, token: str, *, now: float, previous: SecretStr | str | None = None
) -> PageClaim | None:
    """What an authentic ``token`` (signed with ``key`` or ``previous``, at most :data:`MAX_TOKEN` characters) names,
    whatever its expiry: the caller decides (``now < claim.expires`` opens the page, :func:`renewable` offers a new
    link). The token is registered with the log redactor until it expires, and a day at least (it may still ask for
    a new link)."""
    if not token or len(token) > MAX_TOKEN:
        return None
    claim = verify_page_token(key, token, now=now, expired_ok=True, previous=previous)
    if claim is not None:
        register_secret(token, ttl=timedelta(seconds=max(claim.expires - now, DAY_SECONDS)))
    return claim


def renewable(claim: PageClaim, renewal_days: int, now: float) -> bool:
    """True when ``claim``'s token has expired, no more than ``renewal_days`` before ``now`` (0: never renewable)."""
    return claim.expires <= now < claim.expires + renewal_days * DAY_SECONDS


def page_url(base_url: str, token: str) -> str:
    """The page's address under ``base_url`` (e.g. ``https://zoomsymbl.example.com``)."""
    return f"{base_url.rstrip('/')}{PAGE_PATH}{quote(token, safe='')}"
