"""A one-part job of a generation submitted under two plans is reported only when its plan is the one the meeting
takes: the report the host gets and the meeting page are of the same submission.

As in ``test_two_submissions``: the tenant's provider switched between two deliveries of the same ``AudioMixed``
(Symbl's mono mix, then AssemblyAI's multichannel file), the jobs written by the submitter's own code against the real
MongoDB, S3 and sandboxes, the notifier confirming each status with the provider, the page read by the web service's
own reader (``MeetingPages``).

Before, a one-part job whose insights its run stored was reported at once, without a look at the meeting's record or
the generation's other jobs: a job of the plan the meeting does not record mailed its transcript (the page then showed
the recorded plan's, once that finished), and one finishing after the other plan's report announced its insights
again (``InsightsReady`` naming it).
"""

from __future__ import annotations

import pytest
from zoomsymbl_web.meeting import MeetingPages, MeetingView

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Rig, first_delivery, redelivery

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier


async def page_source(rig: Rig) -> str:
    """The transcript's source the meeting page shows."""
    view = await MeetingPages(rig.notifier.mongo).lookup(rig.event.tenant, rig.event.meeting_uuid)
    assert isinstance(view, MeetingView), view
    return view.source


@pytest.mark.parametrize("other_finishes", ["first", "last"])
async def test_a_one_part_job_of_the_submission_the_meeting_does_not_record_is_not_reported(
    rig: Rig, other_finishes: str
) -> None:
    """Symbl's whole mono mix and AssemblyAI's whole multichannel file, the meeting recording AssemblyAI's: Symbl's
    job, finishing before or after AssemblyAI's, is stored and sends nothing."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    aai, [aai_part] = await redelivery(rig, count=1)

    if other_finishes == "first":
        other = await rig.complete(symbl.key(symbl_part))
        assert rig.notifier.smtp.messages == [], "not the submission the meeting records"
        assert rig.notifier.ready == []
    recorded = await rig.complete(aai.key(aai_part))
    if other_finishes == "last":
        other = await rig.complete(symbl.key(symbl_part))

    assert len(rig.notifier.smtp.messages) == 1, "one report"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("assemblyai", (recorded.conversation_id,))
    assert other.processed and other.insights_stored, "the other job is recorded all the same"
    assert await page_source(rig) == "AssemblyAI", "the page shows the submission reported"


async def test_before_the_record_a_one_part_job_is_joined_as_the_page_shows_the_generation(rig: Rig) -> None:
    """Neither submission recorded yet: AssemblyAI's two parts finish first and make the report; Symbl's whole file
    finishing next is not the plan the page shows (the first finished, in the shared rule's order): no second
    announcement of the generation."""
    symbl, [symbl_part] = await first_delivery(rig, count=1, accepted=1)
    aai, aai_parts = await redelivery(rig, count=2, mark=False)

    done = [await rig.complete(aai.key(part)) for part in aai_parts]
    late = await rig.complete(symbl.key(symbl_part))

    assert rig.stamps() == ["[0:00:00]", "[0:00:02]", "[1:00:00]", "[1:00:02]"], "AssemblyAI's parts"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("assemblyai", tuple(job.conversation_id for job in done))
    assert late.processed and late.insights_stored
    assert await page_source(rig) == "AssemblyAI"
