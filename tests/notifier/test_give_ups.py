"""Retries that run out round after round end the meeting: failed, one notice, no more provider calls, and
no report after the notice (one story per meeting and generation)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from zoomsymbl_common.consumer import OUTAGE_GIVE_UP
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.providers.base import Insights, JobState, SpeechProvider, SubmittedJob
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.handlers import on_give_up
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.sweeper import Sweeper, _report

from tests.notifier.conftest import Notifier
from tests.notifier.test_fallback import stored_transcript

pytestmark = pytest.mark.integration
GIVE_UPS = 3  # the default of Settings.give_ups_before_failing


class InsightsOutage:
    """Every provider of the pipeline (or only those named in ``only``), with ``fetch_insights`` failing
    (retryably) while ``failing``; ``calls`` counts the failing providers' calls."""

    def __init__(self, notifier: Notifier, only: tuple[str, ...] = ()) -> None:
        self.failing = True
        self.calls = 0
        self._only = only
        self._real = notifier.pipeline.provider_for
        notifier.pipeline.provider_for = self._provider_for

    def _provider_for(self, tenant: TenantConfig) -> SpeechProvider:
        provider = self._real(tenant)
        if self._only and tenant.provider not in self._only:
            return provider
        real_fetch = type(provider).fetch_insights
        outage = self

        async def fetch_insights(job: SubmittedJob) -> Insights:
            outage.calls += 1
            if outage.failing:
                raise RetryableError(f"insights of {tenant.provider} answered 503 for this conversation")
            return await real_fetch(provider, job)

        provider.fetch_insights = fetch_insights  # type: ignore[method-assign]
        return provider


class StatusOutage:
    """Every provider of the pipeline, with ``job_status`` failing (retryably) while ``failing``: the
    provider's API answers 503 for this one job. ``calls`` counts its status and insights calls."""

    def __init__(self, notifier: Notifier) -> None:
        self.failing = True
        self.calls = 0
        self._real = notifier.pipeline.provider_for
        notifier.pipeline.provider_for = self._provider_for

    def _provider_for(self, tenant: TenantConfig) -> SpeechProvider:
        provider = self._real(tenant)
        real_status, real_fetch = type(provider).job_status, type(provider).fetch_insights
        outage = self

        async def job_status(job_id: str) -> JobState:
            outage.calls += 1
            if outage.failing:
                raise RetryableError("job status answered 503 for this job")
            return await real_status(provider, job_id)

        async def fetch_insights(job: SubmittedJob) -> Insights:
            outage.calls += 1
            return await real_fetch(provider, job)

        provider.job_status = job_status  # type: ignore[method-assign]
        provider.fetch_insights = fetch_insights  # type: ignore[method-assign]
        return provider


async def _sweep_when_stale(notifier: Notifier, job: JobRecord) -> int:
    """One sweeper round with the job's last news long ago (the clock moved on); the jobs it polled."""
    await notifier.mongo.db[JOBS].update_one({"_id": job.key}, {"$set": {"updated_at": utcnow() - timedelta(days=1)}})
    return (await Sweeper(notifier.pipeline).sweep()).polled


async def _completed_without_callbacks(notifier: Notifier, meeting_uuid: str) -> JobRecord:
    notifier.symbl.state.faults.update({"drop_callbacks": 100})  # only the sweeper reports the job
    await notifier.submitter.meeting(meeting_uuid, topic="Stuck")
    job = await notifier.submitter.submit(meeting_uuid)
    await notifier.sandbox_done(job)
    return job


async def test_retries_exhausted_in_every_sweep_fail_the_meeting_once(notifier: Notifier) -> None:
    """With the default setting, at the third give-up: the first two leave the job to the next sweep."""
    assert notifier.settings.give_ups_before_failing == GIVE_UPS
    outage = InsightsOutage(notifier)
    job = await _completed_without_callbacks(notifier, "m-stuck")

    for _ in range(GIVE_UPS - 1):
        assert await _sweep_when_stale(notifier, job) == 1
    assert (await notifier.meeting("m-stuck"))["stage"] != "failed"
    assert notifier.smtp.messages == []
    assert await _sweep_when_stale(notifier, job) == 1
    calls = outage.calls

    meeting = await notifier.meeting("m-stuck")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:retry"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    assert len(notifier.dead_letters) == GIVE_UPS
    assert calls > 0

    assert await _sweep_when_stale(notifier, job) == 0, "a failed meeting's job is polled no more"
    assert outage.calls == calls, "no more provider calls"
    assert len(notifier.smtp.messages) == 1 and len(notifier.dead_letters) == GIVE_UPS


async def test_a_job_whose_retries_recover_before_the_limit_completes_with_its_report(notifier: Notifier) -> None:
    outage = InsightsOutage(notifier)
    job = await _completed_without_callbacks(notifier, "m-recovers")

    for _ in range(GIVE_UPS - 1):
        assert await _sweep_when_stale(notifier, job) == 1
    assert (await notifier.meeting("m-recovers"))["stage"] != "failed"
    outage.failing = False
    assert await _sweep_when_stale(notifier, job) == 1

    assert (await notifier.meeting("m-recovers"))["stage"] == "notified"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Meeting summary: Stuck"]
    assert await _sweep_when_stale(notifier, job) == 0
    assert len(notifier.smtp.messages) == 1


async def test_a_job_given_up_after_its_report_was_sent_gets_no_failure_notice(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-e-mail promise: a meeting whose report went out is not failed with a notice after it."""
    advance = notifier.pipeline.meetings.advance

    async def notified_never_recorded(tenant: str, meeting_uuid: str, generation: int, stage: str) -> bool:
        if stage == "notified":
            raise RetryableError("meetings answered 503")
        return await advance(tenant, meeting_uuid, generation, stage)  # type: ignore[arg-type]

    monkeypatch.setattr(notifier.pipeline.meetings, "advance", notified_never_recorded)
    job = await _completed_without_callbacks(notifier, "m-reported")

    for _ in range(GIVE_UPS):
        assert await _sweep_when_stale(notifier, job) == 1

    assert [m["Subject"] for m in notifier.smtp.messages] == ["Meeting summary: Stuck"]
    assert (await notifier.meeting("m-reported"))["stage"] != "failed"
    assert await _sweep_when_stale(notifier, job) == 0, "given up for good, without a second e-mail"
    assert len(notifier.smtp.messages) == 1


async def test_give_ups_after_an_outage_of_our_servers_never_fail_the_meeting(notifier: Notifier) -> None:
    job = await _completed_without_callbacks(notifier, "m-outage")
    reason = f"gave up after 1800 s {OUTAGE_GIVE_UP}: MongoUnavailable: down"
    for _ in range(GIVE_UPS + 1):
        await on_give_up(notifier.pipeline, _report(job, "completed"), "retry", reason)
    meeting = await notifier.meeting("m-outage")
    assert meeting["stage"] != "failed"
    assert notifier.smtp.messages == []
    stored = await notifier.mongo.db[JOBS].find_one({"_id": job.key})
    assert stored is not None and "give_ups" not in stored and stored.get("processed_at") is None


async def test_one_give_up_fails_the_meeting_when_the_setting_says_one(notifier: Notifier) -> None:
    notifier.pipeline.settings = notifier.settings.model_copy(update={"give_ups_before_failing": 1})
    InsightsOutage(notifier)
    job = await _completed_without_callbacks(notifier, "m-impatient")

    assert await _sweep_when_stale(notifier, job) == 1

    meeting = await notifier.meeting("m-impatient")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:retry"
    assert meeting["failure_reason"].startswith("1 rounds of retries failed")
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    assert len(notifier.dead_letters) == 1
    assert await _sweep_when_stale(notifier, job) == 0, "a failed meeting's job is polled no more"


async def _one_give_up_short(notifier: Notifier, meeting_uuid: str) -> tuple[JobRecord, StatusOutage]:
    """A job the provider finished, whose status its API refuses (503) through every report's retries:
    given up on once less than it takes to fail the meeting."""
    outage = StatusOutage(notifier)
    job = await _completed_without_callbacks(notifier, meeting_uuid)
    for _ in range(GIVE_UPS - 1):
        await notifier.publish_to_kafka(_report(job, "completed"))
    return job, outage


async def test_a_late_completion_of_a_given_up_job_sends_no_report_after_the_failure_notice(
    notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider's API recovers after the meeting failed: its news (a late callback, a dead letter replayed,
    a redelivered report) changes nothing and costs no provider call. The host keeps one story: the notice."""
    caplog.set_level(logging.INFO, logger="zoomsymbl.notifier.handlers")
    job, outage = await _one_give_up_short(notifier, "m-late")
    await notifier.publish_to_kafka(_report(job, "completed"))
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    calls = outage.calls
    outage.failing = False

    late = _report(job, "completed")
    await notifier.publish_to_kafka(late)
    await notifier.publish_to_kafka(late)  # and its redelivery, or a replay of the dead letters
    assert await notifier.callback(job, "completed") == 200
    await notifier.processed(job)  # the callback's report went through the consumer

    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    ignored = [r for r in caplog.records if r.getMessage() == "job already finished, report ignored"]
    assert len(ignored) == 3, "each late report was read and left alone"
    assert (await notifier.meeting("m-late"))["stage"] == "failed"
    assert notifier.ready == [], "no insights announced for a failed meeting"
    assert outage.calls == calls, "no provider calls for a given-up job"
    assert (await notifier.job(job))["status"] != "completed"


async def test_a_replacement_zoom_job_completing_after_the_meeting_failed_sends_no_report(
    notifier: Notifier, store: ObjectStore
) -> None:
    """The provider job failed and Zoom's transcript replaces it, but the replacement's insights fail round after
    round: the meeting fails with a notice. When they come through later (the sweeper reports the replacement
    job), the job finishes without a report: the host was told the meeting failed, and it stays failed."""
    outage = InsightsOutage(notifier, only=("zoom",))  # Zoom's transcript standing in for a failed job
    transcript = await stored_transcript(store, "m-replaced")
    notifier.symbl.state.faults.update({"drop_callbacks": 100})
    await notifier.submitter.meeting("m-replaced", topic="Budget review", transcripts=[transcript])
    job = await notifier.submitter.submit("m-replaced", name="budget [fail]")
    await notifier.sandbox_done(job)

    for _ in range(GIVE_UPS):
        await notifier.publish_to_kafka(_report(job, "failed"))
    meeting = await notifier.meeting("m-replaced")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:retry"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Budget review"]
    zoom_doc = await notifier.mongo.db[JOBS].find_one({"provider": "zoom", "meeting_uuid": "m-replaced"})
    assert zoom_doc is not None and zoom_doc.get("processed_at") is None
    zoom_job = JobRecord.from_doc(zoom_doc)
    outage.failing = False

    assert await _sweep_when_stale(notifier, zoom_job) == 1

    finished = await notifier.job(zoom_job)
    assert finished.get("insights_stored_at") is not None and finished.get("processed_at") is not None
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Budget review"]
    assert (await notifier.meeting("m-replaced"))["stage"] == "failed"
    assert notifier.ready == [], "no insights announced for a failed meeting"
    assert await _sweep_when_stale(notifier, zoom_job) == 0, "the replacement is polled no more"
