"""The Zoom sandbox's dashboard: past meetings paged with has_recording, participants, Heavy-budget 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import DailyLimitError
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_specs import PastMeetingSpec

from tests.ingest.support import sandbox_config, sandbox_tenant

START = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
DAY = START - timedelta(days=1)


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[ZoomSandbox, FakeClock]]:
    clock = FakeClock(START)
    past = tuple(
        PastMeetingSpec(
            uuid=f"p{i}/x==" if i == 0 else f"p{i}==",
            host_email="ann@example.com",
            start_time=DAY + timedelta(minutes=i),
            has_recording=i % 2 == 0,
            participants=("ann@example.com", "bob@example.com"),
        )
        for i in range(5)
    )
    config = sandbox_config(past_meetings=past, daily_limits={"Heavy": 3})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        yield running, clock


async def test_past_meetings_are_paged_with_has_recording(sandbox: tuple[ZoomSandbox, FakeClock]) -> None:
    running, clock = sandbox
    day = DAY.date().isoformat()
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        params = {"type": "past", "from": day, "to": day, "page_size": "3"}
        first = await zoom.get_json("/metrics/meetings", params, what="list")
        token = first["next_page_token"]
        assert isinstance(token, str) and token
        second = await zoom.get_json("/metrics/meetings", params | {"next_page_token": token}, what="list")
        people = await zoom.get_json(
            f"/metrics/meetings/{quote(quote('p0/x==', safe=''), safe='')}/participants", {}, what="p"
        )
        # The Heavy daily budget (3 here) is spent: Zoom's Daily-limit 429 with the ISO-8601 reset.
        with pytest.raises(DailyLimitError) as caught:
            await zoom.get_json("/metrics/meetings", params, what="list")
    meetings = [*first["meetings"], *second["meetings"]]
    assert [m["uuid"] for m in meetings] == ["p0/x==", "p1==", "p2==", "p3==", "p4=="]
    assert [m["has_recording"] for m in meetings] == [True, False, True, False, True]
    assert {m["email"] for m in meetings} == {"ann@example.com"} and second["next_page_token"] == ""
    assert [p["email"] for p in people["participants"]] == ["ann@example.com", "bob@example.com"]
    assert caught.value.retry_after == pytest.approx(3600.0)
    assert running.limits.refused == {"Resource-intensive Daily-limit": 1}


async def test_an_unknown_meeting_has_no_participants(sandbox: tuple[ZoomSandbox, FakeClock]) -> None:
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        with pytest.raises(ZoomApiError) as caught:
            await zoom.get_json("/metrics/meetings/nope==/participants", {}, what="p")
    assert (caught.value.status, caught.value.code) == (404, 3001)


@pytest.mark.parametrize(("start", "refused"), [("2026-06-02", True), ("2026-06-03", False)])
async def test_only_the_last_six_months_are_listed(
    sandbox: tuple[ZoomSandbox, FakeClock], start: str, refused: bool
) -> None:
    """Zoom's reference: "The month should fall within the last six months"; before, any past month was listed."""
    running, clock = sandbox
    params = {"type": "past", "from": start, "to": start}
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        if not refused:
            assert (await zoom.get_json("/metrics/meetings", params, what="list"))["meetings"] == []
            return
        with pytest.raises(ZoomApiError) as caught:
            await zoom.get_json("/metrics/meetings", params, what="list")
    assert (caught.value.status, caught.value.code) == (400, 300) and "six months" in caught.value.detail
