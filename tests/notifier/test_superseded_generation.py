"""A meeting re-run (``zoomsymbl replay --force``, or re-mixed after a new webhook) while its earlier generation's job
is still at the provider, and that job completing afterwards: the host gets one report for the reprocessing.

Before: the earlier generation's completion sent its full report, and the new generation then sent "[Update 1] …, it
replaces the earlier one": two reports for one reprocessing. Now the earlier completion is recorded (status,
insights, ``processed_at``) and sends nothing while the newer generation may still send one; if the newer generation
fails, the earlier generation's report goes out instead of the failure notice (the host is not left with a notice
while a finished report exists, nor with nothing when the tenant sends no notices).
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.events import MeetingFailed
from zoomsymbl_common.records import EMAILS, MEETINGS
from zoomsymbl_notifier.jobs import JobRecord

from tests.notifier.conftest import Notifier
from tests.notifier.harness import TENANT, make_tenant

pytestmark = pytest.mark.integration

UNUSED = "http://127.0.0.1:9/unused"  # the sandbox's own callbacks go nowhere: the test posts the ones it needs
LINK = "See and hear the meeting: "


async def _rerun(notifier: Notifier, meeting_uuid: str) -> None:
    """The next generation, the stage left as it was: what a forced replay did to the meeting document before
    2026-12-06 (it clears the stage now, ``bump_generation``); meetings re-run so may still be at work."""
    meetings = notifier.mongo.db[MEETINGS]
    await meetings.update_one({"tenant": TENANT, "meeting_uuid": meeting_uuid}, {"$inc": {"generation": 1}})


async def _finish(notifier: Notifier, job: JobRecord, status: str) -> dict[str, object]:
    """The provider's callback for ``job`` once the sandbox finished it, handled to the end."""
    await notifier.sandbox_done(job)
    assert await notifier.callback(job, status) == 200
    return await notifier.processed(job)


async def _two_generations(notifier: Notifier, meeting_uuid: str, new_name: str) -> tuple[JobRecord, JobRecord]:
    """Generation 0's job at the provider, the meeting re-run, generation 1's job at the provider."""
    await notifier.submitter.meeting(meeting_uuid, topic="Budget review")
    old = await notifier.submitter.submit(meeting_uuid, webhook_url=UNUSED)
    await _rerun(notifier, meeting_uuid)
    new = await notifier.submitter.submit(meeting_uuid, generation=1, name=new_name, webhook_url=UNUSED)
    return old, new


def _text(message: object) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


async def _emails(notifier: Notifier, meeting_uuid: str) -> list[tuple[int, str, object]]:
    cursor = notifier.mongo.db[EMAILS].find({"meeting_uuid": meeting_uuid}).sort([("generation", 1), ("kind", 1)])
    return [(d["generation"], d["kind"], d.get("stands_in_for")) for d in await cursor.to_list(None)]


async def test_an_earlier_generation_completing_after_the_rerun_sends_no_report_of_its_own(notifier: Notifier) -> None:
    """One report for the reprocessing: the new generation's "[Update 1]", nothing before it."""
    old, new = await _two_generations(notifier, "m-superseded", "budget")

    done = await _finish(notifier, old, "completed")

    assert (done["status"], done.get("insights_stored_at") is not None) == ("completed", True), "recorded"
    assert notifier.smtp.messages == [] and notifier.ready == []
    assert await _emails(notifier, "m-superseded") == []
    assert await notifier.callback(old, "completed") == 200, "a duplicate callback"
    await notifier.processed(old)
    assert notifier.smtp.messages == []

    await _finish(notifier, new, "completed")

    [report] = notifier.smtp.messages
    assert report["Subject"] == "[Update 1] Meeting summary: Budget review"
    assert LINK in _text(report)
    assert [r.generation for r in notifier.ready] == [1]
    assert await _emails(notifier, "m-superseded") == [(1, "report", None)]
    meeting = await notifier.meeting("m-superseded")
    assert (meeting["generation"], meeting["stage"]) == (1, "notified")


async def test_the_rerun_failing_after_the_earlier_generation_finished_sends_that_report_instead_of_a_notice(
    notifier: Notifier,
) -> None:
    """The host gets the finished generation's report, once, and no "Processing failed" beside it."""
    old, new = await _two_generations(notifier, "m-rerun-fails", "budget [fail]")
    await _finish(notifier, old, "completed")
    assert notifier.smtp.messages == []

    await _finish(notifier, new, "failed")

    [report] = notifier.smtp.messages
    assert report["Subject"] == "Meeting summary: Budget review", "generation 0's report"
    assert LINK not in _text(report), "the page shows the current generation, which failed"
    assert "Elisa L" in _text(report)
    assert await _emails(notifier, "m-rerun-fails") == [(0, "report", 1)]
    assert [r.generation for r in notifier.ready] == [0]
    meeting = await notifier.meeting("m-rerun-fails")
    assert (meeting["generation"], meeting["stage"]) == (1, "failed"), "the meeting's story is unchanged"

    tenant = make_tenant(notifier.symbl.url)
    await notifier.pipeline.fail_meeting(new, tenant, "provider", "symbl job failed: again")  # a redelivery
    assert await notifier.callback(old, "completed") == 200  # a late duplicate of the earlier completion
    await notifier.processed(old)
    assert len(notifier.smtp.messages) == 1
    assert await _emails(notifier, "m-rerun-fails") == [(0, "report", 1)]


async def test_a_rerun_the_mixer_gave_up_on_sends_the_earlier_report_even_to_a_tenant_without_notices(
    notifier: Notifier,
) -> None:
    """A tenant with ``failure_notice`` off got nothing at all once the earlier report was withheld: it is a report."""
    old, _new = await _two_generations(notifier, "m-rerun-mixer", "budget")
    await _finish(notifier, old, "completed")
    assert notifier.smtp.messages == []
    meetings = notifier.mongo.db[MEETINGS]
    await meetings.update_one({"tenant": TENANT, "meeting_uuid": "m-rerun-mixer"}, {"$set": {"stage": "failed"}})
    event = MeetingFailed(
        event_id="mixer-gave-up", tenant=TENANT, meeting_uuid="m-rerun-mixer", generation=1,
        service="mixer", stage="download", reason="zoom answered an error document",
    )  # fmt: skip
    quiet = make_tenant(notifier.symbl.url, failure_notice=False)

    await notifier.pipeline.on_meeting_failed(event, quiet)
    await notifier.pipeline.on_meeting_failed(event, quiet)

    [report] = notifier.smtp.messages
    assert report["Subject"] == "Meeting summary: Budget review"
    assert await _emails(notifier, "m-rerun-mixer") == [(0, "report", 1)]


async def test_the_earlier_generation_finishing_after_the_reruns_notice_still_sends_its_report(
    notifier: Notifier,
) -> None:
    """The other order: the re-run failed first (its notice went out, nothing had finished), then the earlier
    generation finished: its report follows, the one result the host can have."""
    old, new = await _two_generations(notifier, "m-notice-first", "budget [fail]")
    await _finish(notifier, new, "failed")
    [notice] = notifier.smtp.messages
    assert notice["Subject"] == "[Update 1] Processing failed: Budget review"

    await _finish(notifier, old, "completed")

    assert [m["Subject"] for m in notifier.smtp.messages] == [
        "[Update 1] Processing failed: Budget review",
        "Meeting summary: Budget review",
    ]
    assert await _emails(notifier, "m-notice-first") == [(0, "report", 1), (1, "failure", None)]


async def test_an_earlier_report_the_host_already_has_does_not_replace_the_reruns_notice(notifier: Notifier) -> None:
    """Generation 0 reported as usual, then re-run, and the re-run fails: its notice is news (as before)."""
    await notifier.submitter.meeting("m-reported", topic="Budget review")
    first = await notifier.submitter.submit("m-reported", webhook_url=UNUSED)
    await _finish(notifier, first, "completed")
    await _rerun(notifier, "m-reported")
    await notifier.mongo.db[MEETINGS].update_one(
        {"tenant": TENANT, "meeting_uuid": "m-reported"}, {"$set": {"stage": "submitted"}}
    )
    rerun = await notifier.submitter.submit("m-reported", generation=1, name="budget [fail]", webhook_url=UNUSED)

    await _finish(notifier, rerun, "failed")

    assert [m["Subject"] for m in notifier.smtp.messages] == [
        "Meeting summary: Budget review",
        "[Update 1] Processing failed: Budget review",
    ]
    assert await _emails(notifier, "m-reported") == [(0, "report", None), (1, "failure", None)]
