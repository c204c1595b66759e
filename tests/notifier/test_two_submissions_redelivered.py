"""A failed part whose run sends the report of the other submission of its generation, and dies doing it: its
redelivery sends that report.

As in ``test_two_submissions_waiting``: the first delivery recorded Symbl's submission and died before its offset
was committed; AssemblyAI's parts finished while the meeting still named Symbl's (every AssemblyAI job done with, no
report), and the redelivery recorded its own only then. A Symbl part failing next is ignored, and its run sends
AssemblyAI's report: no other run would. That run moves the meeting to ``completed`` keeping AssemblyAI's plan
(``joined_plan``) and dies announcing the report (the broker gone). Its redelivery judged the part ``settled`` (the
meeting completed with another plan, "that plan's run reports it"): marked processed, nothing sent, and no run of
AssemblyAI's plan was left to send it. The host heard nothing, ever.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.notifier import test_two_submissions as two
from tests.notifier.test_two_submissions import Rig
from tests.notifier.test_two_submissions_failures import REPORT, confirm_failed, stage, subjects
from tests.notifier.test_two_submissions_race import broker_gone
from tests.notifier.test_two_submissions_waiting import finished_before_their_record

pytestmark = pytest.mark.integration
rig = two.rig  # the fixture: the meeting, the submitters of its deliveries, the notifier


async def test_a_failed_part_whose_run_died_sending_the_other_submissions_report_is_redelivered_into_it(
    rig: Rig,
) -> None:
    symbl_part, done = await finished_before_their_record(rig)

    publish = broker_gone(rig)
    with pytest.raises(ConnectionError):
        await confirm_failed(rig, symbl_part)
    assert await stage(rig) == "completed" and subjects(rig) == []

    rig.pipeline = dataclasses.replace(rig.pipeline, publish=publish)
    ignored = await confirm_failed(rig, symbl_part)  # the redelivery

    assert rig.stamps() == REPORT, "AssemblyAI's report, no notice"
    [ready] = rig.notifier.ready
    assert (ready.provider, ready.conversation_ids) == ("assemblyai", tuple(job.conversation_id for job in done))
    assert ignored.processed
    assert await stage(rig) == "notified"
