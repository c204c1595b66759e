"""Job statuses are applied monotonically by conditional single-document updates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import JOBS
from zoomsymbl_notifier.jobs import JobRecord, Jobs

pytestmark = pytest.mark.integration


async def _insert(mongo: Mongo, **fields: object) -> JobRecord:
    key = f"k-{fields.get('job_id', 'j')}-{fields.get('part_index', 0)}"
    doc = {
        "_id": key,
        "idempotency_key": key,
        "job_ref": f"ref-{fields.get('job_id', 'j')}",
        "tenant": "acme",
        "meeting_uuid": "m",
        "generation": 0,
        "provider": "symbl",
        "job_id": "j",
        "conversation_id": "c",
        "status": "scheduled",
        "limiter_account_key": "symbl:app",
        "updated_at": utcnow(),
        **fields,
    }
    await mongo.db[JOBS].insert_one(doc)
    return JobRecord.from_doc(doc)


async def test_statuses_arriving_out_of_order_never_move_a_job_backwards(mongo: Mongo) -> None:
    jobs = Jobs(mongo)
    job = await _insert(mongo)

    assert await jobs.apply_status(job, "completed", None, "callback")
    assert not await jobs.apply_status(job, "in_progress", None, "callback")
    assert not await jobs.apply_status(job, "scheduled", None, "callback")
    assert not await jobs.apply_status(job, "failed", "too late", "sweeper")
    assert not await jobs.apply_status(job, "completed", None, "callback")

    stored = await jobs.by_provider_id("symbl", "j")
    assert stored is not None and stored.status == "completed"
    doc = await mongo.db[JOBS].find_one({"job_id": "j"})
    assert doc is not None and [h["status"] for h in doc["history"]] == ["completed"]


async def test_lookup_by_reference_and_slot_references(mongo: Mongo) -> None:
    jobs = Jobs(mongo)
    await _insert(mongo, job_id="j-2")
    found = await jobs.by_ref("ref-j-2")
    assert found is not None and found.job_id == "j-2"
    assert found.slot_refs == ("ref-j-2", "k-j-2-0") and found.limiter_account_key == "symbl:app"
    assert await jobs.by_ref("nope") is None


async def test_lookup_by_reference_reads_the_job_stored_under_its_ref_by_id(mongo: Mongo) -> None:
    jobs = Jobs(mongo)
    await _insert(mongo, _id="ref-j-3", idempotency_key="ref-j-3", job_id="j-3")  # as the submitter stores it
    found = await jobs.by_ref("ref-j-3")
    assert found is not None and (found.key, found.job_id) == ("ref-j-3", "j-3")
    # A document whose _id happens to be the ref but which was issued for another ref is not that job.
    await _insert(mongo, _id="ref-j-4", job_ref="ref-other", job_id="j-4")
    await _insert(mongo, job_id="j-5", job_ref="ref-j-4")
    found = await jobs.by_ref("ref-j-4")
    assert found is not None and found.job_id == "j-5"
    assert await jobs.by_ref("ref-other") is not None


async def test_a_job_read_lately_is_found_by_its_provider_id_and_a_stale_hint_is_not_trusted(mongo: Mongo) -> None:
    jobs = Jobs(mongo, known_ids=2)
    await _insert(mongo, _id="ref-a", job_ref="ref-a", job_id="a")
    await _insert(mongo, _id="ref-b", job_ref="ref-b", job_id="b")
    assert await jobs.by_ref("ref-a") is not None
    found = await jobs.by_provider_id("symbl", "a")
    assert found is not None and found.key == "ref-a"
    # The document under the remembered _id no longer names that provider job (replaced meanwhile):
    await mongo.db[JOBS].delete_one({"_id": "ref-a"})
    await _insert(mongo, _id="ref-a", job_ref="ref-a", job_id="a-resubmitted")
    await _insert(mongo, _id="ref-a2", job_ref="ref-a2", job_id="a")
    found = await jobs.by_provider_id("symbl", "a")
    assert found is not None and found.key == "ref-a2", "found by provider and job id, not by the stale hint"
    assert await jobs.by_provider_id("assemblyai", "b") is None, "the provider is part of the key"
    assert await jobs.by_provider_id("symbl", "nope") is None


async def test_parts_of_a_meeting_come_in_part_order(mongo: Mongo) -> None:
    jobs = Jobs(mongo)
    second = await _insert(mongo, job_id="p1", part_index=1, part_count=2)
    await _insert(mongo, job_id="p0", part_index=0, part_count=2)
    await _insert(mongo, job_id="other", meeting_uuid="other-meeting")
    assert [p.job_id for p in await jobs.parts(second)] == ["p0", "p1"]


async def test_stale_lists_unfinished_jobs_without_news(mongo: Mongo) -> None:
    jobs = Jobs(mongo)
    old = utcnow() - timedelta(hours=1)
    stale = await _insert(mongo, job_id="stale", updated_at=old)
    await _insert(mongo, job_id="fresh")
    await _insert(mongo, job_id="done", updated_at=old, processed_at=old)
    await _insert(mongo, job_id="", updated_at=old)

    assert [j.job_id for j in await jobs.stale(timedelta(minutes=5), 10)] == ["stale"]
    await jobs.touch(stale, utcnow())
    assert await jobs.stale(timedelta(minutes=5), 10) == []
