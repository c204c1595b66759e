"""What the Zoom client asks of a listing and checks in its answer: the date window Zoom served, the page size,
and the rate-limit type it reports.

Zoom's listings hold one month of data per answer ("the response only includes one month of data at a
time"): asked for more, its call-logs listing answered 200 for the last month, saying so only in ``from``/``to``
(the sandbox's zoom_call_history.py names the pages), and so does its cloud-recording listing (zoom_api.py
``recordings_window``; the client read its ``from``/``to`` only since 2026-12-06). Before the 2026-12-05 comparison
the client never read them:
a longer window was a page of its last month taken for the whole, the days before seen by nobody and the listing
"complete". The backfill and the reconciliation ask one calendar month at a time (``month_windows``), which both
phone listings serve whole; the check is what catches a caller that asks more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import RateLimitedError
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.zoom import MAX_PAGE_SIZE, ZoomClient
from zoomsymbl_common.zoom_answers import NarrowedWindowError, checked_window
from zoomsymbl_common.zoom_quota import ZoomQuota
from zoomsymbl_ingest.windows import month_windows
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_api import earliest_phone_day, recordings_window
from zoomsymbl_sandbox.zoom_call_history import months_before

from tests.ingest.support import sandbox_config, sandbox_tenant

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[ZoomSandbox, FakeClock]]:
    clock = FakeClock(NOW)
    async with running_zoom_sandbox(sandbox_config(), clock=lambda: clock().timestamp()) as running:
        yield running, clock


@pytest.mark.parametrize("listing", ["list_recordings", "list_phone_recordings", "list_call_history"])
async def test_a_window_zoom_answers_only_in_part_is_refused_not_read_whole(
    sandbox: tuple[ZoomSandbox, FakeClock], listing: str
) -> None:
    running, clock = sandbox
    asked = (TODAY - timedelta(days=45), TODAY)
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        with pytest.raises(NarrowedWindowError) as caught:
            await getattr(zoom, listing)(*asked)
        whole = await getattr(zoom, listing)(TODAY - timedelta(days=28), TODAY)  # within what Zoom serves
    assert f"not the {asked[0]}..{asked[1]} asked for" in str(caught.value)
    assert caught.value.status == 200 and whole.next_page_token == ""


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"from": None, "to": 7},
        {"from": "yesterday", "to": ""},
        {"from": "2026-11-03T00:00:00Z", "to": "2026-12-03T23:59:59Z"},
        {"from": "2026-11-01", "to": "2026-12-05"},
    ],
)
def test_an_answer_covering_the_window_or_not_saying_is_taken_as_asked(answer: dict[str, object]) -> None:
    checked_window(answer, date(2026, 11, 3), date(2026, 12, 3), "list call history")


@pytest.mark.parametrize(
    "answer", [{"from": "2026-11-04", "to": "2026-12-03"}, {"from": "2026-11-03", "to": "2026-12-02T10:00:00Z"}]
)
def test_an_answer_covering_less_is_refused(answer: dict[str, object]) -> None:
    with pytest.raises(NarrowedWindowError):
        checked_window(answer, date(2026, 11, 3), date(2026, 12, 3), "list call history")


@settings(deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(min_value=0, max_value=800))
def test_the_backfill_and_reconciliation_windows_are_served_whole_by_both_phone_listings(
    start: date, length: int
) -> None:
    for window_start, window_end in month_windows(start, start + timedelta(days=length)):
        query = {"from": window_start.isoformat(), "to": window_end.isoformat()}
        assert recordings_window(query, window_end) == (window_start, window_end)  # GET /users/{id}/recordings
        assert window_start >= earliest_phone_day(window_end)  # GET /phone/recordings: 30 days and a month
        assert window_start >= months_before(window_end, 1)  # GET /phone/call_history: a month


@pytest.mark.parametrize("size", [0, MAX_PAGE_SIZE + 1, 1000])
async def test_a_page_size_zoom_does_not_serve_is_never_sent(sandbox: tuple[ZoomSandbox, FakeClock], size: int) -> None:
    # Before: sent; the sandbox of then capped it at 300, Zoom documents no such cap.
    running, clock = sandbox
    async with ZoomClient(sandbox_tenant(running), wall_clock=clock) as zoom:
        with pytest.raises(ValueError, match="page_size"):
            await zoom.list_users(page_size=size)
        with pytest.raises(ValueError, match="page_size"):
            await zoom.list_phone_recordings(TODAY, TODAY, page_size=size)
    assert sum(running.stats.requests.values()) == 0


@pytest.mark.integration
async def test_a_per_second_429_is_counted_as_zooms_qps(mongo: Mongo) -> None:
    # Zoom's X-RateLimit-Type of a per-second 429 is QPS; the client counted every one as "Per-second-limit".
    clock = FakeClock(NOW)
    shared = ZoomQuota(mongo, "acct-1", clock=clock)
    config = sandbox_config(per_second_limits={"Phone Medium": 1})
    async with running_zoom_sandbox(config, clock=lambda: clock().timestamp()) as running:
        async with ZoomClient(sandbox_tenant(running), wall_clock=clock, quota=shared) as zoom:
            await zoom.list_phone_recordings(TODAY, TODAY)
            with pytest.raises(RateLimitedError):
                await zoom.list_phone_recordings(TODAY, TODAY)
    assert shared.metrics.rate_limited.labels("acct-1", "Medium", "QPS")._value.get() == 1
    assert shared.metrics.rate_limited.labels("acct-1", "Medium", "Per-second-limit")._value.get() == 0
