"""The Zoom sandbox's Phone call history: recorded and unrecorded calls, paging, Zoom's refusals, Heavy 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import DailyLimitError
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_audio import MediaFile
from zoomsymbl_sandbox.zoom_call_history import CallRecord, history_entry
from zoomsymbl_sandbox.zoom_phone import PhoneCallSpec, RecordedCall
from zoomsymbl_sandbox.zoom_specs import PastCallSpec, user_id

from tests.ingest.support import sandbox_config, sandbox_tenant

NOW = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
DAY = NOW - timedelta(days=1)


def call(i: int, *, recorded: bool = False, direction: str = "inbound") -> PastCallSpec:
    return PastCallSpec.model_validate(
        {
            "call_id": f"call{i:03d}",
            "direction": direction,
            "owner_email": "ann@example.com",
            "start_time": DAY + timedelta(minutes=i),
            "recorded": recorded,
        }
    )


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[ZoomSandbox, FakeClock]]:
    clock = FakeClock(NOW)
    calls = (call(0, recorded=True), call(1), call(2, direction="outbound"), call(3), call(4, recorded=True))
    config = sandbox_config(past_calls=calls, daily_limits={"Phone Heavy": 2})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        yield running, clock


async def test_calls_are_paged_newest_first_with_recording_status_and_the_users_side(
    sandbox: tuple[ZoomSandbox, FakeClock],
) -> None:
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        first = await zoom.list_call_history(DAY.date(), DAY.date(), page_size=3)
        second = await zoom.list_call_history(DAY.date(), DAY.date(), first.next_page_token, page_size=3)
        # The Phone API's Heavy daily budget (2 here) is spent: the Daily-limit 429 with the ISO-8601 reset.
        with pytest.raises(DailyLimitError):
            await zoom.list_call_history(DAY.date(), DAY.date())
    calls = [*first.calls, *second.calls]
    assert [c["call_id"] for c in calls] == ["call004", "call003", "call002", "call001", "call000"]
    assert [c["recording_status"] for c in calls] == ["recorded", *["non_recorded"] * 3, "recorded"]
    assert first.next_page_token and second.next_page_token == ""
    inbound, outbound = calls[1], calls[2]
    ann = user_id("ann@example.com")
    assert (inbound["direction"], inbound["callee_ext_type"], inbound["callee_ext_id"]) == ("inbound", "user", ann)
    assert (outbound["direction"], outbound["caller_email"], outbound["callee_ext_type"]) == (
        "outbound",
        "ann@example.com",
        "",
    )
    assert all(c["call_history_uuid"] and c["id"] for c in calls)
    assert running.limits.refused == {"Phone Heavy Daily-limit": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-12-02", "to": "2026-12-01"}, "must not be later"),
        ({"from": "2026-12-01"}, "'to' field is required"),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "yyyy-mm-dd"),
        ({"from": "2026-05-01", "to": "2026-05-20"}, "last six months"),
        ({"from": "2026-06-02", "to": "2026-06-20"}, "last six months"),
        ({"from": "2026-12-01", "to": "2026-12-02", "page_size": "301"}, "page_size"),
        ({"from": "2026-12-01", "to": "2026-12-02", "page_size": "0"}, "page_size"),
        ({"from": "2026-12-01", "to": "2026-12-02", "next_page_token": "forged"}, "page token"),
    ],
)
async def test_what_zoom_refuses_is_refused(
    sandbox: tuple[ZoomSandbox, FakeClock], params: dict[str, str], message: str
) -> None:
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        with pytest.raises(ZoomApiError) as refused:
            await zoom.get_json("/phone/call_history", params, what="call history")
    assert refused.value.status == 400 and message in refused.value.detail


@pytest.mark.parametrize(("start", "to"), [("2026-10-31", "2026-11-30"), ("2026-06-03", "2026-06-03")])
async def test_a_month_from_the_end_of_a_month_and_the_sixth_month_back_are_listed(
    sandbox: tuple[ZoomSandbox, FakeClock], start: str, to: str
) -> None:
    """Before, "a month after" the 29th to 31st was the 28th of the next month: a reconciliation window from
    2026-10-31 to 2026-11-29 was refused (and read as "no Zoom Phone")."""
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        page = await zoom.list_call_history(date.fromisoformat(start), date.fromisoformat(to))
    assert page.calls == ()


async def test_a_page_token_expires_after_fifteen_minutes(sandbox: tuple[ZoomSandbox, FakeClock]) -> None:
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        first = await zoom.list_call_history(DAY.date(), DAY.date(), page_size=2)
        clock.advance(15 * 60 + 1)
        with pytest.raises(ZoomApiError) as expired:
            await zoom.list_call_history(DAY.date(), DAY.date(), first.next_page_token, page_size=2)
    assert expired.value.page_token_expired


def test_a_recorded_call_is_listed_as_recorded_once_per_call_id() -> None:
    spec = PhoneCallSpec(
        recording_id="rec1", call_id="c-77", direction="outbound", owner_email="bob@example.com",
        callee_number="+15550100", callee_name="Carol", start_time=DAY, lines=(("caller", "hi"),),
    )  # fmt: skip
    recorded = RecordedCall(spec=spec, media=MediaFile(path=Path("/dev/null"), size=0), duration_s=42)
    entry = history_entry(CallRecord.of_recording(recorded))
    assert (entry["call_id"], entry["recording_status"], entry["direction"]) == ("c-77", "recorded", "outbound")
    assert (entry["caller_email"], entry["caller_ext_type"], entry["callee_did_number"]) == (
        "bob@example.com",
        "user",
        "+15550100",
    )
    assert entry["end_time"] == (DAY + timedelta(seconds=42)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert date.fromisoformat(entry["start_time"][:10]) == DAY.date()
