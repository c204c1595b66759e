"""Backfill against the Zoom sandbox: paged listings, injected 429s, odd UUIDs, exactly the missing meetings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.tenants import Tenants, has_oauth
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.rounds import run_periodic_backfill
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.windows import month_windows
from zoomsymbl_ingest.zoom_payload import recording_completed
from zoomsymbl_sandbox.zoom import Fault, ZoomSandbox, running_zoom_sandbox
from zoomsymbl_sandbox.zoom_api import recordings_window

from tests.ingest.support import (
    MemoryReceipts,
    MemoryTokens,
    RecordingPublisher,
    quick_meeting,
    sandbox_config,
    sandbox_tenant,
    tenants,
)
from tests.support.eventually import eventually

TODAY = utcnow().date()
# Spread over two calendar months, including UUIDs that need double encoding.
MEETINGS = {
    "/ajXp112QmuoKj4854875==": 1,
    "abc//def==": 3,
    "plain-1==": 5,
    "plain-2==": 12,
    "plain-3==": 20,
    "plain-4==": 33,
    "plain-5==": 40,
}
SEEN_BY_WEBHOOK = ("plain-2==", "plain-4==")
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, max_rate_limit_wait=0.01)


async def no_sleep(_: float) -> None:
    return None


def started(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(9), tzinfo=UTC)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    specs = [quick_meeting(uuid, start_time=started(days)) for uuid, days in MEETINGS.items()]
    async with running_zoom_sandbox(sandbox_config(*specs)) as running:
        yield running


class Run:
    def __init__(self, sandbox: ZoomSandbox, **tenant: object) -> None:
        self.sandbox = sandbox
        self.tenant = sandbox_tenant(sandbox, **tenant)  # type: ignore[arg-type]
        self.publisher = RecordingPublisher()
        self.intake = Intake(self.publisher, MemoryReceipts(), MemoryTokens(), IngestMetrics.create())

    async def backfill(self, days: int = 45, page_size: int = 2) -> BackfillReport:
        async with ZoomClient(self.tenant) as client:
            job = Backfill(self.intake, self.tenant, client, policy=FAST, sleep=no_sleep, page_size=page_size)
            return await job.run(TODAY - timedelta(days=days), TODAY)

    def published(self) -> set[str]:
        return {e.meeting_uuid for e in self.publisher.events}


def counts(report: BackfillReport) -> tuple[int, int, int, int]:
    return report.seen, report.new, report.skipped, report.failed


async def test_backfill_publishes_exactly_the_missing_meetings_despite_429s(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    for uuid in SEEN_BY_WEBHOOK:  # these arrived by webhook earlier
        await run.intake.accept(recording_completed("acme", sandbox.meeting_object(uuid), source="webhook"))
    sandbox.faults.add(Fault(route="list_recordings", kind="status", status=429, retry_after=1, count=2))
    sandbox.faults.add(Fault(route="list_recordings", kind="status", status=429))  # no Retry-After
    sandbox.faults.add(Fault(route="get_recordings", kind="status", status=429, count=2))
    run.publisher.events.clear()

    report = await run.backfill()

    assert report.ok, report
    assert counts(report) == (7, 5, 2, 0)
    assert run.published() == set(MEETINGS) - set(SEEN_BY_WEBHOOK)
    assert all(isinstance(e, RecordingCompleted) and e.source == "backfill" for e in run.publisher.events)
    assert sandbox.stats.responses_429 == 5
    assert sandbox.stats.requests["get_recordings"] == 5 + 2  # only unseen meetings are fetched


async def test_a_second_run_publishes_nothing_new(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    assert counts(await run.backfill()) == (7, 7, 0, 0)
    assert counts(await run.backfill()) == (7, 0, 7, 0)
    assert len(run.publisher.events) == 7


async def test_backfilled_events_match_what_the_webhook_would_have_published(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    await run.backfill(days=2)
    [event] = run.publisher.events
    webhook_event = recording_completed("acme", sandbox.meeting_object("/ajXp112QmuoKj4854875=="), source="webhook")
    assert event.event_id == webhook_event.event_id  # so a late webhook is a duplicate, and vice versa
    assert isinstance(event, RecordingCompleted)
    assert [t.participant_name for t in event.participant_tracks] == ["Elisa L", "Zoë 🎧 Ng"]
    assert event.fallback_files[0].recording_type == "audio_only"


async def test_a_meeting_that_cannot_be_fetched_is_counted_failed(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="get_recordings", kind="status", status=404))
    run = Run(sandbox)
    report = await run.backfill()
    assert counts(report) == (7, 6, 0, 1)
    assert not report.ok


async def test_a_listing_that_keeps_failing_stops_the_run_with_an_error(sandbox: ZoomSandbox) -> None:
    sandbox.faults.add(Fault(route="list_recordings", kind="status", status=503, count=10))
    report = await Run(sandbox).backfill()
    assert report.error is not None
    assert "503" in report.error
    assert not report.ok
    assert report.as_dict()["from"] == (TODAY - timedelta(days=45)).isoformat()


async def test_credentials_zoom_refuses_stop_the_run_naming_zooms_reason(sandbox: ZoomSandbox) -> None:
    """Zoom answers a wrong client secret 400 ``invalid_client``: the periodic backfill (no pre-flight) read it as a
    missing user:read scope ("backfilling me only"), then as one refused user, and reported a run that went on."""
    report = await Run(sandbox, zoom_client_secret=SecretStr("wrong-secret")).backfill()

    assert report.error == "zoom oauth token answered 400: 'invalid_client: Invalid client_id or client_secret'"
    assert not report.ok
    assert report.users == {} and report.users_error is None, "no fallback to the app's own user"
    assert report.phone_error is None and report.listings_failed == 0
    assert sandbox.stats.requests["list_recordings"] == 0
    assert "wrong-secret" not in str(report.as_dict())


async def test_meetings_of_users_outside_the_allowlist_are_skipped(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox, allowed_users=("someone-else@example.com",))
    report = await run.backfill()
    # The allowlist applies to the account's users: a user outside it is not even listed.
    assert counts(report) == (0, 0, 0, 0)
    assert (report.users, report.users_not_allowed) == ({}, 1)
    assert run.publisher.events == []


async def test_the_periodic_backfill_catches_up_soon_after_start(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    config = Settings(backfill_interval_seconds=1, backfill_lookback_days=2)
    registry = Tenants([run.tenant, *tenants().all()[1:]])  # globex has no OAuth: left out
    task = asyncio.create_task(run_periodic_backfill(run.intake, registry, config))

    async def published() -> int:
        return len(run.publisher.events)

    try:
        await eventually(published, timeout=10, what="the periodic backfill to publish")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert run.published() == {"/ajXp112QmuoKj4854875=="}  # the only meeting of the last two days


def test_has_oauth_needs_all_three_credentials() -> None:
    tenant = tenants().default()
    assert tenant is not None
    assert not has_oauth(tenant)
    assert not has_oauth(tenant.model_copy(update={"zoom_account_id": "a", "zoom_client_id": "c"}))


def test_month_windows_cover_the_range_in_calendar_months() -> None:
    assert month_windows(date(2024, 1, 15), date(2024, 3, 20)) == [
        (date(2024, 1, 15), date(2024, 2, 14)),
        (date(2024, 2, 15), date(2024, 3, 14)),
        (date(2024, 3, 15), date(2024, 3, 20)),
    ]
    assert month_windows(date(2024, 5, 1), date(2024, 5, 1)) == [(date(2024, 5, 1), date(2024, 5, 1))]
    with pytest.raises(ValueError, match="before it starts"):
        month_windows(date(2024, 5, 2), date(2024, 5, 1))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(min_value=0, max_value=800))
def test_month_windows_are_contiguous_and_each_accepted_by_zoom(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    windows = month_windows(start, end)
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for (_, previous_end), (next_start, _) in itertools.pairwise(windows):
        assert next_start == previous_end + timedelta(days=1)
    for window_start, window_end in windows:
        # Served whole: Zoom answers a longer range for its last month only (the sandbox's recordings_window).
        query = {"from": window_start.isoformat(), "to": window_end.isoformat()}
        assert recordings_window(query, window_end) == (window_start, window_end)


async def test_kafka_down_mid_run_stops_it_instead_of_failing_every_meeting(sandbox: ZoomSandbox) -> None:
    """Before, each meeting still spent its Zoom details call and ended "failed", the run going on to the end."""
    run = Run(sandbox)
    run.publisher.error = KafkaUnavailable("publish not acknowledged in 2 s")
    report = await run.backfill()
    assert report.error is not None and "kafka unavailable" in report.error and not report.ok
    assert (report.new, report.failed) == (0, 0)
    assert sandbox.stats.requests["get_recordings"] == 1, "one Zoom call, not one per meeting"
