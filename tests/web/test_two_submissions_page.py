"""A generation submitted twice, under two plans: the page and its downloads show one submission's insights, the one
the host's report was made of (``zoomsymbl_web.plans``), against the real MongoDB.

The tenant's provider switched between two deliveries of the meeting's ``AudioMixed``: Symbl's plan (3 parts, one
finished) and AssemblyAI's (2 parts); the submitter records the submission it finished on the meeting
(``submitted_generation``, ``provider``, ``part_count``). Before, the page merged the stored insights of every part
of the generation: Symbl's part 1 sat among AssemblyAI's, the same minutes said twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from zoomsymbl_common.events import Provider
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.page_tokens import make_page_token, page_url
from zoomsymbl_common.records import INSIGHTS, JOBS, MEETINGS, Job, Meeting, StoredInsights

from tests.web import test_app
from tests.web.test_app import KEY

pytestmark = [pytest.mark.integration]
service = test_app.service  # the fixture: the web service on the real MongoDB and S3
UUID = "twice/=="
NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
SYMBL = "Symbl said this"
AAI = "AssemblyAI said this"


def _job(provider: Provider, index: int, count: int, *, done: bool) -> Job:
    key = f"{provider}-{index}-of-{count}"
    fields: dict[str, Any] = {"status": "completed", "insights_stored_at": NOW} if done else {"status": "submitting"}
    return Job.model_validate(
        {
            "_id": key,
            "idempotency_key": key,
            "job_ref": key,
            "tenant": "acme",
            "meeting_uuid": UUID,
            "generation": 1,
            "provider": provider,
            "part_index": index,
            "part_count": count,
            "part_offset_seconds": index * 3600.0,
            "job_id": f"id-{key}",
            "conversation_id": f"conv-{key}",
            **fields,
        }
    )


def _insights(job: Job, text: str) -> StoredInsights:
    message = {"speaker": "Ana", "text": f"{text} (part {job.part_index + 1})", "start_seconds": 5.0,
               "end_seconds": 9.0, "channel": 1}  # fmt: skip
    return StoredInsights(
        provider=job.provider,
        conversation_id=job.conversation_id or "",
        tenant="acme",
        meeting_uuid=UUID,
        generation=1,
        job_id=job.job_id or "",
        part_index=job.part_index,
        part_offset_seconds=job.part_offset_seconds,
        insights={"messages": [message], "extra": {"source": f"{job.provider} (test)"}},
        stored_at=NOW,
    )


async def _store(
    mongo: Mongo, record: tuple[Provider, int] | None, *, symbl_done: int, joined: tuple[Provider, int] | None = None
) -> None:
    """The meeting, notified, recording ``record`` (provider, part count) for its generation 1, or none, and the plan
    its report joined (``joined``: none unless given); Symbl's first ``symbl_done`` parts finished (the others claims
    the provider never had), AssemblyAI's two finished."""
    marked: dict[str, object] = {}
    if record is not None:
        marked = {"submitted_generation": 1, "provider": record[0], "part_count": record[1]}
    if joined is not None:
        marked["joined_plan"] = {"generation": 1, "provider": joined[0], "part_count": joined[1]}
    meeting = Meeting.model_validate(
        {"tenant": "acme", "meeting_uuid": UUID, "generation": 1, "stage": "notified", "topic": "Twice", **marked}
    )
    symbl = [_job("symbl", index, 3, done=index < symbl_done) for index in range(3)]
    aai = [_job("assemblyai", index, 2, done=True) for index in range(2)]
    stored = [_insights(job, SYMBL) for job in symbl[:symbl_done]] + [_insights(job, AAI) for job in aai]
    await mongo.db[MEETINGS].insert_one(meeting.to_document())
    await mongo.db[JOBS].insert_many([job.to_document() for job in [*symbl, *aai]])
    await mongo.db[INSIGHTS].insert_many([doc.to_document() for doc in stored])


async def _shown(service: str) -> tuple[str, str]:
    """The page and its text download."""
    url = page_url(service, make_page_token(KEY, "acme", UUID))
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        async with session.get(url + "/transcript.txt") as resp:
            assert resp.status == 200
            return page, await resp.text()


@pytest.mark.parametrize(
    "record",
    [("assemblyai", 2), None, ("symbl", 3)],
    ids=["recorded", "not-recorded-yet", "recorded-after-the-other-reported"],
)
async def test_the_page_shows_the_submission_that_finished_and_no_part_of_the_other(
    service: str, mongo: Mongo, record: tuple[Provider, int] | None
) -> None:
    """AssemblyAI's submission is the one the meeting records; or the record is not written yet and it is the one
    that finished; or it finished (and was reported) before the meeting recorded Symbl's, which never finished."""
    await _store(mongo, record, symbl_done=1)

    page, text = await _shown(service)

    assert f"{AAI} (part 1)" in page and f"{AAI} (part 2)" in page and "assemblyai (test)" in page
    assert SYMBL not in page
    assert text == f"[0:00:05] Ana: {AAI} (part 1)\n[1:00:05] Ana: {AAI} (part 2)\n"


async def test_the_page_follows_the_record_when_both_submissions_finished(service: str, mongo: Mongo) -> None:
    await _store(mongo, ("symbl", 3), symbl_done=3)

    page, text = await _shown(service)

    assert AAI not in page and AAI not in text
    assert [line.split("] ")[1] for line in text.splitlines()] == [f"Ana: {SYMBL} (part {n})" for n in (1, 2, 3)]


async def test_the_page_shows_the_submission_the_report_joined_whatever_the_submitter_recorded_since(
    service: str, mongo: Mongo
) -> None:
    """Both finished; AssemblyAI's was reported (the meeting keeps the plan its report joined) before the submitter's
    redelivery marked Symbl's: the page shows what the e-mail told. Before, it followed the record: Symbl's."""
    await _store(mongo, ("symbl", 3), symbl_done=3, joined=("assemblyai", 2))

    page, text = await _shown(service)

    assert SYMBL not in page and SYMBL not in text
    assert text == f"[0:00:05] Ana: {AAI} (part 1)\n[1:00:05] Ana: {AAI} (part 2)\n"
