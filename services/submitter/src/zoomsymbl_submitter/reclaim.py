"""Reclaiming limiter slots whose job went silent: lease expired and the provider says it finished.

The notifier frees a slot when a job's callback (or its sweeper) reports ``completed``/``failed``.
When neither happens — a lost callback, a notifier down for long — the slot would be held forever;
this periodic task asks, for every slot whose lease ran out, whether its job is finished, and frees
it only then (a job still running gets a fresh lease). A job of a tenant no longer in the tenants file frees its
slot: nothing asks about such a job any more, and the account may be shared.

A job is asked about at the provider it ran on (``jobs.provider``), not the tenant's provider of today:
a meeting that fell back to Zoom's transcript ran as ``zoom``, and a tenant moved to another provider
still has jobs at the old one (whose account other tenants may share). Asked the tenant's provider, the
zoom job's slot was never freed (AssemblyAI knows no such job: the slot was kept, renewed for ever), and
an AssemblyAI job of a tenant now on ``zoom`` or ``whisper`` read as finished (no such transcription) while
it still ran. The zoom account's slots are looked at in every round, as every tenant may fall back to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from zoomsymbl_common.errors import ConfigError, ZoomsymblError
from zoomsymbl_common.providers.factory import ZOOM_ACCOUNT
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.records import Job, MalformedRecord
from zoomsymbl_common.tenants import Tenants, ran_as

from zoomsymbl_submitter.claims import inspect
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.periodic import every
from zoomsymbl_submitter.pools import LimiterPool

log = logging.getLogger("zoomsymbl.submitter.reclaim")
_FINISHED = ("completed", "failed")


@dataclass
class Reclaimer:
    """Runs :meth:`Limiter.reclaim_expired` for every provider account, every ``interval`` seconds."""

    tenants: Tenants
    providers: ProviderPool
    limiters: LimiterPool
    jobs: JobStore
    metrics: SubmitterMetrics
    interval: float

    async def run_forever(self) -> None:
        """Reclaim until cancelled; a failed round is logged and the next one tries again (:func:`periodic.every`)."""
        await every(self.interval, self.once, "slot reclaim", log)

    async def once(self) -> int:
        """One round over every account of every tenant; returns the slots freed."""
        for tenant in self.tenants.all():
            self.limiters.get(self.providers.account_key(tenant))
        self.limiters.get(ZOOM_ACCOUNT)  # a fallback's slots, whether or not this process made one since it started
        freed = 0
        for limiter in self.limiters.all():
            freed += await limiter.reclaim_expired(self.is_finished)
        if freed:
            self.metrics.reclaimed.inc(freed)
        return freed

    async def is_finished(self, job_ref: str) -> bool:
        """True when no job exists for ``job_ref`` (any more), or its provider says it finished."""
        try:
            job = await self.jobs.get(job_ref)
        except MalformedRecord as exc:
            # Raised, it ended the round at this slot, every round: no expired slot after it (of any account) came
            # back. Whether its job still runs cannot be read, so the slot is kept (renewed) and logged each lease.
            log.error("job unreadable, slot kept", extra={"job_ref": job_ref, "error": str(exc)[:500]})
            return False
        return await self._is_finished(job_ref, job)

    async def _is_finished(self, job_ref: str, job: Job | None) -> bool:
        if job is None:
            return True  # the slot was taken but the submission never claimed (a crash in between)
        found = inspect(job, self.jobs.now())
        if found.outcome == "busy":
            return False
        if found.outcome != "done" or job.status in _FINISHED or not job.job_id:
            return True
        tenant = self.tenants.get(job.tenant)
        if tenant is None:
            # A tenant taken out of the tenants file: nothing asks about its jobs any more (the notifier neither), so
            # kept, the slot was renewed for ever, one less for every tenant sharing the account.
            log.warning("job of unknown tenant, slot freed", extra={"job_ref": job_ref, "tenant": job.tenant})
            return True
        try:
            state = await self.providers.get(ran_as(tenant, job.provider)).job_status(job.job_id)
        except (ConfigError, ZoomsymblError) as exc:
            log.warning("job status unknown, slot kept", extra={"job_ref": job_ref, "error": str(exc)})
            return False
        return state.status in _FINISHED
