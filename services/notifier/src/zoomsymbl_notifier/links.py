"""The meeting page's address for the report e-mail: a token per tenant and meeting, or no link at all."""

from __future__ import annotations

from datetime import timedelta

from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.settings import Settings


def meeting_page_link(
    settings: Settings, tenant: TenantConfig, meeting_uuid: str, now: float | None = None
) -> str | None:
    """``<page_base_url>/m/<token>`` valid for the tenant's ``page_link_days``; None without a page key.

    The token is a secret (whoever holds the link sees the meeting): it is registered with the log
    redactor here and travels only inside the e-mail, never in logs or events.
    """
    if not settings.page_key.get_secret_value() or not settings.page_base_url:
        return None
    ttl = timedelta(days=tenant.page_link_days)
    token = make_page_token(settings.page_key, tenant.id, meeting_uuid, ttl=ttl, now=now)
    return page_url(settings.page_base_url, token)
