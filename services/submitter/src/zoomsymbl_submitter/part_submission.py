"""Submitting one part of a mixed file: limiter slot, claim, provider call, job document, event.

A finished submission is only announced again; otherwise the limiter slot is taken (waiting as long as it takes,
without spinning), the submission is claimed in ``jobs``, the provider is called, the ids are stored, and
``JobSubmitted`` is published. Any failure between the slot and the job's existence gives the slot and the claim
back, so nothing leaks; one that may have left a job at the provider all the same
(:mod:`zoomsymbl_submitter.ambiguity`) marks the claim, so that the next submission is flagged as a possible
duplicate (:mod:`zoomsymbl_submitter.jobs`). A claim that lapsed meanwhile (MongoDB out of reach for longer than a
lease) keeps its slot: it is the job reference's, and another replica may own the claim and count on it now. A job
stored by another owner first is the one announced, not ours. The meeting's side (its parts, the provider it goes
to, the fallback to Zoom's transcript) is :mod:`zoomsymbl_submitter.submission`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass

from zoomsymbl_common.errors import MongoUnavailable, PoisonInputError, RetryableError, ZoomsymblError
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.limiter import Limiter, LimiterTimeout
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import SpeechProvider, SubmittedJob
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_submitter import plan
from zoomsymbl_submitter.ambiguity import maybe_accepted
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.claims import inspect
from zoomsymbl_submitter.generations import GenerationSuperseded, Publish, Report, newer_generation
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.parts import Part

log = logging.getLogger("zoomsymbl.submitter")
_BUSY_POLL_MAX = 1.0


@dataclass(frozen=True)
class Target:
    """Where one meeting goes: its tenant, the provider client, the limiter of the provider account."""

    tenant: TenantConfig
    provider: SpeechProvider
    account_key: str
    limiter: Limiter
    # Why this meeting runs on Zoom's transcript instead of the tenant's provider, when that failed.
    fallback_reason: str | None = None


class PartSubmission:
    """The per-part flow of :class:`~zoomsymbl_submitter.submission.Submitter`, whose fields it uses."""

    jobs: JobStore
    meetings: MeetingStore
    audio: AudioSource
    callbacks: plan.CallbackConfig
    publish: Publish
    metrics: SubmitterMetrics
    acquire_timeout: float
    report: Report | None

    async def submit_part(self, event: AudioMixed, target: Target, part: Part) -> None:
        """One part, at most once per idempotency key."""
        key = plan.idempotency_key(event, target.provider.name, part)
        while True:
            stored = await self.jobs.get(key)
            found = inspect(stored, self.jobs.now()) if stored is not None else None
            if found is not None and found.outcome == "done" and stored is not None:
                job = SubmittedJob(stored.job_id or "", stored.conversation_id or "")
                self.metrics.submissions.labels(target.provider.name, "duplicate").inc()
                await self.publish(plan.job_submitted(event, target.provider.name, part, key, job))
                await self._finished_at_once(event, target, job)
                return
            if found is not None and found.outcome == "rejected" and stored is not None:
                await target.limiter.release(key)  # taken in a race with the rejection: no job will hold it
                raise PoisonInputError(stored.last_error or "rejected by the provider", stage="submit")
            if found is not None and found.outcome == "busy":
                await asyncio.sleep(min(max(found.wait_seconds, 0.05), _BUSY_POLL_MAX))
                continue
            if await self._claim_and_submit(event, target, part, key):
                return

    async def _claim_and_submit(self, event: AudioMixed, target: Target, part: Part, key: str) -> bool:
        """Slot, claim, provider, ids, event; False when another replica's claim got in first."""
        await self._acquire(target, key)
        fields = plan.job_fields(event, target.provider.name, target.account_key, part)
        if target.fallback_reason is not None:
            fields["fallback_reason"] = target.fallback_reason
        claim = await self.jobs.claim(key, fields)
        if claim.outcome != "claimed":
            return False  # someone else's claim or result: look again
        await self._check_generation(event, target, key)
        async with self.jobs.kept_alive(key):
            job = await self._submit(event, target, part, key)
        self.metrics.submissions.labels(
            target.provider.name, "resubmitted" if claim.resubmission else "submitted"
        ).inc()
        announced = await self._record(key, job)
        if announced is None:
            return True
        log.info(
            "job submitted",
            extra={
                "tenant": event.tenant,
                "meeting_uuid": event.meeting_uuid,
                "event_id": event.event_id,
                "provider": target.provider.name,
                "job_id": job.job_id,
                "part": f"{part.index + 1}/{part.count}",
            },
        )
        await self.publish(plan.job_submitted(event, target.provider.name, part, key, announced))
        await self._finished_at_once(event, target, announced)
        return True

    async def _record(self, key: str, job: SubmittedJob) -> SubmittedJob | None:
        """Store ``job``'s ids; the job to announce: ours, the one another owner stored first, or None."""
        try:
            if await self.jobs.record_submitted(key, job):
                return job
        except MongoUnavailable:
            # The claim lapses and the job is submitted again (flagged): this id is the one left behind.
            log.error(
                "provider job not recorded, it will be submitted again", extra={"job_ref": key, "job_id": job.job_id}
            )
            raise
        # Our claim lapsed and another owner stored its job first: ours is left behind at the provider. The
        # stored job is the one callbacks, the sweeper and the report follow, and the event id is the same
        # for both (stable per submission): announcing ours could make the notifier follow a job nobody tracks.
        stored = await self.jobs.get(key)
        if stored is None or not stored.job_id:
            # Erased meanwhile (or claimed again, its owner to announce it): announcing would bring it back.
            log.error("provider job not recorded, nothing announced", extra={"job_ref": key, "job_id": job.job_id})
            return None
        log.error(
            "provider job not recorded, announcing the one stored first",
            extra={"job_ref": key, "job_id": job.job_id, "stored_job_id": stored.job_id},
        )
        return SubmittedJob(stored.job_id, stored.conversation_id or "")

    async def _finished_at_once(self, event: AudioMixed, target: Target, job: SubmittedJob) -> None:
        if target.provider.name == "zoom" and self.report is not None:
            await self.report(plan.completed_at_once(event, target.provider.name, job))

    async def _acquire(self, target: Target, key: str) -> None:
        """Wait for a token and a slot; the message stays uncommitted meanwhile."""
        started = time.monotonic()
        while True:
            try:
                await target.limiter.acquire(key, timeout=self.acquire_timeout)
                break
            except LimiterTimeout:
                log.info(
                    "waiting for a provider slot",
                    extra={"account": target.account_key, "job_ref": key, "waited": time.monotonic() - started},
                )
        self.metrics.limiter_wait.observe(time.monotonic() - started)

    async def _check_generation(self, event: AudioMixed, target: Target, key: str) -> None:
        """The meeting may have been run again while this part waited for a slot (an operator's forced replay of
        a stuck meeting queues behind it): then the slot and the claim go back, and nothing is submitted."""
        current = newer_generation(await self.meetings.generation(event), event)
        if current is None:
            return
        why = f"superseded: the meeting was run again as generation {current}"
        await self._give_back(target, key, "superseded", why, target.provider.name, None)
        raise GenerationSuperseded(event.generation, current)

    async def _submit(self, event: AudioMixed, target: Target, part: Part, key: str) -> SubmittedJob:
        """Call the provider; on any failure before a job exists, give the slot and the claim back."""
        name = target.provider.name
        try:
            hook = plan.webhook(name, self.callbacks, key)
            url = self.audio.presigned_url(part.bucket, part.object_key)
            opener = self.audio.opener(part.bucket, part.object_key)
            request = plan.submit_request(event, part, target.tenant.language, hook, opener, url)
            if name == "zoom":
                text = plan.transcript_key(event)
                request = dataclasses.replace(
                    request, transcript=self.audio.opener(part.bucket, text) if text else None
                )
            self.jobs.calling(key)
            job = await target.provider.submit(request)
            plan.check_job_ids(name, job)
            return job
        except PoisonInputError as exc:
            await self._give_back(target, key, "rejected", exc.reason, name, exc)
            raise
        except RetryableError as exc:
            await self._give_back(target, key, "retrying", str(exc), name, exc)
            raise
        except ZoomsymblError as exc:
            await self._give_back(target, key, "retrying", str(exc), name, exc)
            raise RetryableError(f"submission failed: {scrub(str(exc))}") from exc
        except Exception as exc:
            await self._give_back(target, key, "retrying", f"{type(exc).__name__}: {exc}", name, exc)
            raise

    async def _give_back(
        self, target: Target, key: str, status: str, reason: str, provider: str, exc: BaseException | None
    ) -> None:
        # The reason may quote an exception as it was (an HTTP client's error names the presigned URL
        # it fetched): jobs.last_error, its history and the log line get it scrubbed.
        reason = scrub(reason)
        # The slot is the job reference's, not its owner's: a replica that took our lapsed claim over holds
        # this very slot (its acquire found it held and renewed it), and freeing it would let one job more
        # run on the account than its cap. So it is freed only while the claim is ours and live (extended
        # by a lease here), and before the claim is given up, after which the next owner may count on it.
        # A lapsed claim's slot stays with the reference: its next owner's, or the reclaimer's after a lease.
        ours = await self.jobs.still_ours(key)
        freed = await target.limiter.release(key) if ours else False
        maybe = status == "retrying" and exc is not None and maybe_accepted(exc)
        released = await self.jobs.release_claim(
            key, "rejected" if status == "rejected" else "retrying", reason, maybe_submitted=maybe
        )
        self.metrics.submissions.labels(provider, status).inc()
        log.warning(
            "submission failed",
            extra={
                "job_ref": key,
                "status": status,
                "reason": reason,
                "freed": freed,
                "maybe_submitted": maybe,
                "claim_lapsed": not ours,
                "claim_released": released,
            },
        )
