"""Two jobs of one generation submitted under two plans, one completing and one failing or given up: the host gets
one story of the generation.

As in ``test_two_submissions``: the tenant's provider switched between two deliveries of the same ``AudioMixed``
(Symbl's mono mix, then AssemblyAI's multichannel file), the jobs written by the submitter's own code against the real
MongoDB, S3 and sandboxes, the notifier confirming each status with the provider.

At once: Symbl's whole file finishes while neither submission is recorded; its run joins it (the first plan finished),
moves the meeting to ``completed`` and is on its way to record the report (publishing ``InsightsReady``, a Kafka round
trip an outage stretches). The submitter then records AssemblyAI's submission, whose part failed: that failure's run
found no report recorded yet and the record naming its plan, and failed the meeting: the failure notice went out
although the meeting was completed in this generation, and the report followed it, two e-mails telling the host
opposite things. The notice could not simply be dropped for a completed meeting: a reporting run that dies in that
window is redelivered and joined by the record changed meanwhile (no report at all). Now the meeting keeps the plan its
report joined with the move to ``completed`` (``joined_plan``), every join of the generation takes it, and a failure
judged just before the move sends no notice after it.

One after the other, in a generation run again since: a given-up part of the plan not taken reports the plan taken,
and its run reached the re-run's check, which marked the given-up job's insights stored.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from zoomsymbl_common.events import Event, InsightsReady, MeetingFailed
from zoomsymbl_common.part_plans import Plan
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.tenants import ran_as
from zoomsymbl_notifier import failed_parts
from zoomsymbl_notifier.assembly import Publish
from zoomsymbl_notifier.failed_parts import Judgement
from zoomsymbl_notifier.handlers import on_give_up
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.meetings import Meetings
from zoomsymbl_notifier.outbox import Outbox
from zoomsymbl_notifier.sweeper import _report

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Rig, first_delivery, redelivery
from tests.notifier.test_two_submissions_failures import NOTICE, confirm_failed, fail_next_job, stage, subjects
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier


async def test_a_failed_part_recorded_while_the_other_submission_is_reported_sends_no_notice(rig: Rig) -> None:
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    await fail_next_job(rig, rig.notifier.submitter.assemblyai_url)
    aai, [aai_part] = await redelivery(rig, count=1, mark=False)

    # Symbl's run is held where it announces the report: the meeting is completed, the e-mail not recorded yet.
    reporting, go_on = asyncio.Event(), asyncio.Event()
    publish = rig.pipeline.publish

    async def held_announcement(event: Event) -> None:
        if isinstance(event, InsightsReady) and not go_on.is_set():
            reporting.set()
            await go_on.wait()
        await publish(event)

    rig.pipeline = dataclasses.replace(rig.pipeline, publish=held_announcement)
    completing = asyncio.create_task(rig.complete(symbl.key(symbl_part)))
    try:
        await asyncio.wait_for(reporting.wait(), timeout=60)
        assert await stage(rig) == "completed"

        await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 1)
        failed = await confirm_failed(rig, aai.key(aai_part))
    finally:
        go_on.set()
    done = await completing

    assert NOTICE not in subjects(rig), "no failure notice for a meeting completed in this generation"
    assert len(rig.notifier.smtp.messages) == 1, "Symbl's report, once"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("symbl", (done.conversation_id,))
    assert failed.processed, "nothing more to do for the failed part"
    assert await stage(rig) == "notified"


async def test_a_reporting_run_that_died_is_redelivered_and_reports_the_plan_it_joined(rig: Rig) -> None:
    """Symbl's run joined its plan (none recorded), moved the meeting to ``completed`` and died announcing the report;
    the submitter recorded AssemblyAI's submission meanwhile. The redelivery joined by that record: AssemblyAI's part
    had not finished, so it waited, and no report ever went out."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    aai, _ = await redelivery(rig, count=1, mark=False)
    publish = broker_gone(rig)
    with pytest.raises(ConnectionError):
        await rig.complete(symbl.key(symbl_part))
    assert await stage(rig) == "completed" and rig.notifier.smtp.messages == []
    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 1)

    rig.pipeline = dataclasses.replace(rig.pipeline, publish=publish)
    done = await rig.complete(symbl.key(symbl_part))  # the redelivery

    assert len(rig.notifier.smtp.messages) == 1 and NOTICE not in subjects(rig)
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("symbl", (done.conversation_id,))
    assert await stage(rig) == "notified"


async def test_a_failure_judged_before_the_meeting_completed_sends_no_notice_after_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Symbl's run joined its plan (none recorded) and is held before its move to ``completed``; the submitter records
    AssemblyAI's submission and its failed part is judged failing the meeting (the record names its plan). Symbl's run
    then completes the meeting and reports it; the failure's run, going on, found the meeting not failed by it and
    sent its notice all the same: the report and a notice."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    await fail_next_job(rig, rig.notifier.submitter.assemblyai_url)
    aai, [aai_part] = await redelivery(rig, count=1, mark=False)
    joined, go_on = hold_the_first_join(rig, monkeypatch)  # Symbl's run's: then AssemblyAI's runs go by
    completing = asyncio.create_task(rig.complete(symbl.key(symbl_part)))
    judge = failed_parts.judge

    async def judged_then_completed(jobs: Jobs, outbox: Outbox, meetings: Meetings, job: JobRecord) -> Judgement:
        judgement = await judge(jobs, outbox, meetings, job)
        go_on.set()
        await completing  # Symbl's run completes and reports the meeting here
        return judgement

    monkeypatch.setattr(failed_parts, "judge", judged_then_completed)
    try:
        await asyncio.wait_for(joined.wait(), timeout=60)
        await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 1)
        failed = await confirm_failed(rig, aai.key(aai_part))
    finally:
        go_on.set()
    await completing

    assert NOTICE not in subjects(rig), "no failure notice"
    assert len(rig.notifier.smtp.messages) == 1, "Symbl's report, once"
    assert [ready.provider for ready in rig.notifier.ready] == ["symbl"]
    assert failed.processed
    assert await stage(rig) == "notified"


async def test_two_submissions_finishing_at_once_announce_the_one_that_completed_the_meeting(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither recorded. AssemblyAI's run stored its part's insights and joined its plan (it sorts first), and is held;
    Symbl's run, which cannot see AssemblyAI's part done yet (a one-part job's mark is set at the end of its run),
    joins Symbl's plan, completes the meeting and reports it. AssemblyAI's run then went on to announce its own plan's
    insights as the generation's (the e-mail was stopped by the outbox, not the announcement)."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    aai, [aai_part] = await redelivery(rig, count=1, mark=False)
    joined, go_on = hold_the_first_join(rig, monkeypatch)  # AssemblyAI's run's
    completing = asyncio.create_task(rig.complete(aai.key(aai_part)))
    try:
        await asyncio.wait_for(joined.wait(), timeout=60)
        done = await rig.complete(symbl.key(symbl_part))
    finally:
        go_on.set()
    await completing

    assert len(rig.notifier.smtp.messages) == 1
    assert [(ready.provider, ready.conversation_ids) for ready in rig.notifier.ready] == [
        ("symbl", (done.conversation_id,))
    ]
    assert (await rig.job(aai.key(aai_part))).processed


async def test_a_given_up_part_of_a_generation_run_again_stands_in_nothing_of_its_own(rig: Rig) -> None:
    """A generation of two submissions is run again (a forced replay) while they run. Symbl's whole file finishes
    after that (recorded, no report: the newer generation's is owed). AssemblyAI's job completed at its provider, and
    the notifier gave it up (its transcript unreadable here, say): ignored, its run sends the report of the submission
    the generation takes if that finished unreported, and so reaches the re-run's check. That check marked the given-up
    job's insights stored (it marks the job whose insights its run stored): none are. When the newer generation then
    failed, that job's submission counted as finished and stood in first, its insights were found missing, and the host
    got a failure notice instead of Symbl's report of the earlier generation."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    aai, [aai_part] = await redelivery(rig, count=1, mark=False)
    given_up = await rig.job(aai.key(aai_part))
    provider = rig.pipeline.provider_for(ran_as(rig.pipeline.tenant_of(given_up), "assemblyai"))

    async def finished() -> bool:
        return (await provider.job_status(given_up.job_id)).status == "completed"

    await eventually(finished, what="AssemblyAI's job to complete")
    assert await rig.pipeline.jobs.apply_status(given_up, "completed", None, "callback")
    meeting = {"tenant": rig.event.tenant, "meeting_uuid": rig.event.meeting_uuid}
    await rig.notifier.mongo.db[MEETINGS].update_one(meeting, {"$inc": {"generation": 1}})  # the forced replay
    await rig.complete(symbl.key(symbl_part))
    assert rig.notifier.smtp.messages == [], "the re-run's report is owed, not this one"

    await on_give_up(rig.pipeline, _report(given_up, "completed"), "assemble", "transcript unreadable")

    assert not (await rig.job(given_up.key)).insights_stored, "no insights of it were stored"
    await rig.notifier.mongo.db[MEETINGS].update_one(meeting, {"$set": {"stage": "failed"}})
    failed = MeetingFailed(
        event_id="failed-1", tenant=rig.event.tenant, meeting_uuid=rig.event.meeting_uuid, generation=1,
        service="submitter", stage="submit", reason="the provider refused the file",
    )  # fmt: skip
    await rig.pipeline.on_meeting_failed(failed, rig.pipeline.tenant_of(given_up))

    [subject] = subjects(rig)
    assert "Processing failed" not in subject, f"the earlier generation's report stands in: {subject!r}"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.generation) == ("symbl", 0)


def hold_the_first_join(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the first run that reads the meeting's record to join a plan, right after the read (a run at that point
    has chosen its plan): ``joined`` is set once it is held, and it goes on once ``go_on`` is set; later runs go by."""
    joined, go_on = asyncio.Event(), asyncio.Event()
    submissions = rig.pipeline.jobs.submissions
    recorded = submissions.recorded

    async def held_after_the_join(tenant: str, meeting_uuid: str, generation: int) -> Plan | None:
        plan = await recorded(tenant, meeting_uuid, generation)
        if not joined.is_set():
            joined.set()
            await go_on.wait()
        return plan

    monkeypatch.setattr(submissions, "recorded", held_after_the_join)
    return joined, go_on


def broker_gone(rig: Rig) -> Publish:
    """From now on the notifier's announcement of a report (``InsightsReady``) fails as if the broker went away (the
    run dies there); the publish as it was is returned, to put back."""
    publish = rig.pipeline.publish

    async def failing(event: Event) -> None:
        if isinstance(event, InsightsReady):
            raise ConnectionError("the broker went away")
        await publish(event)

    rig.pipeline = dataclasses.replace(rig.pipeline, publish=failing)
    return publish
