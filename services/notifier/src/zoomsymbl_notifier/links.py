"""The meeting page's address: a token per tenant and meeting, or no link at all.

The report e-mail carries one; ``zoomsymbl link`` (:mod:`~zoomsymbl_notifier.link_command`) makes a fresh one for a
meeting whose link expired, was lost, or died with a replaced page key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.tenants import TenantConfig

NO_LINKS = "no meeting-page links"
"""What an empty page key means, in the refusal of a short one."""


class PageLinkSettings(Protocol):
    """Where the links point and the key that signs them (the notifier's ``PAGE_KEY`` and ``PAGE_BASE_URL``)."""

    @property
    def page_key(self) -> SecretStr: ...

    @property
    def page_base_url(self) -> str: ...


def checked_base_url(value: str, key: object) -> str:
    """``value`` without a trailing slash, or ValueError: an http(s) URL with a host and no credentials, query or
    fragment, required when ``key`` (the page key) is set."""
    if not value:
        if isinstance(key, SecretStr) and key.get_secret_value():
            raise ValueError("required when ZOOMSYMBL_NOTIFIER_PAGE_KEY is set (the links need an address)")
        return value
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise ValueError("must be an http(s) URL with a host and no credentials, query or fragment")
    return value.rstrip("/")


def meeting_page_link(
    settings: PageLinkSettings,
    tenant: TenantConfig,
    meeting_uuid: str,
    now: float | None = None,
    *,
    days: int | None = None,
) -> str | None:
    """``<page_base_url>/m/<token>`` valid for ``days`` (the tenant's ``page_link_days`` when None); None without a
    page key.

    The token is a secret (whoever holds the link sees the meeting): it is registered with the log
    redactor here and travels only inside the e-mail (or to the operator who ran ``zoomsymbl link``), never in logs
    or events.
    """
    if not settings.page_key.get_secret_value() or not settings.page_base_url:
        return None
    ttl = timedelta(days=tenant.page_link_days if days is None else days)
    token = make_page_token(settings.page_key, tenant.id, meeting_uuid, ttl=ttl, now=now)
    return page_url(settings.page_base_url, token)
