"""The meeting page link: a token the web service accepts for exactly this tenant and meeting, for the tenant's days."""

from __future__ import annotations

from urllib.parse import unquote

from pydantic import SecretStr
from zoomsymbl_common.page_tokens import PAGE_PATH, verify_page_token
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier.links import meeting_page_link

from tests.notifier.harness import PAGE_BASE_URL, PAGE_KEY, make_settings, make_tenant

NOW = 1_800_000_000.0
DAY = 86_400


def _token(link: str) -> str:
    assert link.startswith(PAGE_BASE_URL + PAGE_PATH)
    return unquote(link.removeprefix(PAGE_BASE_URL + PAGE_PATH))


def test_the_link_opens_this_tenants_meeting_for_its_page_link_days() -> None:
    settings = make_settings(InfraSettings(), 25)
    tenant = make_tenant("", page_link_days=7)
    link = meeting_page_link(settings, tenant, "uuid/with+slashes==", now=NOW)
    assert link is not None
    claim = verify_page_token(PAGE_KEY, _token(link), now=NOW)
    assert claim is not None
    assert (claim.tenant, claim.meeting_uuid, claim.expires) == (tenant.id, "uuid/with+slashes==", NOW + 7 * DAY)
    assert verify_page_token(PAGE_KEY, _token(link), now=NOW + 7 * DAY + 1) is None, "expired after 7 days"
    assert verify_page_token("another-key-0123456789", _token(link), now=NOW) is None


def test_the_default_is_thirty_days() -> None:
    link = meeting_page_link(make_settings(InfraSettings(), 25), make_tenant(""), "m-1", now=NOW)
    assert link is not None
    claim = verify_page_token(PAGE_KEY, _token(link), now=NOW)
    assert claim is not None and claim.expires == NOW + 30 * DAY


def test_no_link_without_a_page_key() -> None:
    settings = make_settings(InfraSettings(), 25, page_key=SecretStr(""), page_base_url="")
    assert meeting_page_link(settings, make_tenant(""), "m-1", now=NOW) is None
