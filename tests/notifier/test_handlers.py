"""The job-status consumer: unknown jobs are dead-lettered, poison input fails the meeting once.

The meeting-failure consumer: a meeting the mixer or submitter gave up on gets one failure notice.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from zoomsymbl_common.events import JobStatusReported, MeetingFailed, RecordingCompleted, Service
from zoomsymbl_common.records import JOBS, MEETINGS, Failure
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.notifier.conftest import Notifier
from tests.notifier.harness import ARCHIVE, HOST

pytestmark = pytest.mark.integration


async def test_a_report_about_an_unknown_job_is_dead_lettered_without_touching_meetings(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-x")
    event = JobStatusReported(
        event_id="e-unknown", tenant="acme", meeting_uuid="m-x", provider="symbl", job_id="nope", reported_status="done"
    )
    await notifier.publish_to_kafka(event)
    [letter] = notifier.dead_letters
    assert letter.event_id == "e-unknown" and "nope" in letter.reason
    assert (await notifier.meeting("m-x"))["stage"] == "submitted"


async def test_insights_that_can_never_be_fetched_fail_the_meeting_with_a_notice(
    notifier: Notifier, receiver: CallbackReceiver
) -> None:
    await notifier.submitter.meeting("m-poison", topic="Broken")
    job = await notifier.submitter.submit("m-poison", webhook_url=f"{receiver.base_url}/cb")
    await notifier.sandbox_done(job)
    # The provider no longer knows the conversation: every insights call answers 404.
    await notifier.mongo.db[JOBS].update_one({"_id": job.key}, {"$set": {"conversation_id": "0000"}})

    assert await notifier.callback(job, "completed") == 200
    await notifier.processed(job)

    meeting = await notifier.meeting("m-poison")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:insights"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Broken"]
    assert len(notifier.dead_letters) == 1


async def test_a_report_naming_another_meeting_is_dead_lettered(notifier: Notifier, receiver: CallbackReceiver) -> None:
    await notifier.submitter.meeting("m-a")
    job = await notifier.submitter.submit("m-a", webhook_url=f"{receiver.base_url}/cb")
    event = JobStatusReported(
        event_id="e-other", tenant="acme", meeting_uuid="m-b", provider="symbl", job_id=job.job_id, reported_status="x"
    )
    await notifier.publish_to_kafka(event)
    assert [d.event_id for d in notifier.dead_letters] == ["e-other"]
    assert (await notifier.job(job))["status"] == "scheduled"


def _failure(
    meeting_uuid: str,
    *,
    tenant: str = "acme",
    generation: int = 0,
    service: Service = "mixer",
    stage: str = "download",
    reason: str = "zoom refused file 'f1': status 200, code 3301",
) -> MeetingFailed:
    source = RecordingCompleted(event_id="rc", tenant=tenant, meeting_uuid=meeting_uuid, generation=generation)
    return MeetingFailed.of(source, service, stage, reason)


async def _failed_meeting(notifier: Notifier, meeting_uuid: str, topic: str = "Board meeting") -> None:
    failure = Failure.build("mixer", "download", "zoom refused file 'f1'").to_document()
    await notifier.submitter.meeting(meeting_uuid, topic=topic, stage="failed", failure=failure)


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def test_a_meeting_the_mixer_gave_up_on_ends_in_one_notice_with_stage_and_reason(notifier: Notifier) -> None:
    await _failed_meeting(notifier, "m-zoom")

    await notifier.publish_to_kafka(_failure("m-zoom"))

    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "Processing failed: Board meeting"
    assert (notice["To"], notice["Cc"]) == (HOST, ARCHIVE)
    text = _text(notice)
    assert "Stage: downloading the recording from Zoom (mixer: download)" in text
    assert "Reason: zoom refused file 'f1': status 200, code 3301" in text
    assert notifier.dead_letters == []


async def test_redelivered_duplicated_and_replayed_failures_send_no_second_notice(notifier: Notifier) -> None:
    await _failed_meeting(notifier, "m-dup")
    failure = _failure("m-dup")

    await notifier.publish_to_kafka(failure)  # first delivery
    await notifier.publish_to_kafka(failure)  # redelivery (same event id)
    await notifier.publish_to_kafka(failure.model_copy(update={"event_id": "replayed"}))
    await notifier.publish_to_kafka(_failure("m-dup", service="submitter", stage="submit", reason="HTTP 400"))

    assert len(notifier.smtp.messages) == 1


async def test_a_notice_after_a_provider_failure_of_the_same_meeting_is_not_sent_twice(notifier: Notifier) -> None:
    await notifier.submitter.meeting("m-both")
    job = await notifier.submitter.submit("m-both", webhook_url="http://127.0.0.1:9/unused")
    tenant = notifier.pipeline.tenants.get("acme")
    assert tenant is not None
    await notifier.pipeline.fail_meeting(job, tenant, "provider", "symbl job failed: nope")

    await notifier.publish_to_kafka(_failure("m-both", service="submitter", stage="retry", reason="late"))

    [notice] = notifier.smtp.messages
    assert "Stage: transcription at the provider (notifier: provider)" in _text(notice)


@pytest.mark.parametrize(
    ("stage", "generation"),
    [
        ("notified", 0),  # re-mixed and finished after the failure
        ("failed", 1),  # a forced re-run failed again: its own event tells
    ],
)
async def test_a_late_failure_of_a_meeting_that_moved_on_tells_nobody(
    notifier: Notifier, stage: str, generation: int
) -> None:
    await notifier.submitter.meeting("m-late", generation=generation, stage=stage)

    await notifier.publish_to_kafka(_failure("m-late", generation=0))

    assert notifier.smtp.messages == []
    assert notifier.dead_letters == []


async def test_a_failure_of_an_unknown_tenant_is_dead_lettered_and_mails_nobody(notifier: Notifier) -> None:
    await notifier.publish_to_kafka(_failure("m-nobody", tenant="ghost"))

    [letter] = notifier.dead_letters
    assert letter.source_topic.endswith("meeting.failed.v1") and "unknown tenant 'ghost'" in letter.reason
    assert notifier.smtp.messages == []
    assert await notifier.mongo.db[MEETINGS].find_one({"meeting_uuid": "m-nobody"}) is None


async def test_a_bug_in_a_handler_is_retried_then_dead_lettered_with_its_class_not_redelivered_forever(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def broken(event: MeetingFailed, tenant: object) -> None:
        nonlocal calls
        calls += 1
        raise TypeError("'NoneType' object is not subscriptable")

    monkeypatch.setattr(notifier.pipeline, "on_meeting_failed", broken)
    await notifier.publish_to_kafka(_failure("m-bug"))
    assert calls == 3  # the notifier harness's budget
    [letter] = notifier.dead_letters
    assert letter.error_type == "TypeError"
    assert letter.reason == "gave up after 3 attempts: TypeError: 'NoneType' object is not subscriptable"
