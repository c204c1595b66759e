"""A meeting re-run (``zoomsymbl replay --force``, or re-mixed after a new webhook) while its earlier generation's job
is still at the provider: the earlier job failing afterwards is no failure of the meeting the host will hear about."""

from __future__ import annotations

import pytest
from zoomsymbl_common.ops.replay import bump_generation
from zoomsymbl_common.records import EMAILS, MEETINGS

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT, make_tenant

pytestmark = pytest.mark.integration

UNUSED = "http://127.0.0.1:9/unused"  # the sandbox's own callbacks go nowhere: the test posts the one it needs


async def _rerun(notifier: Notifier, meeting_uuid: str) -> None:
    """The next generation, the stage left as it was: what a forced replay did to the meeting document before
    2026-12-06 (it clears the stage now, ``bump_generation``); meetings re-run so may still be at work."""
    meetings = notifier.mongo.db[MEETINGS]
    await meetings.update_one({"tenant": TENANT, "meeting_uuid": meeting_uuid}, {"$inc": {"generation": 1}})


async def test_a_job_of_an_earlier_generation_failing_sends_no_failure_notice(notifier: Notifier) -> None:
    """Before: "Processing failed" went to the host while the new generation was being processed (its report came
    next, "[Update 1] …, it replaces the earlier one"), and the failure was counted though nothing failed."""
    counted: list[tuple[str, str]] = []
    notifier.pipeline.count_failure = lambda service, stage: counted.append((service, stage))
    await notifier.submitter.meeting("m-rerun-fail", topic="Budget review")
    job = await notifier.submitter.submit("m-rerun-fail", name="budget [fail]", webhook_url=UNUSED)
    await _rerun(notifier, "m-rerun-fail")
    await notifier.sandbox_done(job)

    assert await notifier.callback(job, "failed") == 200
    done = await notifier.processed(job)

    assert done["status"] == "failed", "the job's own story is recorded"
    assert notifier.smtp.messages == []
    assert await notifier.mongo.db[EMAILS].count_documents({"meeting_uuid": "m-rerun-fail"}) == 0
    meeting = await notifier.meeting("m-rerun-fail")
    assert (meeting["generation"], meeting["stage"]) == (1, "submitted"), "the new generation goes on"
    assert counted == []


async def test_a_give_up_on_a_job_of_an_earlier_generation_sends_no_failure_notice(notifier: Notifier) -> None:
    """The same for every other way the notifier fails a meeting (``handlers.on_give_up``: poison input, retries
    exhausted), which all go through ``fail_meeting``."""
    await notifier.submitter.meeting("m-rerun-poison")
    job = await notifier.submitter.submit("m-rerun-poison", webhook_url=UNUSED)
    await _rerun(notifier, "m-rerun-poison")
    tenant = make_tenant(notifier.symbl.url)

    await notifier.pipeline.fail_meeting(job, tenant, "fetch", "transcript unusable")

    assert notifier.smtp.messages == []
    assert await notifier.mongo.db[EMAILS].count_documents({"meeting_uuid": "m-rerun-poison"}) == 0
    assert (await notifier.meeting("m-rerun-poison"))["stage"] == "submitted"


async def test_a_failure_in_the_current_generation_still_sends_its_notice_once(notifier: Notifier) -> None:
    """The check costs nothing to the meeting that did fail: failed by the mixer first, or failed here again."""
    await notifier.submitter.meeting("m-current", stage="failed", generation=1)
    job = await notifier.submitter.submit("m-current", generation=1, webhook_url=UNUSED)
    tenant = make_tenant(notifier.symbl.url)

    await notifier.pipeline.fail_meeting(job, tenant, "provider", "symbl job failed: nope")
    await notifier.pipeline.fail_meeting(job, tenant, "provider", "symbl job failed: nope")

    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "[Update 1] Processing failed: Weekly sync"


async def test_a_forced_replay_of_a_meeting_failed_here_reports_the_re_run(notifier: Notifier) -> None:
    """The provider failed the job, the host got the notice; the operator ran the meeting again
    (``zoomsymbl replay --force``). Before, the meeting stayed ``failed`` through the re-run (the replay left the stage
    as it was): the re-run's report was withheld as "failed in this generation", and the host never got it."""
    await notifier.submitter.meeting("m-again", topic="Budget review")
    failing = await notifier.submitter.submit("m-again", name="budget [fail]", webhook_url=UNUSED)
    await notifier.sandbox_done(failing)
    assert await notifier.callback(failing, "failed") == 200
    await notifier.processed(failing)
    assert [str(m["Subject"]) for m in notifier.smtp.messages] == ["Processing failed: Budget review"]

    assert await bump_generation(notifier.mongo, TENANT, "m-again", "replay-1") == 1
    again = await notifier.submitter.submit("m-again", generation=1, name="budget", webhook_url=UNUSED)
    await notifier.sandbox_done(again)
    assert await notifier.callback(again, "completed") == 200
    await notifier.processed(again)

    [_, report] = notifier.smtp.messages
    assert str(report["Subject"]) == "[Update 1] Meeting summary: Budget review"
    meeting = await notifier.meeting("m-again")
    assert (meeting["generation"], meeting["stage"]) == (1, "notified")
    assert "failure" not in meeting, "the earlier generation's failure went with its stage"
