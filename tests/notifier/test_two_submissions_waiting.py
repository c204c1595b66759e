"""A failed part waiting for the other submission of its generation is judged again as soon as another job of the
generation completes or fails, not only when the sweeper reports it again.

As in ``test_two_submissions_failures``: the tenant's provider switched between two deliveries of the same
``AudioMixed`` (Symbl's mono mix, then AssemblyAI's multichannel file), a sandbox fault fails the first job it is
given, and a part that fails before the meeting records either submission waits (left unprocessed) while the other
could still complete. No test here calls the sweeper: what they check happens in the run of the other job's report.

Before, nothing but the sweeper's next report of the waiting part (a stale period later, then up to 8 apart) judged
it again: once the meeting recorded its submission, the host heard of the failure only then, and once the other
submission had made the report, the part was polled at its provider again and again until then.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_submitter.parts import Part

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Delivery, Rig, first_delivery, redelivery
from tests.notifier.test_two_submissions_failures import NOTICE, REPORT, confirm_failed, fail_next_job, stage, subjects

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier


async def recorded_after_its_part_failed(rig: Rig) -> tuple[Delivery, list[Part], JobRecord]:
    """AssemblyAI's submission in 2 parts, the first failed before the meeting recorded it: it waits, Symbl's
    submission (delivered already) could still complete. The submitter then records AssemblyAI's. The delivery, its
    parts, the waiting job."""
    await fail_next_job(rig, rig.notifier.submitter.assemblyai_url)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)
    waiting = await confirm_failed(rig, aai.key(aai_parts[0]))
    assert subjects(rig) == [] and not waiting.processed, "it waits"
    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 2)
    return aai, aai_parts, waiting


async def test_a_waiting_part_of_the_submission_recorded_since_fails_the_meeting_when_another_job_completes(
    rig: Rig,
) -> None:
    """AssemblyAI's part fails before its submission is recorded, while Symbl's (one part accepted, two claims) could
    still complete: it waits. The submitter then records AssemblyAI's submission, and Symbl's accepted part finishes:
    that job's run fails the meeting, with one notice."""
    symbl, symbl_parts = await first_delivery(rig, count=3, accepted=1)
    aai, aai_parts, waiting = await recorded_after_its_part_failed(rig)

    await rig.complete(symbl.key(symbl_parts[0]))

    assert subjects(rig) == [NOTICE]
    assert await stage(rig) == "failed"
    assert (await rig.job(waiting.key)).processed

    await rig.complete(aai.key(aai_parts[1]))

    assert subjects(rig) == [NOTICE], "no report after the notice"


async def test_a_waiting_part_of_the_submission_recorded_since_fails_the_meeting_when_another_job_fails(
    rig: Rig,
) -> None:
    """As above, but the other job fails too, a part of the submission the meeting does not record: ignored itself,
    its run fails the meeting for the waiting part."""
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    _, _, waiting = await recorded_after_its_part_failed(rig)

    ignored = await confirm_failed(rig, symbl.key(symbl_parts[0]))

    assert ignored.processed
    assert subjects(rig) == [NOTICE], "the notice, once"
    assert await stage(rig) == "failed"
    assert (await rig.job(waiting.key)).processed


async def test_a_waiting_part_is_done_with_once_the_other_submission_made_the_report(rig: Rig) -> None:
    """Symbl's part fails before either submission is recorded and waits; AssemblyAI's parts then make the report:
    the last one's run marks the waiting part processed, so the sweeper no longer polls it at its provider."""
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)
    waiting = await confirm_failed(rig, symbl.key(symbl_parts[0]))
    assert not waiting.processed, "it waits"

    for part in aai_parts:
        await rig.complete(aai.key(part))

    assert rig.stamps() == REPORT, "the report, and no notice"
    assert (await rig.job(waiting.key)).processed
    assert waiting.key not in {job.key for job in await rig.notifier.jobs.stale(timedelta(0), 50)}
    assert await stage(rig) == "notified"


async def test_a_failed_part_of_another_submission_sends_the_report_of_the_one_recorded_since_it_finished(
    rig: Rig,
) -> None:
    """The first delivery recorded Symbl's submission and died before its offset was committed; AssemblyAI's parts
    finish while the meeting still names Symbl's (not reported), and the redelivery records its own only then. A
    Symbl part failing next is ignored, and its run sends AssemblyAI's report: every AssemblyAI job was done with,
    so no other run would have, and nobody was told anything."""
    symbl_part, done = await finished_before_their_record(rig)

    ignored = await confirm_failed(rig, symbl_part)

    assert rig.stamps() == REPORT, "AssemblyAI's report, no notice"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("assemblyai", tuple(job.conversation_id for job in done))
    assert ignored.processed
    assert await stage(rig) == "notified"


async def finished_before_their_record(rig: Rig) -> tuple[str, list[JobRecord]]:
    """Symbl's submission recorded (2 parts, the first to fail at Symbl), AssemblyAI's 2 parts finished while the
    meeting still named Symbl's, and the redelivery's record of AssemblyAI's written only then: the key of Symbl's
    part the sandbox fails, and AssemblyAI's jobs as they finished."""
    await fail_next_job(rig, rig.notifier.submitter.symbl_url)
    symbl, symbl_parts = await first_delivery(rig, count=2, accepted=2)
    await symbl.submitter.meetings.mark_submitted(symbl.event, "symbl", 2)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)
    done = [await rig.complete(aai.key(part)) for part in aai_parts]
    assert subjects(rig) == [], "the meeting names Symbl's submission: not these parts yet"
    await aai.submitter.meetings.mark_submitted(aai.event, "assemblyai", 2)
    return symbl.key(symbl_parts[0]), done
