"""A job document the reclaimer cannot read costs its own slot's reclaim, not every other slot's."""

from __future__ import annotations

import aiohttp
import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import JOBS
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings
from zoomsymbl_submitter.reclaim import Reclaimer

from tests.submitter.support import APP_ID, tenants_for

pytestmark = pytest.mark.integration
ACCOUNT = f"symbl:{APP_ID}"


async def test_an_unreadable_job_keeps_its_slot_and_every_other_expired_slot_is_still_reclaimed(mongo: Mongo) -> None:
    clock = FakeClock()
    pool = LimiterPool(mongo, LimiterSettings(100.0, 100, 10, 60.0, 0.05), clock=clock)
    limiter = pool.get(ACCOUNT)
    # Written by another release, or edited by hand: no model of ours reads it (``status`` is no job status).
    await mongo.db[JOBS].insert_one({"_id": "ref-unreadable", "tenant": "acme", "status": 42})
    refs = ["ref-never-claimed-1", "ref-unreadable", "ref-never-claimed-2", "ref-never-claimed-3"]
    for ref in refs:
        await limiter.acquire(ref, timeout=5)
    clock.advance(61)  # every lease expires

    async with aiohttp.ClientSession() as session:
        tenants = tenants_for("symbl", "http://127.0.0.1:9")  # never asked: no slot here has a provider job
        reclaimer = Reclaimer(
            tenants, ProviderPool(session, submit_timeout=30), pool, JobStore(mongo, "me", 60, clock=clock),
            SubmitterMetrics.create(), 60,
        )  # fmt: skip
        assert await reclaimer.once() == 3

    held = {slot.ref: slot for slot in await limiter.slots()}
    assert set(held) == {"ref-unreadable"}, "kept: whether its job still runs cannot be read"
    assert held["ref-unreadable"].expires_at > clock().timestamp(), "its lease renewed, looked at again a lease later"


async def test_a_job_of_a_tenant_no_longer_configured_frees_its_slot(mongo: Mongo) -> None:
    """Before, its slot was kept and its lease renewed every round, for ever: nothing asks about a removed tenant's
    jobs, and every tenant sharing the provider account had one slot less."""
    clock = FakeClock()
    pool = LimiterPool(mongo, LimiterSettings(100.0, 100, 10, 60.0, 0.05), clock=clock)
    limiter = pool.get(ACCOUNT)
    job = {"_id": "ref-gone", "idempotency_key": "ref-gone", "job_ref": "ref-gone", "tenant": "gone",
           "meeting_uuid": "m", "provider": "symbl", "status": "in_progress", "job_id": "job-at-symbl"}  # fmt: skip
    await mongo.db[JOBS].insert_one(job)
    await limiter.acquire("ref-gone", timeout=5)
    clock.advance(61)

    async with aiohttp.ClientSession() as session:
        tenants = tenants_for("symbl", "http://127.0.0.1:9")  # acme only; never asked: the tenant is gone
        reclaimer = Reclaimer(
            tenants, ProviderPool(session, submit_timeout=30), pool, JobStore(mongo, "me", 60, clock=clock),
            SubmitterMetrics.create(), 60,
        )  # fmt: skip
        assert await reclaimer.once() == 1
    assert await limiter.slots() == []
