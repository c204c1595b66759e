"""Which of a generation's jobs one report joins (``zoomsymbl_notifier.parts``): the parts of one submission.

The job documents and the meeting's record are written by the submitter's own code (its claims with
``plan.job_fields``, ``MeetingStore.mark_submitted``) where MongoDB is involved.
"""

from __future__ import annotations

import dataclasses

import pytest
from zoomsymbl_common.events import Provider, stable_id
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS, StoredJobStatus
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_notifier import generations
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.parts import Plan, Submissions, finished_parts
from zoomsymbl_submitter import plan
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.parts import Part

from tests.notifier.conftest import Notifier
from tests.submitter.support import add_meetings, audio_mixed, mixed_key


def _job(key: str, provider: Provider, index: int, count: int, status: StoredJobStatus = "completed") -> JobRecord:
    return JobRecord(
        key=key, tenant="acme", meeting_uuid="m", generation=0, provider=provider, job_id=f"j-{key}",
        conversation_id=f"c-{key}", status=status, part_index=index, part_count=count,
        part_offset_seconds=0.0, job_ref=key, idempotency_key=key, limiter_account_key="a", insights_stored=True,
        processed=False,
    )  # fmt: skip


def test_a_zoom_job_that_replaced_a_failed_one_is_joined_with_the_plan_of_the_job_it_replaced() -> None:
    failed = _job("symbl-whole", "symbl", 0, 1, "failed")
    zoom = dataclasses.replace(_job(stable_id("fallback", failed.key), "zoom", 0, 1), fallback_reason="symbl failed")
    other = [_job("aai-1", "assemblyai", 0, 2), _job("aai-2", "assemblyai", 1, 2, "submitting")]

    assert finished_parts([failed, zoom, *other], Plan("symbl", 1)) == [zoom]
    assert finished_parts([failed, *other], Plan("symbl", 1)) is None
    assert finished_parts([failed, zoom, *other], Plan("assemblyai", 2)) is None


def test_without_a_record_the_plan_whose_every_part_finished_is_joined_and_never_a_mix() -> None:
    symbl = [_job("s-1", "symbl", 0, 3), _job("s-2", "symbl", 1, 3), _job("s-3", "symbl", 2, 3, "submitting")]
    aai = [_job("a-1", "assemblyai", 0, 2), _job("a-2", "assemblyai", 1, 2)]

    assert finished_parts([*symbl, *aai]) == aai
    assert finished_parts([*symbl, aai[1]]) is None, "part 1 of one plan and part 2 of the other are no meeting"
    assert finished_parts([]) is None
    assert finished_parts([_job("w", "symbl", 0, 1)]) == [_job("w", "symbl", 0, 1)]


@pytest.mark.integration
async def test_the_record_is_the_submission_the_submitter_marked_for_that_generation(
    mongo: Mongo, infra: InfraSettings
) -> None:
    event = audio_mixed(41, infra, mixed_key("uuid/41=="), 1000)
    await add_meetings(mongo, [event])
    submissions, meetings = Submissions(mongo), MeetingStore(mongo)
    assert await submissions.recorded(event.tenant, event.meeting_uuid, 0) is None, "nothing submitted yet"

    await meetings.mark_submitted(event, "symbl", 3)
    await meetings.mark_submitted(event, "assemblyai", 2)  # a redelivery under another provider, marked last

    assert await submissions.recorded(event.tenant, event.meeting_uuid, 0) == Plan("assemblyai", 2)
    assert await submissions.recorded(event.tenant, event.meeting_uuid, 1) is None, "another generation's"
    assert await submissions.recorded(event.tenant, "uuid/none==", 0) is None


@pytest.mark.integration
async def test_an_earlier_generation_of_two_submissions_stands_in_with_one_of_them_not_a_mix(
    notifier: Notifier, infra: InfraSettings
) -> None:
    """A re-run failed; its earlier generation was submitted twice (the tenant's provider switched between two
    deliveries): the report standing in is the one of the submission whose every part finished."""
    event = audio_mixed(42, infra, mixed_key("uuid/42=="), 1000)
    claims, meeting = JobStore(notifier.mongo, "test-owner", 60.0), (event.tenant, event.meeting_uuid)

    async def claimed(provider: Provider, count: int) -> list[str]:
        """A plan's claims, as the submitter writes them before its provider calls."""
        keys = []
        for index in range(count):
            part = Part(index, count, index * 600.0, 600.0, event.bucket, f"{event.object_key}.{provider}{index}", 1)
            keys.append(plan.idempotency_key(event, provider, part))
            await claims.claim(keys[-1], plan.job_fields(event, provider, f"{provider}:account", part))
        return keys

    async def finished(key: str) -> None:
        done = {"status": "completed", "job_id": f"j-{key}", "insights_stored_at": event.occurred_at}
        await notifier.mongo.db[JOBS].update_one({"_id": key}, {"$set": done})

    symbl, aai = await claimed("symbl", 2), await claimed("assemblyai", 2)
    await finished(symbl[0])
    await finished(aai[1])

    assert await generations.stand_in(notifier.jobs, notifier.pipeline.outbox, *meeting, 1) is None, "no mix"

    await finished(aai[0])
    found = await generations.stand_in(notifier.jobs, notifier.pipeline.outbox, *meeting, 1)

    assert found is not None and [part.key for part in found.parts] == aai
