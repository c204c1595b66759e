"""A report whose run fails for good after it moved its meeting to ``completed`` (a bug on this meeting's data in the
report, round after round) still ends with the failure notice at ``give_ups_before_failing``: the host hears of it.

Since the meeting keeps the plan its report joined (``joined_plan``, written with the move to ``completed``), a failure
that does not move its meeting sends no notice once a plan of its generation is kept: meant for a part of another plan
judged failing just before that plan completed the meeting (its report is the story). The job given up here is of the
kept plan itself and its report was never recorded: the notice was dropped too, and the host got nothing at all.
"""

from __future__ import annotations

import pytest
from zoomsymbl_notifier import assembly

from tests.notifier.conftest import Notifier
from tests.notifier.test_give_ups import GIVE_UPS, _completed_without_callbacks, _sweep_when_stale

pytestmark = pytest.mark.integration


async def test_a_report_that_fails_for_good_after_its_meeting_completed_ends_with_the_failure_notice(
    notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreportable(*_args: object, **_kwargs: object) -> object:
        raise ValueError("this meeting's data breaks the report")

    monkeypatch.setattr(assembly, "meeting_report", unreportable)
    job = await _completed_without_callbacks(notifier, "m-unreportable")

    for _ in range(GIVE_UPS):
        assert await _sweep_when_stale(notifier, job) == 1

    meeting = await notifier.meeting("m-unreportable")
    assert meeting["stage"] == "completed" and meeting["joined_plan"]["generation"] == 0, "its run completed it"
    assert [m["Subject"] for m in notifier.smtp.messages] == ["Processing failed: Stuck"]
    assert await _sweep_when_stale(notifier, job) == 0, "given up for good"
    assert len(notifier.smtp.messages) == 1
