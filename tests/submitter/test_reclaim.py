"""Slots of silent jobs come back only when the provider confirms the job finished."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import JOBS
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.provider_testkit import make_tone_audio
from zoomsymbl_sandbox.symbl import SYMBL_STATE, SymblConfig, build_symbl_app
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings
from zoomsymbl_submitter.reclaim import Reclaimer

from tests.submitter.support import APP_ID, drain, tenants_for

pytestmark = pytest.mark.integration
ACCOUNT = f"symbl:{APP_ID}"


@pytest.fixture
async def symbl(tmp_path: Path) -> AsyncIterator[TestServer]:
    config = SymblConfig(storage_dir=tmp_path / "symbl", timings=JobTimings(0.05, 0.05), max_concurrent_jobs=5)
    server = TestServer(build_symbl_app(config))
    await server.start_server()
    yield server
    await drain(server.app[SYMBL_STATE].board)
    await server.close()


async def start_job(symbl: TestServer, session: aiohttp.ClientSession, audio: Path, **query: str) -> str:
    token = symbl.app[SYMBL_STATE].issue_token()
    params = {"name": "silent job"} | query
    headers = {"x-api-key": token}  # no Content-Type: Symbl detects FLAC itself (POST Audio)
    async with session.post(symbl.make_url("/v1/process/audio"), params=params, data=audio.read_bytes(),
                            headers=headers, skip_auto_headers=("Content-Type",)) as resp:  # fmt: skip
        assert resp.status == 201
        return str((await resp.json())["jobId"])


def ids(key: str) -> dict[str, str]:
    """A submission's three names for itself (the submitter writes them all)."""
    return {"_id": key, "idempotency_key": key, "job_ref": key}


async def test_expired_slots_come_back_only_for_finished_or_never_started_jobs(
    mongo: Mongo, symbl: TestServer, tmp_path: Path
) -> None:
    audio = make_tone_audio(tmp_path / "a.flac", [[(0.2, 0.6)]], 1.0)
    board = symbl.app[SYMBL_STATE].board
    board.timings = JobTimings(60.0, 60.0)  # jobs stay in flight until the test says otherwise
    async with aiohttp.ClientSession() as session:
        finished = await start_job(symbl, session, audio)
        running = await start_job(symbl, session, audio)
        board.jobs[finished].phase = "done"  # completed, but its callback never reached the notifier
        clock = FakeClock()
        pool = LimiterPool(mongo, LimiterSettings(100.0, 100, 10, 60.0, 0.05), clock=clock)
        limiter = pool.get(ACCOUNT)
        now = clock()
        base = {"tenant": "acme", "meeting_uuid": "m", "provider": "symbl", "status": "scheduled"}
        await mongo.db[JOBS].insert_many(
            [
                base | ids("ref-finished") | {"job_id": finished},
                base | ids("ref-running") | {"job_id": running},
                base | ids("ref-claimed") | {"job_id": None, "status": "submitting",
                                             "claimed_until": now + timedelta(minutes=5)},
            ]
        )  # fmt: skip
        for ref in ("ref-finished", "ref-running", "ref-claimed", "ref-never-claimed"):
            await limiter.acquire(ref, timeout=5)
        clock.advance(61)  # every lease expires; the live claim (5 minutes) does not

        tenants = tenants_for("symbl", str(symbl.make_url("")))
        jobs = JobStore(mongo, "me", 60, clock=clock)
        providers = ProviderPool(session, submit_timeout=30)
        reclaimer = Reclaimer(tenants, providers, pool, jobs, SubmitterMetrics.create(), 60)
        assert await reclaimer.once() == 2

    held = {slot.ref: slot for slot in await limiter.slots()}
    assert set(held) == {"ref-running", "ref-claimed"}
    assert held["ref-running"].expires_at == pytest.approx(clock().timestamp() + 60), "its lease renewed"
    for job in board.jobs.values():
        job.phase = "done"
