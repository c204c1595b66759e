"""Submitter replicas racing on one submission's claim (real MongoDB-wire server, a clock the test moves).

A takeover claims attempt n by inserting the marker ``{key}#{n}`` and then writing n into the job. A
replica that dies between the two leaves a marker no later attempt may pass, unless markers of dead
owners are skipped; skipping must still never let a replica act on a stale read of the job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.records import JOB_CLAIMS, JOBS, JobClaim
from zoomsymbl_submitter.jobs import JobStore

pytestmark = pytest.mark.integration

FIELDS = {"tenant": "acme", "meeting_uuid": "m-1", "provider": "symbl", "generation": 0}
LEASE = 60
KEY = "key-race"


class PausedRead:
    """The ``jobs`` collection of one replica: its first ``find_one`` stops after the read until ``go``."""

    def __init__(self, col: Any) -> None:
        self._col = col
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._col, name)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        doc = await self._col.find_one(*args, **kwargs)
        if not self.reached.is_set():
            self.reached.set()
            await self.go.wait()
        return doc


async def _failed_once(mongo: Mongo, clock: FakeClock) -> None:
    first = JobStore(mongo, "first", LEASE, clock=clock)
    assert (await first.claim(KEY, FIELDS)).outcome == "claimed"
    await first.release_claim(KEY, "retrying", "symbl answered HTTP 429")


async def test_a_marker_left_by_a_replica_that_died_mid_takeover_does_not_block_the_job_for_good(
    mongo: Mongo,
) -> None:
    clock = FakeClock()
    await _failed_once(mongo, clock)
    # A replica inserted the marker of attempt 2 and died before writing attempt 2 into the job.
    await mongo.db[JOB_CLAIMS].insert_one(JobClaim(id=JobClaim.id_of(KEY, 2), owner="dead", at=clock()).to_document())
    heir = JobStore(mongo, "heir", LEASE, clock=clock)
    assert (await heir.claim(KEY, FIELDS)).outcome == "busy", "the marker may still be written into the job"

    clock.advance(LEASE + 1)
    claim = await heir.claim(KEY, FIELDS)
    assert claim.outcome == "claimed"
    doc = await mongo.db[JOBS].find_one({"_id": KEY})
    assert doc is not None and (doc["status"], doc["claim_owner"], doc["submit_attempts"]) == ("submitting", "heir", 3)


async def test_a_replica_that_read_the_job_free_long_ago_does_not_claim_it_after_it_was_submitted(
    mongo: Mongo,
) -> None:
    clock = FakeClock()
    await _failed_once(mongo, clock)
    a = JobStore(mongo, "a", LEASE, clock=clock)
    b = JobStore(mongo, "b", LEASE, clock=clock)
    stall = PausedRead(b._col)
    b._col = stall  # type: ignore[assignment]

    b_claims = asyncio.create_task(b.claim(KEY, FIELDS))
    await stall.reached.wait()  # B read: retrying, one attempt so far
    assert (await a.claim(KEY, FIELDS)).outcome == "claimed"
    assert await a.record_submitted(KEY, SubmittedJob("job-1", "conv-1"))
    clock.advance(LEASE + 1)  # B's stall outlasts A's marker
    stall.go.set()

    assert (await b_claims).outcome != "claimed"
    doc = await mongo.db[JOBS].find_one({"_id": KEY})
    assert doc is not None and (doc["status"], doc["job_id"], doc["submit_attempts"]) == ("scheduled", "job-1", 2)
