"""Backfill of Zoom Phone recordings against the sandbox: /phone/recordings paged, 429s waited out, once each."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from zoomsymbl_common.events import Event, RecordingCompleted
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.backfill_command import summary
from zoomsymbl_ingest.backfill_report import BackfillReport
from zoomsymbl_ingest.phone_payload import phone_recording_completed
from zoomsymbl_sandbox.zoom import Fault, PhoneCallSpec, ZoomSandbox, running_zoom_sandbox

from tests.ingest.support import RecordingPublisher, sandbox_config
from tests.ingest.test_backfill import FAST, TODAY, Run
from tests.ingest.test_handlers_phone import DOCUMENTED
from tests.ingest.test_paging import FakeZoom, backfill_of

# Over two calendar months (two listing windows), more than one page each at page_size 2.
CALLS = {"call-a": 1, "call-b": 2, "call-c": 3, "call-d": 33, "call-e": 34, "call-f": 35}
LINES = (("caller", "Hello?"), ("callee", "Hi."))


def started(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(9), tzinfo=UTC)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    async with running_zoom_sandbox(sandbox_config()) as running:
        for recording_id, days in CALLS.items():
            await running.add_phone_call(
                PhoneCallSpec(recording_id=recording_id, start_time=started(days), lines=LINES)
            )
        yield running


def counts(report: BackfillReport) -> tuple[int, int, int, int]:
    return report.seen, report.new, report.skipped, report.failed


async def test_phone_recordings_are_backfilled_page_by_page_despite_429s(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    webhook = phone_recording_completed("acme", sandbox.phone_recording("call-b"), source="webhook")
    await run.intake.accept(webhook)  # this one arrived by webhook earlier
    run.publisher.events.clear()
    sandbox.faults.add(Fault(route="phone_recordings", kind="status", status=429, retry_after=1, count=2))
    sandbox.faults.add(Fault(route="phone_recordings", kind="status", status=429))  # no Retry-After: back off

    report = await run.backfill(days=45, page_size=2)

    assert report.ok, report
    assert report.phone_recordings == 6
    assert counts(report) == (6, 5, 1, 0)
    assert run.published() == {f"phone:{r}" for r in CALLS} - {"phone:call-b"}
    events = [e for e in run.publisher.events if isinstance(e, RecordingCompleted)]
    assert len(events) == 5 and all(e.platform == "zoom_phone" and e.source == "backfill" for e in events)
    assert sandbox.stats.responses_429 == 3
    # Two windows of three calls, two per page: two pages each, plus the three answered 429.
    assert sandbox.stats.requests["phone_recordings"] == 4 + 3
    assert "(phone recordings: 6)" in summary(report)


async def test_a_second_phone_backfill_publishes_nothing_new(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    assert counts(await run.backfill(days=45)) == (6, 6, 0, 0)
    assert counts(await run.backfill(days=45)) == (6, 0, 6, 0)
    assert len(run.publisher.events) == 6


async def test_backfilled_and_webhook_phone_events_are_the_same_event(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    await run.backfill(days=1)
    [event] = run.publisher.events
    assert isinstance(event, RecordingCompleted) and event.meeting_uuid == "phone:call-a"
    assert (
        event.event_id
        == phone_recording_completed("acme", sandbox.phone_recording("call-a"), source="webhook").event_id
    )
    assert event.phone_call is not None and event.phone_call.caller.name == "Jack Chill"


async def test_an_account_without_zoom_phone_is_noted_not_failed(sandbox: ZoomSandbox) -> None:
    """Zoom's documented answer where Zoom Phone is not set up: 403."""
    sandbox.faults.add(Fault(route="phone_recordings", kind="status", status=403, count=10))
    report = await Run(sandbox).backfill(days=45)
    assert report.ok
    assert report.phone_error is not None and "403" in report.phone_error
    assert report.phone_recordings == 0
    assert sandbox.stats.requests["phone_recordings"] == 1, "not asked again for the second window"
    assert "phone recordings not listed" in summary(report)


@pytest.mark.parametrize("status", [404, 400])
async def test_a_phone_listing_refused_otherwise_on_its_first_page_is_not_an_ok_run(
    sandbox: ZoomSandbox, status: int
) -> None:
    """Before, any refusal of the first page read as "no Zoom Phone": none of the 6 recordings was listed and the run
    said ok (exit 0)."""
    sandbox.faults.add(Fault(route="phone_recordings", kind="status", status=status, count=10))
    report = await Run(sandbox).backfill(days=45)
    assert report.phone_error is not None and f"answered {status}" in report.phone_error
    assert not report.ok and report.listings_failed == 1 and report.phone_recordings == 0
    assert "1 listing(s) refused by Zoom" in summary(report)


async def test_the_phone_listing_is_paced_under_the_category_limit(sandbox: ZoomSandbox) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    run = Run(sandbox)
    async with ZoomClient(run.tenant) as client:
        job = Backfill(
            run.intake, run.tenant, client, policy=FAST, sleep=sleep, page_size=1, phone_requests_per_second=20
        )
        job.clock = lambda: 0.0  # a clock that never moves: every listing call after the first waits
        await job.run(TODAY - timedelta(days=4), TODAY)
    assert waits and all(w == pytest.approx(0.05) for w in waits)


async def test_a_phone_recording_no_event_can_hold_is_counted_and_the_run_goes_on() -> None:
    documented = json.loads(DOCUMENTED.read_text())["payload"]["object"]["recordings"][0]
    entries = ({**documented, "id": "r" * 251}, {**documented, "id": "good-recording"})
    zoom = FakeZoom(lambda _: "", phone_entries=entries)  # one page, then the end
    job, metrics = backfill_of(zoom)
    report = await job.run(TODAY, TODAY)
    assert report.error is None
    assert (report.phone_recordings, report.new, report.failed) == (2, 1, 1)
    published = job.intake.publisher
    assert isinstance(published, RecordingPublisher)
    assert [e.meeting_uuid for e in published.events] == ["phone:good-recording"]
    labels = {"source": "backfill"}
    assert metrics.registry.get_sample_value("zoomsymbl_ingest_invalid_recordings_total", labels) == 1


class AfterFirstEvent(RecordingPublisher):
    """Publishes like Kafka; after the first event, ``then`` runs once (a page has been read by then)."""

    def __init__(self, then: Callable[[], object]) -> None:
        super().__init__()
        self.then: Callable[[], object] | None = then

    async def publish(self, event: Event, *, timeout: float) -> None:
        await super().publish(event, timeout=timeout)
        then, self.then = self.then, None
        if then is not None:
            then()


async def test_an_expired_phone_page_token_lists_the_window_again(sandbox: ZoomSandbox) -> None:
    """Before, an expired token was taken for "no Zoom Phone": the listing stopped for this window and all later.
    Then the recordings listed again were counted again (seen 8 and skipped 2 of 6, each published once)."""
    run = Run(sandbox)
    run.publisher = AfterFirstEvent(sandbox.expire_page_tokens)
    run.intake.publisher = run.publisher
    report = await run.backfill(days=45, page_size=2)
    assert report.ok and report.phone_error is None and report.listing_restarts == 1
    assert run.published() == {f"phone:{r}" for r in CALLS}
    assert counts(report) == (6, 6, 0, 0) and report.phone_recordings == 6


async def test_a_phone_listing_refused_after_a_page_is_not_an_ok_run(sandbox: ZoomSandbox) -> None:
    run = Run(sandbox)
    run.publisher = AfterFirstEvent(lambda: sandbox.faults.add(Fault(route="phone_recordings", kind="status",
                                                                     status=403, count=10)))  # fmt: skip
    run.intake.publisher = run.publisher
    report = await run.backfill(days=45, page_size=2)
    assert report.phone_error is not None and "403" in report.phone_error
    assert not report.ok and report.listings_failed == 1 and report.phone_pages == 1
