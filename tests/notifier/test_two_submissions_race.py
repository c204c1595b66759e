"""Two jobs of one generation submitted under two plans, one completing and one failing or given up: the host gets
one story of the generation.

As in ``test_two_submissions``: the tenant's provider switched between two deliveries of the same ``AudioMixed``
(Symbl's mono mix, then AssemblyAI's multichannel file), the jobs written by the submitter's own code against the real
MongoDB, S3 and sandboxes, the notifier confirming each status with the provider.

At once: Symbl's whole file finishes while neither submission is recorded; its run joins it (the first plan finished),
moves the meeting to ``completed`` and is on its way to record the report (publishing ``InsightsReady``, a Kafka round
trip an outage stretches). The submitter then records AssemblyAI's submission, whose part failed: that failure's run
finds no report recorded yet and the record naming its plan, and fails the meeting. The failure notice goes out
although the meeting is completed in this generation, and the report follows it: two e-mails telling the host
opposite things. Not fixed yet (the review of 2026-12-06, ``.cache/notes/rows-review.md``; the test is marked): the
notice cannot simply be dropped for a completed meeting, since a reporting run that dies in that window is
redelivered, joins by the record changed meanwhile and reports nothing. The fix keeps the plan joined with the move to
``completed`` (or freezes the submitter's record once a plan completed the generation); remove the marker with it.

One after the other, in a generation run again since: a given-up part of the plan not taken reports the plan taken,
and its run reached the re-run's check, which marked the given-up job's insights stored.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from zoomsymbl_common.events import Event, InsightsReady, MeetingFailed
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.tenants import ran_as
from zoomsymbl_notifier.handlers import on_give_up
from zoomsymbl_notifier.sweeper import _report

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Rig, first_delivery, redelivery
from tests.notifier.test_two_submissions_failures import NOTICE, confirm_failed, fail_next_job, stage, subjects
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier


@pytest.mark.xfail(reason="a failure notice and a report for one generation: the race described above", strict=True)
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
