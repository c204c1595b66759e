"""The backfill and an event Kafka lost after ingest's 200 (or a consumer never read): real MongoDB, the Zoom sandbox.

A receipt says the recording was published; the mixer notes every meeting it begins in ``meetings`` at once. A
meeting with only a day-old receipt was never taken, and the backfill publishes it again; one the mixer began, or
published lately (it may wait in a backlog), is left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS, RECEIPTS
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.stores import UNTAKEN_AFTER, MongoReceipts
from zoomsymbl_ingest.zoom_payload import recording_completed
from zoomsymbl_sandbox.zoom import ZoomSandbox, running_zoom_sandbox

from tests.ingest.support import MemoryTokens, RecordingPublisher, quick_meeting, sandbox_config, sandbox_tenant
from tests.ingest.test_backfill import FAST, no_sleep

pytestmark = pytest.mark.integration

TODAY = utcnow().date()
UUIDS = ("lost==", "begun==", "queued==")


@pytest.fixture
async def sandbox() -> AsyncIterator[ZoomSandbox]:
    start = datetime.combine(TODAY - timedelta(days=2), time(9), tzinfo=UTC)
    async with running_zoom_sandbox(sandbox_config(*(quick_meeting(u, start_time=start) for u in UUIDS))) as running:
        yield running


async def test_a_meeting_published_a_day_ago_that_nothing_took_is_published_again(
    mongo: Mongo, sandbox: ZoomSandbox
) -> None:
    tenant = sandbox_tenant(sandbox)
    publisher = RecordingPublisher()
    intake = Intake(publisher, MongoReceipts(mongo), MemoryTokens(), IngestMetrics.create())
    for uuid in UUIDS:  # each arrived by webhook and was published; its receipt written behind the answer
        await intake.accept(recording_completed("acme", sandbox.meeting_object(uuid), source="webhook"))
    await intake.close()
    long_ago = utcnow() - UNTAKEN_AFTER - timedelta(minutes=1)
    await mongo.db[RECEIPTS].update_many({"meeting_uuid": {"$ne": "queued=="}}, {"$set": {"received_at": long_ago}})
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "begun==", "stage": "notified"})
    publisher.events.clear()

    # A backfill in another process (a restart, the periodic one): nothing of this one's memory helps it.
    later = Intake(publisher, MongoReceipts(mongo), MemoryTokens(), IngestMetrics.create())
    async with ZoomClient(tenant) as client:
        backfill = Backfill(later, tenant, client, policy=FAST, sleep=no_sleep)
        report = await backfill.run(TODAY - timedelta(days=5), TODAY)

    assert report.ok, report
    [event] = publisher.events
    assert isinstance(event, RecordingCompleted) and (event.meeting_uuid, event.source) == ("lost==", "backfill")
    assert (report.new, report.skipped) == (1, 2)


TRANSCRIPT_FIRST = ("transcript-webhook==", "transcript-kept==", "mixed-with-transcript==")


@pytest.fixture
async def transcript_sandbox() -> AsyncIterator[ZoomSandbox]:
    start = datetime.combine(TODAY - timedelta(days=2), time(9), tzinfo=UTC)
    meetings = (quick_meeting(u, start_time=start) for u in TRANSCRIPT_FIRST)
    async with running_zoom_sandbox(sandbox_config(*meetings)) as running:
        yield running


async def test_a_meeting_known_only_by_zooms_transcript_is_published_with_its_audio(
    mongo: Mongo, transcript_sandbox: ZoomSandbox
) -> None:
    """``recording.completed`` lost (ingest down past Zoom's retries), ``recording.transcript_completed`` received: its
    receipt, and the meeting document the mixer keeps the transcript on, made the meeting "seen" by its UUID, so the
    backfill skipped it (and reconciliation counted it archived) while its audio never reached the archive."""
    sandbox = transcript_sandbox
    tenant = sandbox_tenant(sandbox)
    publisher = RecordingPublisher()
    intake = Intake(publisher, MongoReceipts(mongo), MemoryTokens(), IngestMetrics.create())
    vtt = {"id": "vtt-1", "file_type": "TRANSCRIPT", "file_extension": "VTT", "recording_type": "audio_transcript",
           "download_url": "https://zoom.us/rec/download/vtt-1", "status": "completed"}  # fmt: skip
    only_transcript = {**sandbox.meeting_object("transcript-webhook=="), "participant_audio_files": [],
                       "recording_files": [vtt]}  # fmt: skip
    event = recording_completed("acme", only_transcript, source="webhook")
    assert not event.carries_audio
    assert await intake.accept(event) == "published"
    await intake.close()
    kept = [{"file_id": "vtt-2", "kind": "transcript"}]
    await mongo.db[MEETINGS].insert_many([
        {"tenant": "acme", "meeting_uuid": "transcript-kept==", "transcripts": kept},  # the mixer kept it, no audio
        {"tenant": "acme", "meeting_uuid": "mixed-with-transcript==", "transcripts": kept, "stage": "notified"},
    ])  # fmt: skip
    publisher.events.clear()

    later = Intake(publisher, MongoReceipts(mongo), MemoryTokens(), IngestMetrics.create())
    async with ZoomClient(tenant) as client:
        report = await Backfill(later, tenant, client, policy=FAST, sleep=no_sleep).run(
            TODAY - timedelta(days=5), TODAY
        )

    assert report.ok, report
    published = {e.meeting_uuid: e for e in publisher.events if isinstance(e, RecordingCompleted)}
    assert set(published) == {"transcript-webhook==", "transcript-kept=="}
    assert all(e.carries_audio and e.source == "backfill" for e in published.values())
    assert (report.new, report.skipped) == (2, 1)
