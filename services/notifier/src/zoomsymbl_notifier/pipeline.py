"""What happens to a job once its provider confirmed a status: the notifier's domain flow.

Every step is idempotent and ordered so that a crash anywhere is repaired by redelivering the same
message (or by the sweeper): status applied (conditional), limiter slot released (``release`` is
true once), insights stored (upsert), the meeting assembled when every part is stored
(:mod:`zoomsymbl_notifier.assembly`), the e-mail's intent recorded (unique index) and then sent
through the outbox. A meeting another service gave up on (``MeetingFailed``) gets its failure notice
through the same outbox, under the same key as a provider failure's: one notice per meeting and
generation, whoever failed it and however often (:mod:`zoomsymbl_notifier.notices`).
A failed provider job of a meeting with Zoom's transcript stored is replaced by a zoom job instead
(:mod:`zoomsymbl_notifier.fallback`) and completes the meeting: one report, no notice. A failed job of a submission
of the generation that its meeting does not take (submitted twice under two plans) fails nothing, and one that may
still be taken waits: judged again when another job of its generation completes or fails
(:mod:`zoomsymbl_notifier.failed_parts`).

The MongoDB-wire server bounds the notifier's throughput (docs/performance.md), so a completion reads
nothing twice: the handler's read of the job and the meeting's facts (returned by its stage move) are
passed down, and insights just stored go to the assembly as they are, not read back;
``tests/notifier/test_round_trips.py`` holds the count.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import JobStatus, utcnow
from zoomsymbl_common.insights_engine import InsightsEngine
from zoomsymbl_common.providers.base import Insights, JobState, SpeechProvider, SubmittedJob
from zoomsymbl_common.providers.zoom_transcript import fallback_source
from zoomsymbl_common.tenants import TenantConfig, Tenants, ran_as

from zoomsymbl_notifier import failed_parts, overdue
from zoomsymbl_notifier import insights as merging
from zoomsymbl_notifier.assembly import Assembly
from zoomsymbl_notifier.enrichment import enrich
from zoomsymbl_notifier.fallback import Fallback
from zoomsymbl_notifier.jobs import JobRecord, Mark
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.notices import SERVICE as SERVICE
from zoomsymbl_notifier.notices import job_fields
from zoomsymbl_notifier.statuses import is_terminal, stage_for_status

log = logging.getLogger("zoomsymbl.notifier.pipeline")

ReleaseSlot = Callable[[JobRecord], Awaitable[bool]]
ProviderFor = Callable[[TenantConfig], SpeechProvider]
EngineFor = Callable[[TenantConfig], InsightsEngine | None]


class UnknownJob(PoisonInputError):
    """A status report names a job (or tenant) this deployment does not know; the meeting is not touched."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, stage="lookup")


@dataclass(kw_only=True)
class Pipeline(Assembly):
    """The notifier's collaborators, and the flow from a confirmed status to the e-mail (assembled as
    :class:`Assembly` does and sent as :class:`~zoomsymbl_notifier.notices.Notices` sends it: ``settings``,
    ``meetings``, ``outbox``, ``count_failure``, ``jobs``, ``insights`` and ``publish`` are their fields)."""

    tenants: Tenants
    provider_for: ProviderFor
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
        asked = await provider.job_status(job.job_id)
        state = overdue.judged(asked, job, self.settings.job_give_up_after_seconds, utcnow())
        if state is not asked and not await overdue.abandon(provider, job.job_id, state):
            state = await provider.job_status(job.job_id)  # finished meanwhile: its own outcome, transcript or reason
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
        rejudge: bool = True,
    ) -> None:
        """Free the slot, store the insights, and finish the meeting if this was its last part; then judge again the
        failed parts of its generation that waited on it (``rejudge``: :meth:`_rejudge_waiting`).

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
        generation = await self.assemble(job, tenant, facts, fresh)
        await self.jobs.mark(job, *marks)
        if rejudge and generation is not None:
            await self._rejudge_waiting(job, tenant, generation)

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
        """Free the slot; then, when the job's part counts for its meeting (:meth:`fail_part`), complete the meeting
        from Zoom's transcript when one is stored, else mark it failed with the provider's reason and tell the host.

        The reason is the stored one when ``state`` is not the failure (the job failed here first, overdue, and its
        run died before the notice; the provider says ``completed`` by now): not "no reason given"."""
        await self._release(job)
        reason = state.reason if state.status == "failed" else job.status_reason
        await self.fail_part(job, tenant, "provider", provider_failure(job, reason), fall_back=True)

    async def fail_part(
        self,
        job: JobRecord,
        tenant: TenantConfig,
        stage: str,
        reason: str,
        *,
        fall_back: bool = False,
        rejudge: bool = True,
    ) -> None:
        """Fail ``job``'s meeting at ``stage`` for ``reason`` (``fall_back``: unless Zoom's transcript completes it)
        when the job's plan is its generation's, and mark the job processed. A job of another plan is only marked, once
        the report of the plan the meeting takes went out if that plan finished (before the meeting recorded it: none
        of its own runs could send it); one whose plan the meeting may still record is left unprocessed, judged again
        later (:func:`failed_parts.judge`, the rule in :mod:`zoomsymbl_notifier.parts`). Then the generation's other
        waiting failed parts are judged again (``rejudge``: :meth:`_rejudge_waiting`)."""
        judged = await failed_parts.judge(self.jobs, self.outbox, self.meetings, job)
        if judged.verdict == "waits":
            log.info("part of a submission the meeting may not take failed, decided again later", extra=job_fields(job))
        elif judged.verdict == "ignored":
            log.info("part of another submission of the generation failed, the meeting goes on", extra=job_fields(job))
            await self._report_taken(job, tenant)
        elif judged.verdict == "settled":
            log.info("part of another submission failed, the meeting completed with its plan", extra=job_fields(job))
        elif not (fall_back and await self._fell_back(job, tenant, reason)):
            await self.fail_meeting(job, tenant, stage, reason)
        if judged.verdict != "waits":
            await self.jobs.mark(job, "processed_at")
        if rejudge:
            await self._rejudge_waiting(job, tenant, judged.parts)

    async def _report_taken(self, job: JobRecord, tenant: TenantConfig) -> None:
        """Send the report of the plan ``job``'s meeting takes if that finished unreported: it finished while the
        meeting recorded another (``job``'s) plan, every job of it processed since, so none of their runs will. Before
        the job's mark, so a crash in between is retried; the outbox is asked first. Insights gone (poison) leave
        nothing to report: logged, and the job is marked all the same (a give-up would find them gone again, every
        sweep)."""
        try:
            await self.assemble(job, tenant)
        except PoisonInputError as exc:
            ids = {**job_fields(job), "error": str(exc)}
            log.warning("report of the submission the meeting takes not sent", extra=ids)

    async def _rejudge_waiting(self, job: JobRecord, tenant: TenantConfig, generation: list[JobRecord]) -> None:
        """Judge again each failed part of ``generation`` (``job``'s generation's jobs, as read by its run) that waited
        for another plan (:func:`failed_parts.waiting`), now that ``job`` completed or failed: ignored once a plan
        finished, failing the meeting (Zoom's transcript first, for a one-part job) once its plan is recorded or no
        plan can complete any more. Without this it waited for the sweeper's next report of it (up to 8 stale
        periods); the sweeper still judges what this misses. Judged with ``rejudge`` off: one round, no recursion."""
        for part in failed_parts.waiting(generation, job):
            log.info("waiting failed part judged again", extra={**job_fields(part), "after_job_id": job.job_id})
            reason = provider_failure(part, part.status_reason)
            await self.fail_part(part, tenant, "provider", reason, fall_back=True, rejudge=False)

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
        await self.on_completed(replacement, tenant, zoom, rejudge=False)  # the failed job's run judges the rest
        return True

    async def _release(self, job: JobRecord) -> None:
        if await self.release_slot(job):
            log.info("limiter slot released", extra=job_fields(job))


def provider_failure(job: JobRecord, reason: str | None) -> str:
    """The reason a failure notice gives for ``job``, failed by its provider with ``reason``."""
    return f"{job.provider} job failed: {reason or 'no reason given'}"
