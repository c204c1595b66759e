"""The shared Zoom API quota against the local MongoDB: per-category windows, priority reserve, daily budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import ZOOM_QUOTA
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import (
    BUSINESS_PLUS,
    CategoryLimit,
    ZoomPlan,
    ZoomQuota,
    allowance,
    category_of,
)
from zoomsymbl_common.zoom_retries import DailyLimitError
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.ingest.support import quick_meeting, sandbox_config, sandbox_tenant

pytestmark = pytest.mark.integration
EVENING = datetime(2026, 12, 3, 20, 0, 0, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "category"),
    [
        ("/users", "Medium"),
        ("/users/me/recordings", "Medium"),
        ("/users/abc", "Light"),
        ("/meetings/a%252Fb/recordings", "Light"),
        ("/past_meetings/x/participants", "Medium"),
        ("/phone/recordings", "Medium"),
        ("/metrics/meetings", "Resource-intensive"),
        ("/metrics/meetings/123/participants", "Heavy"),
        ("/report/meetings/123/participants", "Heavy"),
        ("/phone/call_history", "Heavy"),
    ],
)
def test_each_path_has_zooms_rate_limit_label(path: str, category: str) -> None:
    assert category_of(path) == category


def test_bulk_callers_leave_a_quarter_of_every_allowance_to_priority_callers() -> None:
    assert [allowance(n, "bulk", 0.25) for n in (80, 60, 40, 20, 2, 1)] == [60, 45, 30, 15, 1, 1]
    assert allowance(60, "priority", 0.25) == 60


class Sleeper:
    """A fake sleep that moves ``clock`` (the quota's waits are checked by the time they cover)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def quota(mongo: Mongo, clock: FakeClock, sleeper: Sleeper, plan: ZoomPlan = BUSINESS_PLUS) -> ZoomQuota:
    return ZoomQuota(mongo, "acct-1", plan, clock=clock, sleep=sleeper)


async def test_replicas_share_one_window_and_a_backfill_never_takes_the_reserved_share(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    replicas = [quota(mongo, clock, sleeper) for _ in range(3)]
    for i in range(45):  # Medium: 60 a second, 45 for bulk callers, spread over three replicas
        await replicas[i % 3].acquire("Medium", "bulk")
    assert sleeper.waits == []
    await replicas[0].acquire("Medium", "bulk")  # the 46th bulk request waits for the next second
    assert sleeper.waits == [pytest.approx(0.75)]
    window = int(EVENING.timestamp())
    # In the first second the reserved 15 were left: a priority caller gets all of them without waiting.
    clock.now = EVENING
    for _ in range(15):
        await replicas[1].acquire("Medium", "priority")
    assert len(sleeper.waits) == 1
    slots = await mongo.db[ZOOM_QUOTA].count_documents({"category": "Medium", "window": window})
    assert slots == 60


async def test_a_spent_daily_budget_waits_for_the_utc_midnight_reset(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    plan = ZoomPlan({**BUSINESS_PLUS.limits, "Heavy": CategoryLimit(1000)}, daily_heavy=8)
    first, second = quota(mongo, clock, sleeper, plan), quota(mongo, clock, sleeper, plan)
    for i in range(6):  # 8 a day, 6 for bulk callers
        await (first if i % 2 else second).acquire("Heavy", "bulk")
    assert (first.budget_left(), sleeper.waits) == (2, [])  # as first counted: its last slot was number 5
    await first.acquire("Heavy", "bulk")
    midnight = datetime(2026, 12, 4, tzinfo=UTC)
    assert sleeper.waits == [pytest.approx((midnight - EVENING).total_seconds())]
    assert clock() >= midnight
    assert first.metrics.budget_left.labels("acct-1")._value.get() == 7


async def test_a_daily_limit_429_from_zoom_holds_every_heavy_request_until_its_reset(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = quota(mongo, clock, sleeper)
    reset = datetime(2026, 12, 4, tzinfo=UTC)
    shared.note_rate_limited("Heavy", "Daily-limit", reset)
    assert shared.budget_left() == 0
    await shared.acquire("Heavy", "priority")
    assert sleeper.waits == [pytest.approx((reset - EVENING).total_seconds())]
    assert shared.metrics.rate_limited.labels("acct-1", "Heavy", "Daily-limit")._value.get() == 1


async def test_a_client_with_the_quota_counts_its_calls_and_reports_zooms_429s(mongo: Mongo) -> None:
    clock = FakeClock(EVENING)
    sleeper = Sleeper(clock)
    shared = quota(mongo, clock, sleeper)
    config = sandbox_config(quick_meeting("q/1=="), daily_limits={"Light": 1})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as sandbox:
        tenant = sandbox_tenant(sandbox)
        async with ZoomClient(tenant, wall_clock=clock, quota=shared, priority="bulk") as client:
            await client.get_meeting_recordings("q/1==")
            with pytest.raises(DailyLimitError):
                await client.get_meeting_recordings("q/1==")
            await client.list_users()
    assert shared.metrics.requests.labels("acct-1", "Light", "bulk")._value.get() == 2
    assert shared.metrics.requests.labels("acct-1", "Medium", "bulk")._value.get() == 1
    assert shared.metrics.rate_limited.labels("acct-1", "Light", "Daily-limit")._value.get() == 1
    assert await mongo.db[ZOOM_QUOTA].count_documents({"account": "acct-1"}) == 3
