"""A provider job that never ends is failed ``job_give_up_after_seconds`` after its submission.

Before, nothing ended such a job: the provider kept it queued or processing (or our transcriber's work order was
dead-lettered with the job ``in_progress``, or no transcriber was deployed), the sweeper polled it with ever longer
waits for ever, and the host never heard of the meeting. Now the meeting fails with a notice naming why (or takes
Zoom's transcript, the path of any provider failure).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.providers.base import JobState, SpeechProvider
from zoomsymbl_common.records import JOBS, TRANSCRIPTIONS
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.overdue import judged
from zoomsymbl_notifier.sweeper import Sweeper
from zoomsymbl_sandbox.provider_jobs import JobTimings

from tests.notifier.conftest import Notifier
from tests.notifier.harness import HOST, TENANT, SymblSandbox
from tests.support.providers import ProviderSandboxes, url

LIMIT = 48 * 3600.0


@pytest.fixture
async def symbl(sandboxes: ProviderSandboxes) -> SymblSandbox:
    """A Symbl whose jobs stay queued, then processing, for hours: past the test's life."""
    server = await sandboxes.symbl(timings=JobTimings(3600, 3600), max_concurrent_jobs=10)
    return SymblSandbox(server, url(server))


async def submitted_ago(notifier: Notifier, meeting_uuid: str, ago: timedelta) -> JobRecord:
    """A job submitted ``ago``, with no news for longer than the sweeper's stale period."""
    await notifier.submitter.meeting(meeting_uuid, topic="Stuck")
    job = await notifier.submitter.submit(meeting_uuid)
    stale = timedelta(seconds=notifier.settings.sweeper_stale_after_seconds + 1)
    update = {"$set": {"submitted_at": utcnow() - ago, "updated_at": utcnow() - stale}}
    await notifier.mongo.db[JOBS].update_one({"_id": job.key}, update)
    return job


async def overdue_whisper_job(notifier: Notifier, name: str, status: str, *, topic: str) -> dict[str, Any]:
    """A Whisper job of meeting ``m-{name}`` submitted 49 h ago, its work order ``whisper-{name}`` still ``status``."""
    await notifier.submitter.meeting(f"m-{name}", topic=topic)
    stale = timedelta(seconds=notifier.settings.sweeper_stale_after_seconds + 1)
    job_doc = {"_id": f"k-{name}", "idempotency_key": f"k-{name}", "job_ref": f"k-{name}", "tenant": TENANT,
               "meeting_uuid": f"m-{name}", "provider": "whisper", "status": status, "job_id": f"whisper-{name}",
               "conversation_id": f"whisper-{name}", "submitted_at": utcnow() - timedelta(hours=49),
               "updated_at": utcnow() - stale, "history": []}  # fmt: skip
    await notifier.mongo.db[JOBS].insert_one(job_doc)
    order = {
        "_id": f"whisper-{name}",
        "status": status,
        "bucket": "b",
        "object_key": "mixed/acme/m.flac",
        "channels": 2,
    }
    await notifier.mongo.db[TRANSCRIPTIONS].insert_one(order)
    return job_doc


@pytest.mark.integration
async def test_a_job_without_a_result_past_the_limit_fails_its_meeting_with_a_notice(notifier: Notifier) -> None:
    assert notifier.settings.job_give_up_after_seconds == LIMIT, "the default"
    job = await submitted_ago(notifier, "m-overdue", timedelta(hours=49))
    report = await Sweeper(notifier.pipeline).sweep()
    assert (report.polled, report.reported) == (1, 1)
    done = await notifier.processed(job)

    assert done["status"] == "failed"
    assert done["status_reason"].startswith("no result from the provider 48 h after the submission (still ")
    meeting = await notifier.meeting("m-overdue")
    assert meeting["stage"] == "failed" and "no result from the provider 48 h" in meeting["failure_reason"]
    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "Processing failed: Stuck" and notice["To"] == HOST
    assert "no result from the provider 48 h" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert (await Sweeper(notifier.pipeline).sweep()).polled == 0, "a failed job is polled no more"


@pytest.mark.integration
@pytest.mark.parametrize(("ago", "limit"), [(timedelta(hours=47), LIMIT), (timedelta(days=60), 0.0)])
async def test_a_job_within_the_limit_or_with_none_is_left_to_its_provider(
    notifier: Notifier, ago: timedelta, limit: float
) -> None:
    settings = notifier.pipeline.settings.model_copy(update={"job_give_up_after_seconds": limit})
    pipeline = dataclasses.replace(notifier.pipeline, settings=settings)
    job = await submitted_ago(notifier, "m-waiting", ago)
    report = await Sweeper(pipeline).sweep()
    assert (report.polled, report.reported) == (1, 0)
    assert (await notifier.job(job))["status"] == "scheduled"
    assert (await notifier.meeting("m-waiting"))["stage"] == "submitted"
    assert notifier.smtp.messages == []


def test_a_final_state_or_a_job_without_its_submission_time_is_never_judged_overdue() -> None:
    old = {"_id": "k", "idempotency_key": "k", "job_ref": "k", "tenant": "acme", "meeting_uuid": "m==",
           "provider": "assemblyai", "status": "in_progress", "submitted_at": utcnow() - timedelta(days=9)}  # fmt: skip
    job = JobRecord.from_doc(old)
    done, waiting = JobState("completed"), JobState("in_progress")
    assert judged(done, job, LIMIT, utcnow()) is done
    assert judged(waiting, job, LIMIT, utcnow()).status == "failed"
    assert judged(waiting, dataclasses.replace(job, submitted_at=None), LIMIT, utcnow()) is waiting


@pytest.mark.integration
async def test_an_overdue_whisper_job_fails_its_work_order_so_no_worker_spends_hours_on_it(notifier: Notifier) -> None:
    """Before, the work order stayed ``scheduled``: a transcriber backlog past the limit kept its overdue jobs,
    transcribed for nobody, and pushed the later ones past the limit in turn."""
    job_doc = await overdue_whisper_job(notifier, "whisper", "scheduled", topic="Stuck")
    assert (await Sweeper(notifier.pipeline).sweep()).reported == 1
    done = await notifier.processed(JobRecord.from_doc(job_doc))

    assert done["status"] == "failed"
    stopped = await notifier.mongo.db[TRANSCRIPTIONS].find_one({"_id": "whisper-whisper"})
    assert stopped is not None and stopped["status"] == "failed"
    assert stopped["error"].startswith("no result from the provider 48 h after the submission")
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]


@pytest.mark.integration
async def test_a_whisper_job_that_ends_while_judged_overdue_keeps_its_own_outcome(notifier: Notifier) -> None:
    """The worker finished the order between the status asked and the abandon: before, the abandon (which changes
    nothing then) was ignored and the job failed as overdue, whatever the order's own outcome."""
    job_doc = await overdue_whisper_job(notifier, "ending", "in_progress", topic="Ending")
    provider_for = notifier.pipeline.provider_for

    def finishing(which: TenantConfig) -> SpeechProvider:
        provider = provider_for(which)
        asked = provider.job_status

        async def job_status(job_id: str) -> JobState:
            state = await asked(job_id)
            ended = {"status": "failed", "error": "the worker's own failure: ffmpeg broke", "finished_at": utcnow()}
            await notifier.mongo.db[TRANSCRIPTIONS].update_one(
                {"_id": job_id, "status": "in_progress"}, {"$set": ended}
            )
            return state

        provider.job_status = job_status  # type: ignore[method-assign]
        return provider

    pipeline = dataclasses.replace(notifier.pipeline, provider_for=finishing)
    await pipeline.confirm_and_apply(JobRecord.from_doc(job_doc), "sweeper")

    done = await notifier.job(JobRecord.from_doc(job_doc))
    assert (done["status"], done["status_reason"]) == ("failed", "the worker's own failure: ffmpeg broke")
    stored = await notifier.mongo.db[TRANSCRIPTIONS].find_one({"_id": "whisper-ending"})
    assert stored is not None and stored["error"] == "the worker's own failure: ffmpeg broke"
