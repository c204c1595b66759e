"""The Zoom sandbox against Zoom's published contracts: where it used to answer in a shape Zoom does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import RateLimitedError
from zoomsymbl_common.zoom import ZoomClient, encode_meeting_uuid
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_sandbox.zoom import running_zoom_sandbox

from tests.ingest.support import quick_meeting, sandbox_config, sandbox_tenant

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


async def test_a_recordings_listing_without_dates_is_todays_window_as_zoom_documents() -> None:
    # https://developers.zoom.us/docs/api/cloud-recording/#tag/cloud-recording/GET/users/{userId}/recordings:
    # without `from`/`to`, a call made on 2020-06-30 lists from 2020-06-30 to 2020-07-01.
    clock = FakeClock(NOW)
    today = quick_meeting("today==", start_time=NOW - timedelta(hours=1))
    yesterday = quick_meeting("yesterday==", start_time=NOW - timedelta(days=1))
    config = sandbox_config(today, yesterday)
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox), wall_clock=clock) as zoom:
            page = await zoom.get_json("/users/host%40example.com/recordings", {}, what="list recordings")
            only_from = await zoom.get_json(
                "/users/host%40example.com/recordings", {"from": "2026-12-02"}, what="list recordings"
            )
    assert (page["from"], page["to"]) == ("2026-12-03", "2026-12-04")
    assert [m["uuid"] for m in page["meetings"]] == ["today=="]
    # An explicit `from` without `to` keeps the sandbox's old reading (to: today): Zoom documents no default.
    assert (only_from["from"], only_from["to"]) == ("2026-12-02", "2026-12-03")


async def test_the_phone_api_is_rate_limited_apart_from_the_meeting_api() -> None:
    # https://developers.zoom.us/docs/api/rate-limits/: "Zoom Phone APIs have unique rate limits"; a meeting
    # API listing spending its Medium allowance leaves the Phone API's Medium allowance whole, and the reverse.
    clock = FakeClock(NOW)
    config = sandbox_config(per_second_limits={"Medium": 1, "Phone Medium": 1})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox), wall_clock=clock) as zoom:
            await zoom.list_users()
            await zoom.list_phone_recordings(NOW.date(), NOW.date())
            with pytest.raises(RateLimitedError):
                await zoom.list_phone_recordings(NOW.date(), NOW.date())
            with pytest.raises(RateLimitedError):
                await zoom.list_users()
    assert sandbox.limits.refused == {"Phone Medium QPS": 1, "Medium QPS": 1}


async def test_the_dashboards_participants_refuse_a_single_encoded_slash_uuid_as_zoom_does() -> None:
    # A UUID that starts with "/" or contains "//" must be double-encoded in every meeting path (dashboard too):
    # single-encoded, Zoom's gateway splits it and the meeting is not found.
    config = sandbox_config(quick_meeting("/dash//1=="))
    async with running_zoom_sandbox(config) as sandbox:
        async with ZoomClient(sandbox_tenant(sandbox)) as zoom:
            with pytest.raises(ZoomApiError) as single:
                await zoom.get_json("/metrics/meetings/%2Fdash%2F%2F1%3D%3D/participants", {}, what="dashboard")
            path = f"/metrics/meetings/{encode_meeting_uuid('/dash//1==')}/participants"
            double = await zoom.get_json(path, {}, what="dashboard")
    assert (single.value.status, single.value.code) == (404, 3001)
    assert double["total_records"] == 2
