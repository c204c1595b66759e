"""Submission claims in ``jobs``: one owner at a time, a dead owner's claim taken over once, results kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import JOBS, Mongo
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_submitter.jobs import JobStore, inspect

FIELDS = {"tenant": "acme", "meeting_uuid": "m-1", "provider": "symbl", "generation": 0}


def test_a_document_with_a_job_is_done_whatever_else_it_says() -> None:
    assert inspect({"job_id": "j", "status": "submitting"}).outcome == "done"


def test_a_live_claim_is_busy_and_says_for_how_long() -> None:
    now = utcnow()
    found = inspect({"status": "submitting", "claimed_until": now + timedelta(seconds=30)}, now)
    assert found.outcome == "busy"
    assert found.wait_seconds == pytest.approx(30)


@pytest.mark.parametrize("status", ["retrying", "submitting"])
def test_a_failed_attempt_or_an_expired_claim_is_free(status: str) -> None:
    now = utcnow()
    assert inspect({"status": status, "claimed_until": now - timedelta(seconds=1)}, now).outcome == "free"


def test_a_rejection_stays_a_rejection() -> None:
    assert inspect({"status": "rejected", "last_error": "bad"}).outcome == "rejected"


@pytest.mark.integration
async def test_only_one_of_many_concurrent_claims_wins(mongo: Mongo) -> None:
    stores = [JobStore(mongo, f"replica-{i}", 60) for i in range(5)]
    claims = await asyncio.gather(*(s.claim("key-1", FIELDS) for s in stores))
    assert sorted(c.outcome for c in claims) == ["busy"] * 4 + ["claimed"]


@pytest.mark.integration
async def test_a_dead_owners_claim_is_taken_over_once_and_recorded(mongo: Mongo) -> None:
    dead = JobStore(mongo, "dead", 0.2)
    assert (await dead.claim("key-1", FIELDS)).outcome == "claimed"
    await asyncio.sleep(0.3)
    heir = JobStore(mongo, "heir", 60)
    claim = await heir.claim("key-1", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", True)
    assert (await JobStore(mongo, "late", 60).claim("key-1", FIELDS)).outcome == "busy"
    assert await heir.record_submitted("key-1", SubmittedJob("job-9", "conv-9"))
    doc = await mongo.db[JOBS].find_one({"_id": "key-1"})
    assert doc is not None
    assert (doc["status"], doc["job_id"], doc["submit_attempts"], doc["resubmitted_after_crash"]) == (
        "scheduled",
        "job-9",
        2,
        True,
    )
    assert [h["status"] for h in doc["history"]] == ["submitting", "submitting", "scheduled"]


@pytest.mark.integration
async def test_only_one_heir_takes_over_a_dead_owners_claim(mongo: Mongo) -> None:
    await JobStore(mongo, "dead", 0.1).claim("key-1", FIELDS)
    await asyncio.sleep(0.2)
    claims = await asyncio.gather(*(JobStore(mongo, f"heir-{i}", 60).claim("key-1", FIELDS) for i in range(5)))
    assert sorted(c.outcome for c in claims) == ["busy"] * 4 + ["claimed"]


@pytest.mark.integration
async def test_a_released_claim_is_claimed_again_without_the_crash_mark(mongo: Mongo) -> None:
    store = JobStore(mongo, "me", 60)
    await store.claim("key-1", FIELDS)
    await store.release_claim("key-1", "retrying", "symbl answered HTTP 503")
    claim = await JobStore(mongo, "other", 60).claim("key-1", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", False)


@pytest.mark.integration
async def test_a_recorded_job_is_never_overwritten(mongo: Mongo) -> None:
    store = JobStore(mongo, "me", 60)
    await store.claim("key-1", FIELDS)
    assert await store.record_submitted("key-1", SubmittedJob("first", "c1"))
    assert not await store.record_submitted("key-1", SubmittedJob("second", "c2"))
    assert (await store.claim("key-1", FIELDS)).outcome == "done"
    doc = await store.get("key-1")
    assert doc is not None and doc["job_id"] == "first"


@pytest.mark.integration
async def test_a_live_owner_keeps_its_claim_past_the_lease_and_a_dead_one_loses_it_within_one(mongo: Mongo) -> None:
    """The claim lease is short; the owner's heartbeat renews it while the provider call runs."""
    owner = JobStore(mongo, "owner", 0.6)
    rival = JobStore(mongo, "rival", 60)
    assert (await owner.claim("key-hb", FIELDS)).outcome == "claimed"
    async with owner.kept_alive("key-hb"):
        for _ in range(4):  # 2 s: more than three leases
            await asyncio.sleep(0.5)
            assert (await rival.claim("key-hb", FIELDS)).outcome == "busy"
    # The body ended without recording a job (as if the owner died now): free within one lease.
    await asyncio.sleep(0.7)
    claim = await rival.claim("key-hb", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", True)
    assert not await owner.renew("key-hb"), "the claim is the rival's now"
