"""Retries that run out round after round end the meeting: failed, one notice, no more provider calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_common.consumer import OUTAGE_GIVE_UP
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.providers.base import Insights, SpeechProvider, SubmittedJob
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier.handlers import GIVE_UPS_BEFORE_FAILING, on_give_up
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.sweeper import Sweeper, _report

from tests.notifier.conftest import Notifier

pytestmark = pytest.mark.integration


class InsightsOutage:
    """Every provider of the pipeline, with ``fetch_insights`` failing (retryably) while ``failing``."""

    def __init__(self, notifier: Notifier) -> None:
        self.failing = True
        self.calls = 0
        self._real = notifier.pipeline.provider_for
        notifier.pipeline.provider_for = self._provider_for

    def _provider_for(self, tenant: TenantConfig) -> SpeechProvider:
        provider = self._real(tenant)
        real_fetch = type(provider).fetch_insights
        outage = self

        async def fetch_insights(job: SubmittedJob) -> Insights:
            outage.calls += 1
            if outage.failing:
                raise RetryableError("insights answered 503 for this conversation")
            return await real_fetch(provider, job)

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
    outage = InsightsOutage(notifier)
    job = await _completed_without_callbacks(notifier, "m-stuck")

    for _ in range(GIVE_UPS_BEFORE_FAILING):
        assert await _sweep_when_stale(notifier, job) == 1
    calls = outage.calls

    meeting = await notifier.meeting("m-stuck")
    assert meeting["stage"] == "failed" and meeting["failed_stage"] == "notifier:retry"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    assert len(notifier.dead_letters) == GIVE_UPS_BEFORE_FAILING
    assert calls > 0

    assert await _sweep_when_stale(notifier, job) == 0, "a failed meeting's job is polled no more"
    assert outage.calls == calls, "no more provider calls"
    assert len(notifier.smtp.messages) == 1 and len(notifier.dead_letters) == GIVE_UPS_BEFORE_FAILING


async def test_a_job_whose_retries_recover_before_the_limit_completes_with_its_report(notifier: Notifier) -> None:
    outage = InsightsOutage(notifier)
    job = await _completed_without_callbacks(notifier, "m-recovers")

    for _ in range(GIVE_UPS_BEFORE_FAILING - 1):
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

    for _ in range(GIVE_UPS_BEFORE_FAILING):
        assert await _sweep_when_stale(notifier, job) == 1

    assert [m["Subject"] for m in notifier.smtp.messages] == ["Meeting summary: Stuck"]
    assert (await notifier.meeting("m-reported"))["stage"] != "failed"
    assert await _sweep_when_stale(notifier, job) == 0, "given up for good, without a second e-mail"
    assert len(notifier.smtp.messages) == 1


async def test_give_ups_after_an_outage_of_our_servers_never_fail_the_meeting(notifier: Notifier) -> None:
    job = await _completed_without_callbacks(notifier, "m-outage")
    reason = f"gave up after 1800 s {OUTAGE_GIVE_UP}: MongoUnavailable: down"
    for _ in range(GIVE_UPS_BEFORE_FAILING + 1):
        await on_give_up(notifier.pipeline, _report(job, "completed"), "retry", reason)
    meeting = await notifier.meeting("m-outage")
    assert meeting["stage"] != "failed"
    assert notifier.smtp.messages == []
    stored = await notifier.mongo.db[JOBS].find_one({"_id": job.key})
    assert stored is not None and "give_ups" not in stored and stored.get("processed_at") is None
