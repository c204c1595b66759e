"""Zoom's daily-limit 429 with a hostile or broken ``Retry-After``: every wait is bounded, and so is their number.

Zoom resets its daily limits at 00:00 UTC. Before the 2026-12-05 audit a daily-limit 429 was waited out for
whatever ``Retry-After`` said, as often as Zoom answered it: ``0`` repeated the call without pause for ever, a
date in 9999 slept for 2.5e11 s, and ``inf`` or ``1e12`` raised ``OverflowError`` in the client's quota report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import ZoomQuota
from zoomsymbl_common.zoom_retries import (
    DAILY_LIMIT_FALLBACK_WAIT,
    DAILY_LIMIT_MAX_WAIT,
    DAILY_LIMIT_MAX_WAITS,
    DAILY_LIMIT_MIN_WAIT,
    DailyLimitError,
    call_with_retries,
    retry_after_seconds,
)

from tests.common.test_zoom_quota import Sleeper
from tests.support.zoom_api import tenant_of

# 20:00 UTC: Zoom's daily reset is 4 hours away, the latest reset believed 4 hours and 5 minutes away.
EVENING = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 4, tzinfo=UTC)
UNTIL_LATEST_RESET = (MIDNIGHT + timedelta(minutes=5) - EVENING).total_seconds()
HOSTILE = ("inf", "-inf", "nan", "1e12", "1e309", "9999-12-31T00:00:00Z", "Fri, 31 Dec 9999 00:00:00 GMT")


class Sleeps:
    """A fake sleep that records its waits; past ``most`` of them the caller is spinning, and it says so."""

    def __init__(self, most: int = 20) -> None:
        self.most = most
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) > self.most:
            raise AssertionError(f"still waiting after {self.most} sleeps, first {self.waits[:3]}")


class DailyLimited:
    """A Zoom whose every API call answers a daily-limit 429 with ``retry_after`` (the token endpoint works)."""

    def __init__(self) -> None:
        self.retry_after: str | None = "0"
        self.api_calls = 0

    async def token(self, _: web.Request) -> web.Response:
        return web.json_response({"access_token": "daily-limit-token", "expires_in": 3600})

    async def api(self, _: web.Request) -> web.Response:
        self.api_calls += 1
        headers = {"X-RateLimit-Type": "Daily-limit", "X-RateLimit-Category": "Light"}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        body = {"code": 429, "message": "You have reached the maximum daily rate limit for this API."}
        return web.json_response(body, status=429, headers=headers)


@pytest.fixture
async def zoom() -> AsyncIterator[tuple[DailyLimited, TenantConfig]]:
    answers = DailyLimited()
    app = web.Application()
    app.router.add_post("/oauth/token", answers.token)
    app.router.add_get("/v2/{tail:.*}", answers.api)
    async with TestServer(app) as server:
        tenant = tenant_of(server)
        yield answers, tenant


@pytest.mark.parametrize("value", [*HOSTILE, "Thu, 04 Dec 99999999999999999999999 00:00:00 GMT", "172801"])
def test_a_retry_after_no_server_means_is_read_as_absent(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}, now=EVENING) is None


def test_a_retry_after_of_up_to_two_days_is_still_read() -> None:
    assert retry_after_seconds({"Retry-After": "172800"}) == 172800.0
    assert retry_after_seconds({"Retry-After": "2026-12-05T00:00:00Z"}, now=EVENING) == 28 * 3600.0


async def test_a_daily_429_saying_0_waits_a_minute_and_gives_up_after_three_waits(
    zoom: tuple[DailyLimited, TenantConfig],
) -> None:
    answers, tenant = zoom
    sleeps = Sleeps()
    async with ZoomClient(tenant, wall_clock=lambda: EVENING) as client:
        with pytest.raises(DailyLimitError) as caught:
            await call_with_retries(lambda: client.get_meeting_recordings("m=="), sleep=sleeps)
    assert sleeps.waits == [DAILY_LIMIT_MIN_WAIT] * DAILY_LIMIT_MAX_WAITS
    assert answers.api_calls == DAILY_LIMIT_MAX_WAITS + 1
    message = str(caught.value)
    assert message == (
        "zoom meeting recordings rate limited: the daily limit was still spent after 3 waits for its reset"
    )
    assert "daily-limit-token" not in message and "client-secret" not in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2026-12-04T00:00:00Z", 4 * 3600.0),  # Zoom's own answer, the next midnight: waited as it says
        ("2026-12-03T20:00:30Z", DAILY_LIMIT_MIN_WAIT),  # 30 s away: not sooner than a minute
        ("2026-12-03T19:00:00Z", DAILY_LIMIT_MIN_WAIT),  # already past
        ("2026-12-05T00:00:00Z", UNTIL_LATEST_RESET),  # a day too late: the reset is the next midnight
        ("100000", UNTIL_LATEST_RESET),
        (None, UNTIL_LATEST_RESET),  # none sent: the next midnight, when the daily limits reset
        ("soon", UNTIL_LATEST_RESET),
        *((value, UNTIL_LATEST_RESET) for value in HOSTILE),
    ],
)
async def test_a_daily_wait_ends_by_the_next_utc_midnight_and_its_margin(
    zoom: tuple[DailyLimited, TenantConfig], value: str | None, seconds: float
) -> None:
    answers, tenant = zoom
    answers.retry_after = value
    sleeps = Sleeps()
    async with ZoomClient(tenant, wall_clock=lambda: EVENING) as client:
        with pytest.raises(DailyLimitError) as caught:
            await client.get_meeting_recordings("m==")
        assert caught.value.retry_after == seconds
        with pytest.raises(DailyLimitError):
            await call_with_retries(lambda: client.get_meeting_recordings("m=="), sleep=sleeps)
    assert sleeps.waits == [seconds] * DAILY_LIMIT_MAX_WAITS


@pytest.mark.parametrize(
    ("told", "seconds"),
    [
        (0.0, DAILY_LIMIT_MIN_WAIT),
        (-5.0, DAILY_LIMIT_MIN_WAIT),
        (None, DAILY_LIMIT_FALLBACK_WAIT),
        (float("nan"), DAILY_LIMIT_FALLBACK_WAIT),
        (float("inf"), DAILY_LIMIT_FALLBACK_WAIT),
        (1e12, DAILY_LIMIT_MAX_WAIT),
    ],
)
async def test_any_daily_limit_error_is_waited_out_within_bounds_and_at_most_three_times(
    told: float | None, seconds: float
) -> None:
    sleeps = Sleeps()
    calls = 0

    async def always_spent() -> str:
        nonlocal calls
        calls += 1
        raise DailyLimitError("zoom list users rate limited", retry_after=told)

    with pytest.raises(DailyLimitError) as caught:
        await call_with_retries(always_spent, sleep=sleeps)
    assert sleeps.waits == [seconds] * DAILY_LIMIT_MAX_WAITS
    assert calls == DAILY_LIMIT_MAX_WAITS + 1
    assert caught.value.retry_after == seconds  # finite: a consumer waiting it out again stays bounded too
    assert isinstance(caught.value.__cause__, DailyLimitError)


async def test_fewer_daily_waits_may_be_asked_for() -> None:
    sleeps = Sleeps()

    async def always_spent() -> str:
        raise DailyLimitError("zoom list users rate limited", retry_after=600.0)

    with pytest.raises(DailyLimitError, match="after 1 waits"):
        await call_with_retries(always_spent, sleep=sleeps, max_daily_waits=1)
    assert sleeps.waits == [600.0]


@pytest.mark.integration
async def test_the_quota_holds_a_daily_limit_no_later_than_the_next_midnight_and_its_margin(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = ZoomQuota(mongo, "acct-1", clock=clock, sleep=sleeper)
    shared.note_rate_limited("Heavy", "Daily-limit", datetime(9999, 12, 31, tzinfo=UTC))
    assert shared.budget_left() == 0
    await shared.acquire("Heavy", "priority")
    assert sleeper.waits == [pytest.approx(UNTIL_LATEST_RESET)]


@pytest.mark.integration
@pytest.mark.parametrize("value", ["inf", "1e12", "nan", "9999-12-31T00:00:00Z"])
async def test_a_client_with_the_quota_reports_a_hostile_daily_reset_without_overflowing(
    zoom: tuple[DailyLimited, TenantConfig], mongo: Mongo, value: str
) -> None:
    answers, tenant = zoom
    answers.retry_after = value
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = ZoomQuota(mongo, "acct-1", clock=clock, sleep=sleeper)
    async with ZoomClient(tenant, wall_clock=clock, quota=shared) as client:
        with pytest.raises(DailyLimitError):
            await client.get_meeting_recordings("m==")
    assert shared.metrics.rate_limited.labels("acct-1", "Light", "Daily-limit")._value.get() == 1
    assert shared.budget_left() == 0
    await shared.acquire("Heavy", "priority")  # held until the reported reset, the next midnight and margin
    assert sleeper.waits == [pytest.approx(UNTIL_LATEST_RESET)]
