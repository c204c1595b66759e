"""A silent job's slot is judged by the provider the job ran on, not by the tenant's provider of today."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import aiohttp
import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import JobStatus, Provider
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import JobState, SpeechProvider
from zoomsymbl_common.providers.factory import ZOOM_ACCOUNT, provider_account_key
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import JOBS
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings
from zoomsymbl_submitter.reclaim import Reclaimer

from tests.submitter.support import tenant_json

pytestmark = pytest.mark.integration
LEASE = 60.0


@dataclass
class Answers:
    """What each provider's job API says, by job id (a job it does not know: as the real ones answer)."""

    provider: Provider
    jobs: dict[str, JobStatus]
    asked: list[tuple[Provider, str]] = field(default_factory=list)

    async def job_status(self, job_id: str) -> JobState:
        self.asked.append((self.provider, job_id))
        if job_id in self.jobs:
            return JobState(self.jobs[job_id])
        if self.provider in ("zoom", "whisper"):
            return JobState("failed", reason=f"no transcription {job_id!r}")  # StoredTranscriptions
        raise PoisonInputError(f"{self.provider} has no job {job_id!r}", stage="status")  # the HTTP APIs' 404


class Providers(ProviderPool):
    """A pool whose clients are :class:`Answers`, one per provider name."""

    def __init__(self, session: aiohttp.ClientSession, answers: dict[Provider, Answers]) -> None:
        super().__init__(session)
        self.answers = answers

    def get(self, tenant: TenantConfig) -> SpeechProvider:
        return cast(SpeechProvider, self.answers[tenant.provider])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def tenant(provider: str, tenant_id: str = "acme") -> TenantConfig:
    return TenantConfig.model_validate(tenant_json(provider, "http://127.0.0.1:9") | {"id": tenant_id})


async def silent_job(mongo: Mongo, pool: LimiterPool, ref: str, tenant_id: str, provider: Provider, job_id: str,
                     account: str) -> None:  # fmt: skip
    """A job recorded as scheduled whose slot is held, as the submitter leaves it."""
    await mongo.db[JOBS].insert_one(
        {"_id": ref, "idempotency_key": ref, "job_ref": ref, "tenant": tenant_id, "meeting_uuid": f"m-{ref}",
         "provider": provider, "limiter_account_key": account, "status": "scheduled", "job_id": job_id}
    )  # fmt: skip
    await pool.get(account).acquire(ref, timeout=5)


@pytest.mark.parametrize("fell_back_here", [True, False], ids=["same-process", "after-a-restart"])
async def test_the_slot_of_a_meeting_that_fell_back_to_zoom_is_reclaimed_once_zoom_says_it_finished(
    mongo: Mongo, session: aiohttp.ClientSession, fell_back_here: bool
) -> None:
    clock = FakeClock()
    settings = LimiterSettings(100.0, 100, 2, LEASE, 0.05)
    submitted = LimiterPool(mongo, settings, clock=clock)
    # The provider (AssemblyAI) rejected the meeting; it ran on Zoom's transcript, in the zoom account.
    await silent_job(mongo, submitted, "ref-fallback", "acme", "zoom", "zoom-1", ZOOM_ACCOUNT)
    clock.advance(LEASE + 1)  # the notifier never freed it (its report dead-lettered, say)

    pool = submitted if fell_back_here else LimiterPool(mongo, settings, clock=clock)
    answers: dict[Provider, Answers] = {
        "assemblyai": Answers("assemblyai", {}),
        "zoom": Answers("zoom", {"zoom-1": "completed"}),
    }
    reclaimer = Reclaimer(
        Tenants([tenant("assemblyai")]), Providers(session, answers), pool, JobStore(mongo, "me", LEASE, clock=clock),
        SubmitterMetrics.create(), 60.0,
    )  # fmt: skip
    assert await reclaimer.once() == 1
    assert await pool.get(ZOOM_ACCOUNT).slots() == [], "the zoom account's two slots are not leaked one by one"
    assert answers["assemblyai"].asked == [], "AssemblyAI was not asked about a job of Zoom's transcript"


async def test_a_job_still_running_at_the_tenants_former_provider_keeps_its_slot(
    mongo: Mongo, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    pool = LimiterPool(mongo, LimiterSettings(100.0, 100, 2, LEASE, 0.05), clock=clock)
    moved, stays = tenant("zoom", "acme"), tenant("assemblyai", "beta")  # one AssemblyAI account, shared
    account = provider_account_key(stays)
    await silent_job(mongo, pool, "ref-running", "acme", "assemblyai", "aai-1", account)
    clock.advance(LEASE + 1)

    answers: dict[Provider, Answers] = {
        "assemblyai": Answers("assemblyai", {"aai-1": "in_progress"}),
        "zoom": Answers("zoom", {}),
    }
    reclaimer = Reclaimer(
        Tenants([moved, stays]), Providers(session, answers), pool, JobStore(mongo, "me", LEASE, clock=clock),
        SubmitterMetrics.create(), 60.0,
    )  # fmt: skip
    assert await reclaimer.once() == 0
    held = await pool.get(account).slots()
    assert [slot.ref for slot in held] == ["ref-running"], "a job AssemblyAI still runs keeps its slot"
    assert held[0].expires_at == pytest.approx(clock().timestamp() + LEASE), "its lease renewed"
    assert answers["assemblyai"].asked == [("assemblyai", "aai-1")]
