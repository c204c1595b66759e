"""A meeting's generations: whose report stands in when a re-run fails (which parts make one finished:
:mod:`zoomsymbl_notifier.parts`).

A forced replay (``zoomsymbl replay --force``) or a new mix starts a new generation while the earlier one's
provider jobs may still be running. The host is owed one report for the reprocessing, the newer generation's: an
earlier generation that finishes afterwards is recorded (status, insights, ``processed_at``) and sends nothing. If
the newer generation fails instead, the newest earlier generation that finished stands in: its report (under its
own outbox key, marked ``stands_in_for`` the failed generation) goes out instead of the failure notice, whichever
of the two happens first (:meth:`~zoomsymbl_notifier.pipeline.Pipeline.stand_in`).
"""

from __future__ import annotations

from dataclasses import dataclass

from zoomsymbl_notifier import parts as joining
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.outbox import MailKey, Outbox

STANDS_IN_FOR = "stands_in_for"
"""The ``emails`` field of a report sent in place of a later generation's failure notice: that generation."""


@dataclass(frozen=True)
class StandIn:
    """The finished generation whose report stands in for a failed later one: its parts, in order."""

    parts: list[JobRecord]

    @property
    def first(self) -> JobRecord:
        """The part whose identity the report goes under (every part shares tenant, meeting and generation)."""
        return self.parts[0]

    @property
    def report(self) -> MailKey:
        """The outbox key of that generation's report."""
        job = self.first
        return MailKey(job.tenant, job.meeting_uuid, job.generation, "report")


async def stand_in(jobs: Jobs, outbox: Outbox, tenant: str, meeting_uuid: str, failed: int) -> StandIn | None:
    """The newest generation before ``failed`` that finished and was not failed itself (no failure notice of its
    own recorded); None when there is none."""
    by_generation: dict[int, list[JobRecord]] = {}
    for job in await jobs.of_meeting(tenant, meeting_uuid):
        if job.generation < failed:
            by_generation.setdefault(job.generation, []).append(job)
    for generation in sorted(by_generation, reverse=True):
        jobs_of = by_generation[generation]
        parts = joining.finished_parts(jobs_of, await joining.recorded_plan(jobs, jobs_of))
        if parts is None or await outbox.exists(MailKey(tenant, meeting_uuid, generation, "failure")):
            continue
        return StandIn(parts)
    return None
