"""What happens to a job once its provider confirmed a status: the notifier's domain flow.

Every step is idempotent and ordered so that a crash anywhere is repaired by redelivering the same
message (or by the sweeper): status applied (conditional), limiter slot released (``release`` is
true once), insights stored (upsert), the meeting assembled when every part is stored, the e-mail's
intent recorded (unique index) and then sent through the outbox. A meeting another service gave
up on (``MeetingFailed``) gets its failure notice through the same outbox, under the same key as a
provider failure's: one notice per meeting and generation, whoever failed it and however often
(:mod:`zoomsymbl_notifier.notices`).
A failed provider job of a meeting with Zoom's transcript stored is replaced by a zoom job instead
(:mod:`zoomsymbl_notifier.fallback`) and completes the meeting: one report, no notice. The other way
round, a meeting failed in a generation gets no report of it afterwards, whichever job of that
generation completes later (:meth:`Pipeline._completes`): the host was told it failed. A generation
the meeting left (a forced replay, a new mix) that finishes later is recorded and sends no report:
the newer one does, or, if it fails, this one's report goes out in place of its failure notice
(:mod:`zoomsymbl_notifier.generations`).

The MongoDB-wire server bounds the notifier's throughput (docs/performance.md), so a completion reads
nothing twice: the handler's read of the job and the meeting's facts (returned by its stage move) are
passed down, insights just stored are not read back, a one-part meeting's parts are not looked up, a
first send is recorded already claimed; ``tests/notifier/test_round_trips.py`` holds the count.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import Event, InsightsReady, JobStatus, stable_id
from zoomsymbl_common.insights_engine import InsightsEngine
from zoomsymbl_common.providers.base import Insights, JobState, SpeechProvider, SubmittedJob
from zoomsymbl_common.providers.zoom_transcript import fallback_source
from zoomsymbl_common.tenants import TenantConfig, Tenants, ran_as

from zoomsymbl_notifier import generations
from zoomsymbl_notifier import insights as merging
from zoomsymbl_notifier.enrichment import enrich
from zoomsymbl_notifier.fallback import Fallback
from zoomsymbl_notifier.insights import InsightsStore
from zoomsymbl_notifier.jobs import JobRecord, Jobs, Mark
from zoomsymbl_notifier.links import meeting_page_link
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.notices import SERVICE as SERVICE
from zoomsymbl_notifier.notices import Notices, job_fields, mail_key
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import meeting_report
from zoomsymbl_notifier.statuses import is_terminal, stage_for_status

log = logging.getLogger("zoomsymbl.notifier.pipeline")

Publish = Callable[[Event], Awaitable[None]]
ReleaseSlot = Callable[[JobRecord], Awaitable[bool]]
ProviderFor = Callable[[TenantConfig], SpeechProvider]
EngineFor = Callable[[TenantConfig], InsightsEngine | None]


Current = Literal["current"]
CURRENT: Current = "current"
"""What :meth:`Pipeline._completes` says of a report of the meeting's current generation."""


class UnknownJob(PoisonInputError):
    """A status report names a job (or tenant) this deployment does not know; the meeting is not touched."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, stage="lookup")


@dataclass(kw_only=True)
class Pipeline(Notices):
    """The notifier's collaborators, and the flow from a confirmed status to the e-mail (sent as :class:`Notices`
    sends it: ``settings``, ``meetings``, ``outbox`` and ``count_failure`` are its fields)."""

    tenants: Tenants
    jobs: Jobs
    insights: InsightsStore
    provider_for: ProviderFor
    publish: Publish
    release_slot: ReleaseSlot
    engine_for: EngineFor = lambda _tenant: None
    # Completes a meeting from Zoom's transcript when its provider job failed (None: never).
    fallback: Fallback | None = None

    def tenant_of(self, job: JobRecord) -> TenantConfig:
        """The tenant of ``job``, or :class:`UnknownJob`."""
        tenant = self.tenants.get(job.tenant)
        if tenant is None:
            raise UnknownJob(f"job {job.job_id!r} belongs to unknown tenant {job.tenant!r}")
        return tenant

    async def confirm_and_apply(self, job: JobRecord, via: str) -> None:
        """Ask the provider for the job's status, apply it (forward only) and act on a final one.

        ``job`` is the document as the caller just read it; it is not read again (see :meth:`_current`).
        """
        tenant = self.tenant_of(job)
        provider = self.provider_for(ran_as(tenant, job.provider))
        state = await provider.job_status(job.job_id)
        moved = await self.jobs.apply_status(job, state.status, state.reason, via)
        log.info(
            "job status confirmed",
            extra={**job_fields(job), "status": state.status, "stored": job.status, "moved": moved, "via": via},
        )
        facts = None
        stage = stage_for_status(state.status)
        if moved and stage is not None:
            facts = await self.meetings.advance_and_read(job.tenant, job.meeting_uuid, job.generation, stage)
        current = await self._current(job, state.status, moved)
        if current.status == "completed":
            await self.on_completed(current, tenant, provider, facts, first=moved)
        elif current.status == "failed":
            await self.on_failed(current, tenant, state)

    async def _current(self, job: JobRecord, status: JobStatus, moved: bool) -> JobRecord:
        """``job`` as stored now: after a move, with the status just written; without one, as read, unless
        the provider's final status is news to that read (another handler wrote a status in between)."""
        if moved:
            return dataclasses.replace(job, status=status, sweeps=0)
        if is_terminal(status) and job.status != status:
            return await self.jobs.by_provider_id(job.provider, job.job_id) or job
        return job

    async def on_completed(
        self,
        job: JobRecord,
        tenant: TenantConfig,
        provider: SpeechProvider,
        facts: MeetingFacts | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Free the slot, store the insights, and finish the meeting if this was its last part.

        ``facts``: the meeting's, when the caller has read them already. ``first``: this run moved the
        job to ``completed``, so no earlier run stored its insights; otherwise stored insights whose
        mark is missing (their run died before setting it) are found and kept, not fetched again. The
        mark is what the runs of a meeting's other parts look for: a one-part meeting has none, so a
        run that stored its insights sets the mark with ``processed_at``, in one update at the end.
        """
        await self._release(job)
        fresh = None
        marks: list[Mark] = ["processed_at"]
        if not job.insights_stored:
            kept = None if first else await self.insights.get(job)
            if kept is None:
                fresh, facts = await self._store_insights(job, tenant, provider, facts)
            if kept is None and job.part_count == 1:
                marks.append("insights_stored_at")
            else:
                await self.jobs.mark(job, "insights_stored_at")
            job = dataclasses.replace(job, insights_stored=True)
        await self.assemble(job, tenant, facts, fresh)
        await self.jobs.mark(job, *marks)

    async def _store_insights(
        self, job: JobRecord, tenant: TenantConfig, provider: SpeechProvider, facts: MeetingFacts | None
    ) -> tuple[Insights, MeetingFacts]:
        """Fetch, enrich and store ``job``'s insights; they as stored, and the meeting's facts."""
        raw = await provider.fetch_insights(SubmittedJob(job.job_id, job.conversation_id))
        if job.fallback_reason:  # the report says why Zoom's transcript stood in for the provider
            raw = dataclasses.replace(raw, extra={**raw.extra, "source": fallback_source(job.fallback_reason)})
        if facts is None:
            facts = await self.meetings.facts(job.tenant, job.meeting_uuid)
        # Who is the same person in every part: a participant, or a channel under the name Symbl gives it.
        names = {s.name for s in facts.speakers if s.name} | {f"Channel {s.channel}" for s in facts.speakers}
        raw = merging.part_voices(raw, names, job.part_index, job.part_count)
        found = await enrich(raw, facts, self.engine_for(tenant))
        stored = await self.insights.put(job, found)
        log.info("insights stored", extra={**job_fields(job), **merging.counts(found)})
        return stored, facts

    async def on_failed(self, job: JobRecord, tenant: TenantConfig, state: JobState) -> None:
        """Free the slot; complete the meeting from Zoom's transcript when one is stored, else mark it
        failed with the provider's reason and tell the host."""
        await self._release(job)
        reason = f"{job.provider} job failed: {state.reason or 'no reason given'}"
        if not await self._fell_back(job, tenant, reason):
            await self.fail_meeting(job, tenant, "provider", reason)
        await self.jobs.mark(job, "processed_at")

    async def _fell_back(self, job: JobRecord, tenant: TenantConfig, reason: str) -> bool:
        """Complete ``job``'s meeting from Zoom's transcript; False when it cannot (see ``fallback``)."""
        if self.fallback is None or job.provider == "zoom" or job.part_count > 1:
            return False
        zoom_tenant = ran_as(tenant, "zoom")
        zoom = self.provider_for(zoom_tenant)
        replacement = await self.fallback.replacement(job, zoom_tenant, zoom, reason)
        if replacement is None:
            return False
        log.warning(
            "provider job failed, completing from zoom's transcript", extra={**job_fields(job), "reason": reason}
        )
        await self.on_completed(replacement, tenant, zoom)
        return True

    async def assemble(
        self,
        job: JobRecord,
        tenant: TenantConfig,
        facts: MeetingFacts | None = None,
        fresh: Insights | None = None,
    ) -> None:
        """When every part's insights are stored: announce them and e-mail the host (once), unless the
        meeting failed in this generation or was re-run since (see :meth:`_completes`).

        ``fresh``: ``job``'s insights as this run just stored them. No earlier run can then have got
        this far (it would have stored them before assembling), so the outbox is not asked first
        whether the report was recorded: a concurrent run of the same meeting is stopped by the
        outbox's unique insert, as it was when both asked at once. ``facts``: the meeting's, if read.
        """
        parts = await self._ready_parts(job, fresh is not None)
        if parts is None:
            return
        key = mail_key(job, "report")
        if fresh is None and await self.outbox.exists(key):
            await self.deliver(key)
            return
        stored = await self._stored(job, parts, fresh)
        story = await self._completes(job)
        if story is not None:
            await self._report(job, stored, tenant, facts, story if isinstance(story, int) else None)

    async def _stored(
        self, job: JobRecord, parts: list[JobRecord], fresh: Insights | None
    ) -> list[tuple[JobRecord, Insights]]:
        """Each part with its stored insights (``fresh``: ``job``'s, not read back)."""
        loaded = [(p, fresh if fresh is not None and p.key == job.key else await self.insights.get(p)) for p in parts]
        stored = [(p, ins) for p, ins in loaded if ins is not None]
        if len(stored) != len(parts):
            raise PoisonInputError(f"insights of meeting {job.meeting_uuid!r} vanished", stage="assemble")
        return stored

    async def _report(
        self,
        job: JobRecord,
        stored: list[tuple[JobRecord, Insights]],
        tenant: TenantConfig,
        facts: MeetingFacts | None,
        stands_in_for: int | None,
    ) -> None:
        """Announce the parts' insights and e-mail the report of ``job``'s generation. ``stands_in_for``: the failed
        later generation whose notice it replaces; then without the meeting page's link (the page shows the
        meeting's current generation, which failed)."""
        merged = merging.merge([(p.part_offset_seconds, ins) for p, ins in stored])
        urls = merging.summary_urls([ins for _, ins in stored])
        await self.publish(_ready_event(job, [p for p, _ in stored], merged))
        if facts is None:
            facts = await self.meetings.facts(job.tenant, job.meeting_uuid)
        link = meeting_page_link(self.settings, tenant, job.meeting_uuid) if stands_in_for is None else None
        extra = None if stands_in_for is None else {generations.STANDS_IN_FOR: stands_in_for}
        report = meeting_report(merged, facts, job.generation, urls, link)
        await self._mail(mail_key(job, "report"), tenant, facts, report, extra)

    async def _completes(self, job: JobRecord) -> Current | int | None:
        """Move ``job``'s meeting to ``completed``: :data:`CURRENT` when it moved (or had, in this generation).

        None when its generation is failed instead: one story per meeting and generation, a meeting
        failed here (retries given up, the host told) stays failed, so insights that arrive after all (a
        crash between the failure and the job's mark let a late report through) get no announcement and
        no report. When the meeting was re-run since, what :meth:`_superseded` decides. Only a move that
        did not happen costs the extra read: a redelivery's, when the meeting is completed already.
        """
        if await self.meetings.advance(job.tenant, job.meeting_uuid, job.generation, "completed"):
            return CURRENT
        now = await self.meetings.position(job.tenant, job.meeting_uuid)
        if now is not None and now.generation > job.generation:
            return await self._superseded(job)
        if now is None or now.generation != job.generation or now.stage != "failed":
            return CURRENT
        log.warning("meeting failed in this generation, no report", extra=job_fields(job))
        return None

    async def _superseded(self, job: JobRecord) -> int | None:
        """``job`` finished its generation after the meeting was re-run: no report (the host is owed one for the
        reprocessing, the newer generation's), unless the newer generation failed and this one stands in for it
        (:func:`generations.stand_in`): then that failed generation, whose notice this report replaces.

        The job's insights are marked stored before the meeting is read again, as a failure marks the meeting
        failed before it looks for a finished earlier generation (:meth:`stand_in`): of the two at the same time,
        at least one sees the other, so the host never ends up with neither the report nor a notice.
        """
        await self.jobs.mark(job, "insights_stored_at")
        now = await self.meetings.position(job.tenant, job.meeting_uuid)
        later = now.generation if now is not None else job.generation
        if now is not None and now.stage == "failed" and later > job.generation:
            found = await generations.stand_in(self.jobs, self.outbox, job.tenant, job.meeting_uuid, later)
            if found is not None and found.first.generation == job.generation:
                log.warning(
                    "meeting re-run since and failed, report of this generation instead",
                    extra={**job_fields(job), "failed_generation": later},
                )
                return later
        log.info("meeting re-run since, report withheld", extra={**job_fields(job), "current_generation": later})
        return None

    async def stand_in(self, failure: MailKey, tenant: TenantConfig) -> bool:
        """Send the report of the newest earlier generation that finished instead of the failure notice
        ``failure``, unless that report went out before (when its generation was current, or standing in for
        another failure): the host has it, and this failure is news. True when it stands in (now or before)."""
        meeting, failed = (failure.tenant, failure.meeting_uuid), failure.generation
        found = await generations.stand_in(self.jobs, self.outbox, *meeting, failed)
        if found is None:
            return False
        recorded = await self.outbox.recorded(found.report, generations.STANDS_IN_FOR)
        if recorded is not None:
            if recorded.get(generations.STANDS_IN_FOR) != failed:
                return False
            await self.deliver(found.report)  # recorded by an earlier run of this failure: sent, or due
            return True
        ids = {**job_fields(found.first), "failed_generation": failed}
        try:
            stored = await self._stored(found.first, found.parts, None)
        except PoisonInputError as exc:  # its insights were deleted since (``zoomsymbl forget``): the notice then
            log.warning("earlier generation's insights gone, failure notice instead", extra={**ids, "error": str(exc)})
            return False
        log.warning("meeting re-run failed, report of the earlier generation instead of a notice", extra=ids)
        await self._report(found.first, stored, tenant, None, failed)
        return True

    async def _ready_parts(self, job: JobRecord, fresh: bool) -> list[JobRecord] | None:
        """The meeting's parts when every one is completed with its insights stored, else None.

        A one-part meeting whose insights this run stored is ready as it is: nothing to look up (its
        mark is not even set yet).
        """
        if fresh and job.part_count == 1:
            return [job]
        parts = await self.jobs.parts(job)
        ready = generations.finished_parts(parts, job.part_count)
        if ready is None:
            expected = max([p.part_count for p in parts] or [job.part_count])
            done = len({p.part_index for p in parts if p.status == "completed" and p.insights_stored})
            log.info("waiting for other parts", extra={**job_fields(job), "parts_done": done, "parts": expected})
        return ready

    async def _release(self, job: JobRecord) -> None:
        if await self.release_slot(job):
            log.info("limiter slot released", extra=job_fields(job))


def _ready_event(job: JobRecord, parts: list[JobRecord], merged: Insights) -> InsightsReady:
    return InsightsReady(
        event_id=stable_id("insights-ready", job.tenant, job.meeting_uuid, str(job.generation)),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=job.provider,
        conversation_ids=tuple(p.conversation_id for p in parts),
        summary_url=merged.summary_url,
        counts=merging.counts(merged),
    )
