"""A failed part of a generation submitted under two plans fails the meeting only when its plan is the one joined.

As in ``test_two_submissions``: the tenant's provider switched between two deliveries of the same ``AudioMixed``
(Symbl's mono mix, then AssemblyAI's multichannel file); the jobs are written by the submitter's own code against
the real MongoDB, S3 and sandboxes, a sandbox fault fails the first job it is given, and the notifier confirms each
status with the provider.

Before, any failed job of the generation failed the meeting: a failed job of the submission the meeting does not
record (or a given-up one) sent the host a failure notice, and the recorded submission's report was then withheld.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_notifier.handlers import on_give_up
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.sweeper import _report

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Rig, first_delivery, redelivery

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier
REPORT = ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"]  # AssemblyAI's two parts, an hour apart
NOTICE = "Processing failed: Long meeting"


async def fail_next_job(rig: Rig, sandbox_url: str) -> None:
    """The sandbox at ``sandbox_url`` fails the next job it is given."""
    session = rig.notifier.submitter.session
    async with session.post(f"{sandbox_url}/_sandbox/faults", json={"fail_next_jobs": 1}) as response:
        assert response.status == 200


async def confirm_failed(rig: Rig, key: str) -> JobRecord:
    """The provider failed job ``key``, and the notifier confirmed it (a callback's report)."""
    return await rig.complete(key, "failed")


async def stage(rig: Rig) -> str:
    return str((await rig.notifier.meeting(rig.event.meeting_uuid))["stage"])


def subjects(rig: Rig) -> list[str]:
    return [str(message["Subject"]) for message in rig.notifier.smtp.messages]


async def test_a_failed_job_of_the_submission_the_meeting_does_not_record_fails_nothing(rig: Rig) -> None:
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    aai, aai_parts = await redelivery(rig, count=2)

    failed = await confirm_failed(rig, symbl.key(symbl_parts[0]))

    assert subjects(rig) == [], "no failure notice: the meeting records AssemblyAI's submission"
    assert await stage(rig) != "failed"
    assert failed.processed, "nothing more to do for it"
    held = {slot.ref for slot in await Limiter(rig.notifier.mongo, symbl.target.account_key).slots()}
    assert held == {symbl.key(symbl_parts[1])}, "its slot is freed"

    for part in aai_parts:
        await rig.complete(aai.key(part))

    assert rig.stamps() == REPORT
    assert await stage(rig) == "notified"


async def test_before_the_record_a_failed_part_waits_while_the_other_submission_can_complete(rig: Rig) -> None:
    """The first submission's part fails before the redelivery marked the meeting: the redelivery's parts may
    still make the report, so the meeting is not failed; once they did, the failed part is ignored when the
    sweeper reports it again."""
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    waiting = await confirm_failed(rig, symbl.key(symbl_parts[0]))

    assert subjects(rig) == [] and await stage(rig) != "failed"
    assert not waiting.processed, "left for the sweeper to report again"

    for part in aai_parts:
        await rig.complete(aai.key(part))
    assert rig.stamps() == REPORT

    await rig.pipeline.confirm_and_apply(waiting, "sweeper")

    assert len(rig.notifier.smtp.messages) == 1, "the report, and no failure notice after it"
    assert (await rig.job(waiting.key)).processed
    assert await stage(rig) == "notified"


async def test_a_waiting_failed_part_fails_the_meeting_once_its_submission_is_recorded(rig: Rig) -> None:
    """The redelivery's part fails before it marked the meeting, while the first submission (one part accepted,
    two claims the provider never had) could still complete: it waits. The submitter then marks the redelivery's
    submission: the sweeper's next report of the failed part fails the meeting, with one notice."""
    symbl, symbl_parts = await first_delivery(rig, count=3, accepted=1)
    await fail_next_job(rig, rig.notifier.submitter.assemblyai_url)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    waiting = await confirm_failed(rig, aai.key(aai_parts[0]))
    assert subjects(rig) == [] and await stage(rig) != "failed"
    assert waiting.key in {job.key for job in await rig.notifier.jobs.stale(timedelta(0), 50)}, "the sweeper's"

    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 2)
    await rig.pipeline.confirm_and_apply(waiting, "sweeper")

    assert subjects(rig) == [NOTICE]
    assert await stage(rig) == "failed"
    assert (await rig.job(waiting.key)).processed

    await rig.complete(aai.key(aai_parts[1]))
    await rig.complete(symbl.key(symbl_parts[0]))

    assert subjects(rig) == [NOTICE], "no report after the notice, of either submission"


async def test_a_failed_part_fails_the_meeting_at_once_when_no_other_submission_can_complete(rig: Rig) -> None:
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    await fail_next_job(rig, rig.notifier.submitter.assemblyai_url)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    first = await confirm_failed(rig, symbl.key(symbl_parts[0]))
    assert subjects(rig) == [] and not first.processed, "AssemblyAI's submission could still complete"

    second = await confirm_failed(rig, aai.key(aai_parts[0]))

    assert subjects(rig) == [NOTICE], "neither submission can complete now"
    assert await stage(rig) == "failed" and second.processed

    await rig.pipeline.confirm_and_apply(first, "sweeper")

    assert subjects(rig) == [NOTICE] and (await rig.job(first.key)).processed


async def test_a_given_up_job_of_the_submission_the_meeting_does_not_record_fails_nothing(rig: Rig) -> None:
    """Poison in the handling of a job of the other submission (its transcript unreadable here, say) gives it up
    without failing the meeting the recorded submission completes."""
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    aai, aai_parts = await redelivery(rig, count=2)
    given_up = await rig.job(symbl.key(symbl_parts[1]))

    await on_give_up(rig.pipeline, _report(given_up, "completed"), "assemble", "transcript unreadable")

    assert subjects(rig) == [] and await stage(rig) != "failed"
    assert (await rig.job(given_up.key)).processed

    for part in aai_parts:
        await rig.complete(aai.key(part))

    assert rig.stamps() == REPORT
