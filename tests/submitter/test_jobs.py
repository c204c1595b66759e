"""Submission claims in ``jobs``: one owner at a time, a dead owner's claim taken over once, results kept.

Leases run on a :class:`FakeClock`: the tests move time instead of sleeping through it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.records import JOBS, Job
from zoomsymbl_submitter.claims import inspect
from zoomsymbl_submitter.jobs import RECORD_PATIENCE_SECONDS, JobStore

from tests.support.eventually import eventually

FIELDS = {"tenant": "acme", "meeting_uuid": "m-1", "provider": "symbl", "generation": 0}


def job(**fields: object) -> Job:
    return Job.model_validate({**FIELDS, "_id": "k", "idempotency_key": "k", "job_ref": "k", **fields})


def test_a_document_with_a_job_is_done_whatever_else_it_says() -> None:
    assert inspect(job(job_id="j", status="submitting"), utcnow()).outcome == "done"


def test_a_live_claim_is_busy_and_says_for_how_long() -> None:
    now = utcnow()
    found = inspect(job(status="submitting", claimed_until=now + timedelta(seconds=30)), now)
    assert found.outcome == "busy"
    assert found.wait_seconds == pytest.approx(30)


@pytest.mark.parametrize("status", ["retrying", "submitting"])
def test_a_failed_attempt_or_an_expired_claim_is_free(status: str) -> None:
    now = utcnow()
    assert inspect(job(status=status, claimed_until=now - timedelta(seconds=1)), now).outcome == "free"


def test_a_rejection_stays_a_rejection() -> None:
    assert inspect(job(status="rejected", last_error="bad"), utcnow()).outcome == "rejected"


@pytest.mark.integration
async def test_only_one_of_many_concurrent_claims_wins(mongo: Mongo) -> None:
    stores = [JobStore(mongo, f"replica-{i}", 60) for i in range(5)]
    claims = await asyncio.gather(*(s.claim("key-1", FIELDS) for s in stores))
    assert sorted(c.outcome for c in claims) == ["busy"] * 4 + ["claimed"]


@pytest.mark.integration
async def test_a_dead_owners_claim_is_taken_over_once_and_recorded(mongo: Mongo) -> None:
    clock = FakeClock()
    dead = JobStore(mongo, "dead", 60, clock=clock)
    assert (await dead.claim("key-1", FIELDS)).outcome == "claimed"
    heir = JobStore(mongo, "heir", 60, clock=clock)
    clock.advance(59)
    assert (await heir.claim("key-1", FIELDS)).outcome == "busy", "the lease still runs"
    clock.advance(2)
    claim = await heir.claim("key-1", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", True)
    assert (await JobStore(mongo, "late", 60, clock=clock).claim("key-1", FIELDS)).outcome == "busy"
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
async def test_a_claim_this_process_never_handed_to_the_provider_is_taken_back_unflagged(mongo: Mongo) -> None:
    """MongoDB failed between the claim and the provider call: the claim was neither used nor released. Its own
    process takes it back after the lease without the crash flag; once handed to the provider, a takeover is flagged."""
    clock = FakeClock()
    store = JobStore(mongo, "me", 60, clock=clock)
    assert (await store.claim("key-1", FIELDS)).outcome == "claimed"
    clock.advance(61)
    back = await store.claim("key-1", FIELDS)
    assert (back.outcome, back.resubmission) == ("claimed", False)
    store.calling("key-1")  # the provider call starts, and the process stops answering
    clock.advance(61)
    again = await store.claim("key-1", FIELDS)
    assert (again.outcome, again.resubmission) == ("claimed", True)
    doc = await mongo.db[JOBS].find_one({"_id": "key-1"})
    assert doc is not None
    assert (doc["submit_attempts"], doc["resubmitted_after_crash"]) == (3, True)
    assert [h.get("after_crash", False) for h in doc["history"]] == [False, False, True]


@pytest.mark.integration
async def test_another_process_cannot_know_a_claim_was_never_handed_to_the_provider(mongo: Mongo) -> None:
    clock = FakeClock()
    assert (await JobStore(mongo, "me", 60, clock=clock).claim("key-1", FIELDS)).outcome == "claimed"
    clock.advance(61)
    claim = await JobStore(mongo, "heir", 60, clock=clock).claim("key-1", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", True)


@pytest.mark.integration
async def test_only_one_heir_takes_over_a_dead_owners_claim(mongo: Mongo) -> None:
    clock = FakeClock()
    await JobStore(mongo, "dead", 60, clock=clock).claim("key-1", FIELDS)
    clock.advance(61)
    heirs = [JobStore(mongo, f"heir-{i}", 60, clock=clock) for i in range(5)]
    claims = await asyncio.gather(*(heir.claim("key-1", FIELDS) for heir in heirs))
    assert sorted(c.outcome for c in claims) == ["busy"] * 4 + ["claimed"]


@pytest.mark.integration
async def test_a_released_claim_is_claimed_again_without_the_crash_mark(mongo: Mongo) -> None:
    store = JobStore(mongo, "me", 60)
    await store.claim("key-1", FIELDS)
    await store.release_claim("key-1", "retrying", "symbl answered HTTP 503")
    claim = await JobStore(mongo, "other", 60).claim("key-1", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", False)


@pytest.mark.integration
async def test_every_submission_after_an_attempt_the_provider_may_have_accepted_is_flagged(mongo: Mongo) -> None:
    store = JobStore(mongo, "me", 60)
    await store.claim("key-1", FIELDS)
    await store.release_claim("key-1", "retrying", "symbl submit timed out", maybe_submitted=True)
    second = await store.claim("key-1", FIELDS)
    # The second attempt certainly made no job; the first may still have: the third is a possible duplicate too.
    await store.release_claim("key-1", "retrying", "symbl submit failed: ClientConnectorError")
    third = await store.claim("key-1", FIELDS)
    assert (second.outcome, second.resubmission, third.outcome, third.resubmission) == (
        "claimed",
        True,
        "claimed",
        True,
    )
    doc = await mongo.db[JOBS].find_one({"_id": "key-1"})
    assert doc is not None
    assert (doc["resubmitted_after_crash"], doc["maybe_submitted"], doc["maybe_submitted_reason"]) == (
        True,
        True,
        "symbl submit timed out",
    )


@pytest.mark.integration
async def test_a_recorded_job_is_never_overwritten(mongo: Mongo) -> None:
    store = JobStore(mongo, "me", 60)
    await store.claim("key-1", FIELDS)
    assert await store.record_submitted("key-1", SubmittedJob("first", "c1"))
    assert not await store.record_submitted("key-1", SubmittedJob("second", "c2"))
    assert (await store.claim("key-1", FIELDS)).outcome == "done"
    stored = await store.get("key-1")
    assert stored is not None and stored.job_id == "first"


@pytest.mark.integration
async def test_a_live_owner_keeps_its_claim_past_the_lease_and_a_dead_one_loses_it_within_one(mongo: Mongo) -> None:
    """The claim lease is short; the owner's heartbeat renews it while the provider call runs."""
    clock = FakeClock()
    beats: list[float] = []
    granted: asyncio.Queue[None] = asyncio.Queue()

    async def heartbeat_wait(seconds: float) -> None:
        # The heartbeat waits until the test lets that much time pass on the clock.
        beats.append(seconds)
        await granted.get()
        clock.advance(seconds)

    async def renewed() -> bool:
        doc = await mongo.db[JOBS].find_one({"_id": "key-hb"})
        return doc is not None and doc["claimed_until"] == clock() + timedelta(seconds=60)

    owner = JobStore(mongo, "owner", 60, clock=clock, sleep=heartbeat_wait)
    rival = JobStore(mongo, "rival", 60, clock=clock)
    assert (await owner.claim("key-hb", FIELDS)).outcome == "claimed"
    async with owner.kept_alive("key-hb"):
        for _ in range(9):  # three leases
            granted.put_nowait(None)
            await eventually(renewed, what="the heartbeat to renew the claim")
            assert (await rival.claim("key-hb", FIELDS)).outcome == "busy"
    assert beats[:9] == [20.0] * 9, "a renewal every third of a lease"
    # The body ended without recording a job (as if the owner died now): free within one lease.
    clock.advance(59)
    assert (await rival.claim("key-hb", FIELDS)).outcome == "busy"
    clock.advance(2)
    claim = await rival.claim("key-hb", FIELDS)
    assert (claim.outcome, claim.resubmission) == ("claimed", True)
    assert not await owner.renew("key-hb"), "the claim is the rival's now"


class DownFor:
    """The jobs collection, whose updates fail as an unreachable MongoDB does for the first ``calls``."""

    def __init__(self, collection: Any, calls: int) -> None:
        self._collection = collection
        self.calls_left = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        if self.calls_left > 0:
            self.calls_left -= 1
            raise ServerSelectionTimeoutError("No servers found yet")
        return await self._collection.update_one(*args, **kwargs)


@pytest.mark.integration
async def test_the_providers_job_id_is_kept_through_a_mongodb_outage_of_minutes(mongo: Mongo) -> None:
    """The job exists at the provider: the submitter waits for MongoDB rather than let the claim lapse into
    a second submission (it gave up after ~48 s before)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    store = JobStore(mongo, "me", 60, sleep=sleep)
    await store.claim("key-1", FIELDS)
    store._col = DownFor(store._col, calls=40)  # type: ignore[assignment]
    assert await store.record_submitted("key-1", SubmittedJob("job-1", "conv-1"))
    assert sum(slept) > 290, "nearly five minutes of outage waited out"
    stored = await store.get("key-1")
    assert stored is not None and (stored.status, stored.job_id) == ("scheduled", "job-1")


@pytest.mark.integration
async def test_an_endless_mongodb_outage_is_given_up_after_the_patience(mongo: Mongo) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    store = JobStore(mongo, "me", 60, sleep=sleep)
    await store.claim("key-1", FIELDS)
    store._col = DownFor(store._col, calls=10**6)  # type: ignore[assignment]
    with pytest.raises(MongoUnavailable):
        await store.record_submitted("key-1", SubmittedJob("job-1", "conv-1"))
    assert RECORD_PATIENCE_SECONDS <= sum(slept) <= RECORD_PATIENCE_SECONDS + 8
