"""A provider job that fails completes its meeting from Zoom's transcript when the mixer stored one.

Real MongoDB, S3, Symbl sandbox (its ``[fail]`` marker fails the job) and SMTP sink; Kafka in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from zoomsymbl_common.records import JOBS, TRANSCRIPTIONS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT

pytestmark = pytest.mark.integration
TRANSCRIPT = (Path(__file__).parents[1] / "common" / "fixtures" / "zoom" / "transcript.vtt").read_bytes()


def _text(message: object) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored_transcript(store: ObjectStore, meeting_uuid: str) -> dict[str, object]:
    """Zoom's transcript where the mixer puts it, as the meeting record names it."""
    await store.ensure_bucket()
    key = f"raw/{TENANT}/{meeting_key(meeting_uuid)}/tr-1.vtt"
    size = await store.put_stream(key, _once(TRANSCRIPT))
    return {"file_id": "tr-1", "kind": "transcript", "key": key, "size_bytes": size}


async def test_a_failed_job_with_zoom_transcript_stored_sends_the_report_from_it(
    notifier: Notifier, store: ObjectStore
) -> None:
    transcript = await stored_transcript(store, "m-fallback")
    await notifier.submitter.meeting("m-fallback", topic="Budget review", transcripts=[transcript])
    job = await notifier.submitter.submit("m-fallback", name="budget [fail]")

    failed = await notifier.processed(job)

    assert failed["status"] == "failed"
    [report] = notifier.smtp.messages
    assert report["Subject"] == "Meeting summary: Budget review"
    text = _text(report)
    assert "Source: Zoom transcript, because the speech provider failed (symbl job failed:" in text
    assert "Processing failed" not in text
    [attachment] = list(report.iter_attachments())
    assert "Jürgen Müller" in attachment.get_content()
    meeting = await notifier.meeting("m-fallback")
    assert meeting["stage"] == "notified" and meeting.get("failure") is None
    zoom = await notifier.mongo.db[JOBS].find_one({"provider": "zoom"})
    assert zoom is not None and zoom["processed_at"] is not None
    assert zoom["fallback_reason"].startswith("symbl job failed")
    [ready] = notifier.ready
    assert ready.provider == "zoom"

    # The failed job's report arriving again (a redelivery, the sweeper) changes nothing and mails nobody.
    await notifier.pipeline.confirm_and_apply(job, "test")
    assert len(notifier.smtp.messages) == 1
    assert await notifier.mongo.db[JOBS].count_documents({"provider": "zoom"}) == 1
    assert await notifier.mongo.db[TRANSCRIPTIONS].count_documents({}) == 1


async def test_a_failed_job_without_zoom_transcript_fails_the_meeting_as_before(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-nofallback", topic="Budget review")
    job = await notifier.submitter.submit("m-nofallback", name="budget [fail]")

    await notifier.processed(job)

    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "Processing failed: Budget review"
    assert "Reason: symbl job failed" in _text(notice)
    meeting = await notifier.meeting("m-nofallback")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:provider"
    assert await notifier.mongo.db[JOBS].count_documents({"provider": "zoom"}) == 0
