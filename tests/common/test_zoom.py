"""ZoomClient against the Zoom sandbox: OAuth caching and refresh, 429/5xx/quirks, UUID encoding, proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr
from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import ZoomClient, encode_meeting_uuid
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import (
    DAILY_LIMIT_FALLBACK_WAIT,
    DailyLimitError,
    call_with_retries,
    retry_after_seconds,
)
from zoomsymbl_sandbox.zoom import Fault, ZoomSandbox, running_zoom_sandbox

from tests.ingest.support import quick_meeting, sandbox_config, sandbox_tenant

ODD_UUIDS = (
    "/ajXp112QmuoKj4854875==",
    "abc//def==",
    "4444AAAiAAAAAiAiAiiAii==",
    "a+b/c==",
    "Qz9kT1uY/4mRpWc0Lx8vAg==",
    "/x/y==",
)
TODAY = utcnow().date()
# The sandbox's meetings started an hour ago: in the first hour after midnight (UTC) that is yesterday.
YESTERDAY = TODAY - timedelta(days=1)


class Sleeps:
    """A fake sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    async with running_zoom_sandbox(sandbox_config(*(quick_meeting(u) for u in ODD_UUIDS))) as running:
        yield running


@pytest.mark.parametrize(
    ("uuid", "encoded"),
    [
        ("4444AAAiAAAAAiAiAiiAii==", "4444AAAiAAAAAiAiAiiAii%3D%3D"),
        ("a+b/c==", "a%2Bb%2Fc%3D%3D"),
        ("/ajXp112QmuoKj4854875==", "%252FajXp112QmuoKj4854875%253D%253D"),
        ("abc//def==", "abc%252F%252Fdef%253D%253D"),
        # One "/" inside (not leading, not doubled): Zoom takes it encoded once.
        ("Qz9kT1uY/4mRpWc0Lx8vAg==", "Qz9kT1uY%2F4mRpWc0Lx8vAg%3D%3D"),
        # A leading "/" and another inside: twice, like every UUID that starts with "/".
        ("/x/y==", "%252Fx%252Fy%253D%253D"),
    ],
)
def test_encode_meeting_uuid_follows_zooms_double_encoding_rule(uuid: str, encoded: str) -> None:
    assert encode_meeting_uuid(uuid) == encoded


@pytest.mark.parametrize("value", [".", ".."])
async def test_an_id_of_dots_never_becomes_a_path_to_another_endpoint(value: str) -> None:
    """Percent-encoding leaves dots alone: ``/users/../recordings`` would ask another endpoint, with the token."""
    with pytest.raises(ZoomApiError, match="is not a Zoom id"):
        encode_meeting_uuid(value)
    tenant = TenantConfig(
        id="acme", zoom_webhook_secret=SecretStr("s"), zoom_account_id="a", zoom_client_id="c",
        zoom_client_secret=SecretStr("x"), zoom_api_base="https://127.0.0.1:9/v2",
    )  # fmt: skip  # nothing listens there: a request would fail otherwise, not with ZoomApiError
    async with ZoomClient(tenant) as client:
        with pytest.raises(ZoomApiError, match="user id"):
            await client.list_recordings(date(2026, 12, 1), date(2026, 12, 5), user=value)
        with pytest.raises(ZoomApiError, match="meeting uuid"):
            await client.get_meeting_recordings(value)
    assert encode_meeting_uuid("...") == "..."  # three dots is a name, not a step up


@pytest.mark.parametrize("uuid", ODD_UUIDS)
async def test_meeting_uuids_round_trip_through_the_api(sandbox: ZoomSandbox, uuid: str) -> None:
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        recordings = await client.get_meeting_recordings(uuid)
    assert recordings["uuid"] == uuid


async def test_the_token_is_fetched_once_and_reused(sandbox: ZoomSandbox) -> None:
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        page = await client.list_recordings(TODAY - timedelta(days=2), TODAY)
        await client.get_meeting_recordings(ODD_UUIDS[0])
    assert {m["uuid"] for m in page.meetings} == set(ODD_UUIDS)
    assert page.next_page_token == ""
    assert sandbox.stats.token_issues == 1


async def test_the_token_is_refreshed_before_it_expires(sandbox: ZoomSandbox) -> None:
    now = [1000.0]
    async with ZoomClient(sandbox_tenant(sandbox), clock=lambda: now[0]) as client:
        first = await client.access_token()
        now[0] += 3600 - 299  # inside the refresh margin of a 1-hour token
        second = await client.access_token()
        assert await client.access_token() == second
    assert first != second
    assert sandbox.stats.token_issues == 2


async def test_invalidating_a_token_already_replaced_keeps_the_new_one(sandbox: ZoomSandbox) -> None:
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        old = await client.access_token()
        client.invalidate_token(old)
        new = await client.access_token()
        client.invalidate_token(old)  # a parallel caller reporting the same refusal late
        assert await client.access_token() == new
    assert old != new
    assert sandbox.stats.token_issues == 2


async def test_an_expired_token_is_replaced_transparently(sandbox: ZoomSandbox) -> None:
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        await client.access_token()
        sandbox.tokens.expire("access")
        assert (await client.get_meeting_recordings(ODD_UUIDS[1]))["uuid"] == ODD_UUIDS[1]
    assert sandbox.stats.token_issues == 2


async def test_wrong_credentials_are_not_retried(sandbox: ZoomSandbox) -> None:
    tenant = sandbox_tenant(sandbox, zoom_client_secret=SecretStr("wrong-secret"))
    sleeps = Sleeps()
    async with ZoomClient(tenant) as client:
        with pytest.raises(ZoomApiError) as caught:
            await call_with_retries(client.access_token, sleep=sleeps)
    assert caught.value.status == 400  # Zoom's status for invalid_client (the sandbox's zoom_oauth.py)
    assert sleeps.waits == []


async def test_429_waits_retry_after_then_succeeds(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="list_recordings", kind="status", status=429, retry_after=7, count=2))
    sleeps = Sleeps()
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        page = await call_with_retries(lambda: client.list_recordings(YESTERDAY, TODAY), sleep=sleeps)
    assert len(page.meetings) == len(ODD_UUIDS)
    assert sleeps.waits == [7, 7]


async def test_429_without_retry_after_backs_off_exponentially(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="get_recordings", kind="status", status=429, count=4))
    sleeps = Sleeps()
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        await call_with_retries(lambda: client.get_meeting_recordings(ODD_UUIDS[2]), policy=policy, sleep=sleeps)
    assert len(sleeps.waits) == 4
    for attempt, wait in enumerate(sleeps.waits, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


async def test_server_errors_and_html_answers_are_retried_then_given_up(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="get_recordings", kind="status", status=503))
    sandbox.faults.add(Fault(route="get_recordings", kind="error_body", body="html"))
    sleeps = Sleeps()
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        found = await call_with_retries(lambda: client.get_meeting_recordings(ODD_UUIDS[0]), sleep=sleeps)
        assert found["uuid"] == ODD_UUIDS[0]
        assert len(sleeps.waits) == 2
        sandbox.faults.add(Fault(route="get_recordings", kind="status", status=500, count=10))
        with pytest.raises(RetryableError):
            await call_with_retries(
                lambda: client.get_meeting_recordings(ODD_UUIDS[0]), policy=RetryPolicy(max_attempts=3), sleep=sleeps
            )


async def test_a_200_carrying_an_invalid_token_error_refreshes_the_token(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="list_recordings", kind="error_body", body="json"))
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        page = await client.list_recordings(YESTERDAY, TODAY)
    assert len(page.meetings) == len(ODD_UUIDS)
    assert sandbox.stats.token_issues == 2


async def test_an_unknown_meeting_is_a_client_error(sandbox: ZoomSandbox) -> None:
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        with pytest.raises(ZoomApiError) as caught:
            await client.get_meeting_recordings("no-such-meeting==")
    assert caught.value.status == 404


async def test_calls_go_through_the_tenants_proxy(sandbox: ZoomSandbox) -> None:
    # Zoom's host does not resolve here: only a proxy (the sandbox, serving absolute-form requests) can answer.
    tenant = sandbox_tenant(
        sandbox,
        zoom_api_base="http://api.zoom.invalid/v2",
        zoom_oauth_url="http://zoom.invalid/oauth/token",
        zoom_proxy=sandbox.base_url_for(),
    )
    async with ZoomClient(tenant) as client:
        page = await client.list_recordings(YESTERDAY, TODAY)
    assert len(page.meetings) == len(ODD_UUIDS)


async def test_an_unreachable_zoom_is_retryable() -> None:
    from tests.ingest.support import free_port, tenants

    tenant = tenants().default()
    assert tenant is not None
    local = tenant.model_copy(update={"zoom_oauth_url": f"http://127.0.0.1:{free_port()}/oauth/token"})
    async with ZoomClient(local) as client:
        with pytest.raises(RetryableError):
            await client.access_token()


async def test_rate_limited_budget_is_bounded() -> None:
    sleeps = Sleeps()

    async def always_limited() -> None:
        raise RateLimitedError("slow down", retry_after=1)

    with pytest.raises(RateLimitedError):
        await call_with_retries(always_limited, sleep=sleeps, max_rate_limited=3)
    assert sleeps.waits == [1, 1, 1]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [({}, None), ({"Retry-After": "12"}, 12.0), ({"Retry-After": "soon"}, None), ({"Retry-After": "-3"}, 0.0)],
)
def test_retry_after_is_read_as_seconds(header: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = (utcnow() + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = retry_after_seconds({"Retry-After": later})
    assert value is not None
    assert 25 <= value <= 31


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2026-12-04T00:00:00Z", 6 * 3600.0),  # Zoom's daily limit: the next UTC midnight (issue 17)
        ("2026-12-04T00:00:00+00:00", 6 * 3600.0),
        ("2026-12-04T01:00:00+01:00", 6 * 3600.0),
        ("Fri, 04 Dec 2026 00:00:00 GMT", 6 * 3600.0),
        ("2026-12-03T17:00:00Z", 0.0),  # already past
        ("2026-12-04T00:00:00", None),  # no zone: unreadable, not a guess
    ],
)
def test_retry_after_in_every_form_zoom_sends(value: str, seconds: float | None) -> None:
    now = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": value}, now=now) == seconds


def test_provider_calls_read_dates_too_and_cap_at_an_hour() -> None:
    from zoomsymbl_common.providers.http import retry_after

    later = (utcnow() + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = retry_after({"Retry-After": later})
    assert value is not None and 110 <= value <= 121
    tomorrow = (utcnow() + timedelta(days=1)).isoformat()
    assert retry_after({"Retry-After": tomorrow}) == 3600.0


def test_dates_are_sent_as_iso_days() -> None:
    assert date(2024, 1, 5).isoformat() == "2024-01-05"


async def test_a_spent_daily_limit_is_waited_out_until_the_reset_not_failed() -> None:
    sleeps = Sleeps()
    answers: list[RateLimitedError] = [
        DailyLimitError("zoom list users rate limited", retry_after=9 * 3600.0),  # the ISO-8601 reset, 9 h away
        DailyLimitError("zoom list users rate limited", retry_after=None),  # unreadable: look again later
    ]

    async def limited_twice() -> str:
        if answers:
            raise answers.pop(0)
        return "listed"

    # Neither the policy's cap on a 429 wait nor max_rate_limited applies to the daily budget.
    assert await call_with_retries(limited_twice, sleep=sleeps, max_rate_limited=0) == "listed"
    assert sleeps.waits == [9 * 3600.0, DAILY_LIMIT_FALLBACK_WAIT]


async def test_a_daily_limit_429_is_told_apart_by_its_rate_limit_type(sandbox: ZoomSandbox) -> None:
    sandbox.limits.daily = {"Light": 0}
    async with ZoomClient(sandbox_tenant(sandbox)) as client:
        with pytest.raises(DailyLimitError) as caught:
            await client.get_meeting_recordings(ODD_UUIDS[2])
    # Retry-After is the next UTC midnight as an ISO-8601 instant: at most a day away.
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 86400
