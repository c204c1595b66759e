"""The Zoom sandbox's account: /users paged by status, expiring page tokens, per-category and daily 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import RateLimitedError
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import DailyLimitError
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_limits import next_utc_midnight

from tests.ingest.support import quick_meeting, sandbox_config, sandbox_tenant

START = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
HOSTS = ("ann@example.com", "bob@example.com", "cyd@example.com", "dee@example.com")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[ZoomSandbox]:
    meetings = [quick_meeting(f"m-{h}==", start_time=START - timedelta(days=1), host_email=h) for h in HOSTS]
    config = sandbox_config(
        *meetings,
        inactive_users=("dee@example.com",),
        per_second_limits={"Light": 2},
        daily_limits={"Medium": 5},
    )
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        yield running


def client(sandbox: ZoomSandbox, clock: FakeClock) -> ZoomClient:
    return ZoomClient(sandbox_tenant(sandbox), wall_clock=clock)


async def test_users_are_listed_by_status_page_by_page(sandbox: ZoomSandbox, clock: FakeClock) -> None:
    async with client(sandbox, clock) as zoom:
        first = await zoom.list_users("active", page_size=2)
        second = await zoom.list_users("active", first.next_page_token, page_size=2)
        inactive = await zoom.list_users("inactive")
        pending = await zoom.list_users("pending")
    active = [u["email"] for u in first.users + second.users]
    # The owner (host@example.com) and three active hosts; dee is inactive; nobody is pending.
    assert sorted(active) == ["ann@example.com", "bob@example.com", "cyd@example.com", "host@example.com"]
    assert second.next_page_token == ""
    assert [u["email"] for u in inactive.users] == ["dee@example.com"]
    assert pending.users == ()
    ids = {u["email"]: u["id"] for u in first.users + second.users}
    assert ids["ann@example.com"] == sandbox.meetings["m-ann@example.com=="].spec.host_id


async def test_a_page_token_older_than_15_minutes_is_refused_with_code_300(
    sandbox: ZoomSandbox, clock: FakeClock
) -> None:
    async with client(sandbox, clock) as zoom:
        first = await zoom.list_users("active", page_size=1)
        clock.advance(14 * 60)
        await zoom.list_users("active", first.next_page_token, page_size=1)  # still valid
        clock.advance(2 * 60)
        with pytest.raises(ZoomApiError) as caught:
            await zoom.list_users("active", first.next_page_token, page_size=1)
    assert (caught.value.status, caught.value.code, caught.value.page_token_expired) == (400, 300, True)


async def test_the_per_second_limit_answers_429_per_category(sandbox: ZoomSandbox, clock: FakeClock) -> None:
    async with client(sandbox, clock) as zoom:
        for _ in range(2):
            await zoom.get_meeting_recordings("m-ann@example.com==")  # Light
        with pytest.raises(RateLimitedError) as caught:
            await zoom.get_meeting_recordings("m-ann@example.com==")
        assert not isinstance(caught.value, DailyLimitError)
        await zoom.list_users()  # Medium has its own allowance
        clock.advance(1)
        await zoom.get_meeting_recordings("m-ann@example.com==")  # the next second
    assert sandbox.limits.refused == {"Light QPS": 1}


async def test_a_spent_daily_limit_answers_the_iso_8601_reset_until_midnight(
    sandbox: ZoomSandbox, clock: FakeClock
) -> None:
    async with client(sandbox, clock) as zoom:
        for _ in range(5):
            await zoom.list_users()
        with pytest.raises(DailyLimitError) as caught:
            await zoom.list_users()
        # Retry-After: 2026-12-04T00:00:00Z, an hour after 23:00 on the injected clock.
        assert caught.value.retry_after == pytest.approx(3600.0)
        clock.advance(3599)
        with pytest.raises(DailyLimitError):
            await zoom.list_users()
        clock.advance(1)
        await zoom.list_users()
    assert sandbox.limits.refused == {"Medium Daily-limit": 2}


def test_the_daily_reset_is_the_next_utc_midnight() -> None:
    assert next_utc_midnight(START) == datetime(2026, 12, 4, tzinfo=UTC)
    assert next_utc_midnight(datetime(2026, 12, 31, 0, 0, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
