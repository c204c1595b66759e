"""The job-status consumer: unknown jobs are dead-lettered, poison input fails the meeting once."""

from __future__ import annotations

import pytest
from zoomsymbl_common.events import JobStatusReported
from zoomsymbl_common.mongo import JOBS
from zoomsymbl_sandbox.provider_testkit import CallbackReceiver

from tests.notifier.conftest import Notifier

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
    assert (await notifier.job(job))["status"] == "submitted"
