"""A meeting's assembly: once every part's insights are stored, the merged insights announced and the report
e-mailed, once (:class:`Assembly`, the pipeline's base class). The parts are those of one submission of the
generation: the one its meeting records when a redelivery submitted it twice (:mod:`zoomsymbl_notifier.parts`).

One story per meeting and generation: a meeting failed in a generation gets no report of it afterwards, whichever
job of that generation completes later (:meth:`Assembly._completes`): the host was told it failed. A generation
the meeting left (a forced replay, a new mix) that finishes later is recorded and sends no report: the newer one
does, or, if it fails, this one's report goes out in place of its failure notice
(:mod:`zoomsymbl_notifier.generations`).

Nothing is read twice (docs/performance.md): insights just stored are not read back, a one-part meeting's parts are
not looked up when the meeting (as its facts were read) records that job's plan, a first send is recorded already
claimed; ``tests/notifier/test_round_trips.py`` holds the count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import Event, InsightsReady, stable_id
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier import generations
from zoomsymbl_notifier import insights as merging
from zoomsymbl_notifier import parts as joining
from zoomsymbl_notifier.insights import InsightsStore
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.links import meeting_page_link
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.notices import Notices, job_fields, mail_key
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.report import meeting_report

log = logging.getLogger("zoomsymbl.notifier.pipeline")

Publish = Callable[[Event], Awaitable[None]]

Current = Literal["current"]
CURRENT: Current = "current"
"""What :meth:`Assembly._completes` says of a report of the meeting's current generation."""


@dataclass(kw_only=True)
class Assembly(Notices):
    """Announces a meeting's insights and e-mails its report once every part is stored (the e-mail sent as
    :class:`Notices` sends it); the base of :class:`~zoomsymbl_notifier.pipeline.Pipeline`, which stores the parts."""

    jobs: Jobs
    insights: InsightsStore
    publish: Publish

    async def assemble(
        self,
        job: JobRecord,
        tenant: TenantConfig,
        facts: MeetingFacts | None = None,
        fresh: Insights | None = None,
    ) -> list[JobRecord] | None:
        """When every part's insights are stored: announce them and e-mail the host (once), unless the
        meeting failed in this generation or was re-run since (see :meth:`_completes`). The generation's jobs
        as read here are returned (None when none were: a one-part job of the plan the meeting records), for
        the failed parts waiting on them (:meth:`~zoomsymbl_notifier.pipeline.Pipeline.on_completed`).

        ``fresh``: ``job``'s insights as this run just stored them. No earlier run can then have got
        this far (it would have stored them before assembling), so the outbox is not asked first
        whether the report was recorded: a concurrent run of the same meeting is stopped by the
        outbox's unique insert, as it was when both asked at once. Unless ``job`` is not one of the
        parts joined (a job of another submission of the generation, :mod:`zoomsymbl_notifier.parts`):
        the parts' own runs may have sent the report. ``facts``: the meeting's, if read.
        """
        generation = await self._generation(job, fresh is not None, facts)
        parts = [job] if generation is None else await self._ready_parts(job, generation)
        if parts is not None:
            await self._announce(job, parts, joining.plan_under(generation or parts, parts[0]), tenant, facts, fresh)
        return generation

    async def _announce(
        self, job: JobRecord, parts: list[JobRecord], plan: joining.Plan, tenant: TenantConfig,
        facts: MeetingFacts | None, fresh: Insights | None,
    ) -> None:  # fmt: skip
        """Announce and e-mail the report of ``parts`` (every one finished, of ``plan``), unless it was recorded
        before."""
        key = mail_key(job, "report")
        joined = any(part.key == job.key for part in parts)
        if (fresh is None or not joined) and await self.outbox.exists(key):
            await self.deliver(key)
            return
        stored = await self._stored(job, parts, fresh)
        story = await self._completes(job, plan)
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

    async def _completes(self, job: JobRecord, plan: joining.Plan) -> Current | int | None:
        """Move ``job``'s meeting to ``completed`` with ``plan`` as the one its report joins (kept on the meeting:
        a redelivery of this run joins it again, whatever the submitter records since): :data:`CURRENT` when it moved
        (or had, in this generation, with this plan).

        None when its generation is failed instead: one story per meeting and generation, a meeting
        failed here (retries given up, the host told) stays failed, so insights that arrive after all (a
        crash between the failure and the job's mark let a late report through) get no announcement and
        no report; None too when another plan completed the generation (two finished at once, neither recorded):
        that plan's report is the one. When the meeting was re-run since, what :meth:`_superseded` decides. Only a
        move that did not happen costs the extra read: a redelivery's, when the meeting is completed already.
        """
        if await self.meetings.complete(job.tenant, job.meeting_uuid, job.generation, plan):
            return CURRENT
        now = await self.meetings.position(job.tenant, job.meeting_uuid)
        if now is not None and now.generation > job.generation:
            return await self._superseded(job)
        joined = now.joined_plan(job.generation) if now is not None else None
        if joined not in (None, plan):
            log.warning("another submission completed this generation, no report of this one", extra=job_fields(job))
            return None
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
        at least one sees the other, so the host never ends up with neither the report nor a notice. Only a job whose
        insights were stored: a failed or given-up part reporting the plan its generation takes
        (:meth:`~zoomsymbl_notifier.pipeline.Pipeline.fail_part`) has none, and marked so its plan would count as
        finished, standing in with insights that do not exist.
        """
        if job.insights_stored:
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

    async def _generation(self, job: JobRecord, fresh: bool, facts: MeetingFacts | None) -> list[JobRecord] | None:
        """The jobs of ``job``'s generation, ``job`` among them as this run has it (its mark may not be set yet); None
        when ``job`` makes the report alone: a one-part job whose insights this run stored, of the plan the meeting
        records for the generation, as the handler read the meeting (``facts``): a meeting submitted once, marked by
        the submitter before its job finished (most of them), keeps its round trips.

        A one-part job of another plan, or one that finished before the meeting recorded any, is joined by the
        rule every job is (:meth:`_ready_parts`): reported when its plan is the one the meeting records, or, with
        none recorded, the first finished in the order the meeting page reads them; else recorded (status,
        insights, ``processed_at``) and not reported, the report and the page being the recorded plan's.
        """
        recorded = facts.recorded_plan(job.generation) if facts is not None else None
        if fresh and job.part_count == 1 and recorded == joining.plan_of(job):
            return None
        return [job if part.key == job.key else part for part in await self.jobs.parts(job)]

    async def _ready_parts(self, job: JobRecord, generation: list[JobRecord]) -> list[JobRecord] | None:
        """The meeting's parts when every one is completed with its insights stored, else None: the parts of one
        submission of ``generation`` (the generation's jobs), the one its meeting records when its jobs are of two
        (:mod:`zoomsymbl_notifier.parts`)."""
        recorded = await joining.recorded_plan(self.jobs, generation)
        ready = joining.finished_parts(generation, recorded)
        if ready is None:
            plan = recorded or joining.plan_of(job)
            done = joining.progress(generation, plan)
            waiting = {"parts_done": done, "parts": plan.part_count, "provider": plan.provider}
            log.info("waiting for other parts", extra={**job_fields(job), **waiting})
        return ready


def _ready_event(job: JobRecord, parts: list[JobRecord], merged: Insights) -> InsightsReady:
    return InsightsReady(
        event_id=stable_id("insights-ready", job.tenant, job.meeting_uuid, str(job.generation)),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=parts[0].provider,  # not ``job``'s when it is a job of another submission of the generation
        conversation_ids=tuple(p.conversation_id for p in parts),
        summary_url=merged.summary_url,
        counts=merging.counts(merged),
    )
