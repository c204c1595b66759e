"""The shared Zoom quota follows Zoom's limits for the Phone API, which are its own (backfill and reconcile use it).

https://developers.zoom.us/docs/api/rate-limits/: "Zoom Phone APIs have unique rate limits" — Business+:
Light 40, Medium 20, Heavy 10 a second, and 30,000 Heavy/Resource-intensive requests a day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import BUSINESS_PLUS, ZoomQuota
from zoomsymbl_common.zoom_retries import DailyLimitError
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.common.test_zoom_quota import Sleeper
from tests.ingest.support import sandbox_config, sandbox_tenant

pytestmark = pytest.mark.integration
EVENING = datetime(2026, 12, 3, 20, 0, 0, 250000, tzinfo=UTC)


def test_phone_paths_belong_to_the_phone_family() -> None:
    # Imported here: absent before the fix, where the module still had to load for the other tests to run.
    from zoomsymbl_common.zoom_quota import api_family

    assert [api_family(p) for p in ("/phone/recordings", "/phone/call_history", "/users/me/recordings")] == [
        "phone",
        "phone",
        "api",
    ]


async def test_phone_listings_wait_at_zooms_phone_medium_limit_not_the_meeting_apis(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = ZoomQuota(mongo, "acct-phone", BUSINESS_PLUS, clock=clock, sleep=sleeper)
    async with running_zoom_sandbox(sandbox_config(), clock=lambda: clock().timestamp()) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox), wall_clock=clock, quota=shared) as client:
            for _ in range(60):  # the meeting API's Medium: 60 a second, none of them the Phone API's
                await client.list_users()
            for _ in range(20):  # the Phone API's Medium: 20 a second
                await client.list_phone_recordings(EVENING.date(), EVENING.date())
            assert sleeper.waits == []
            await client.list_phone_recordings(EVENING.date(), EVENING.date())  # the 21st waits for the next second
    assert sleeper.waits == [pytest.approx(0.75)]


async def test_a_phone_daily_limit_holds_phone_work_only(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = ZoomQuota(mongo, "acct-phone-day", BUSINESS_PLUS, clock=clock, sleep=sleeper)
    config = sandbox_config(daily_limits={"Phone Heavy": 1})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox), wall_clock=clock, quota=shared) as client:
            await client.list_call_history(EVENING.date(), EVENING.date())
            with pytest.raises(DailyLimitError):
                await client.list_call_history(EVENING.date(), EVENING.date())
            # The dashboard (the meeting API's Heavy budget) goes on at once: Zoom counts the two apart.
            await client.list_past_meetings(EVENING.date(), EVENING.date())
            assert sleeper.waits == []
            assert (shared.budget_left("phone"), shared.budget_left()) == (0, BUSINESS_PLUS.daily_heavy - 1)
