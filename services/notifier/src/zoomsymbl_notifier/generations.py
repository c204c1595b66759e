"""A meeting's generations: which parts make one finished, and whose report stands in when a re-run fails.

A forced replay (``zoomsymbl replay --force``) or a new mix starts a new generation while the earlier one's
provider jobs may still be running. The host is owed one report for the reprocessing, the newer generation's: an
earlier generation that finishes afterwards is recorded (status, insights, ``processed_at``) and sends nothing. If
the newer generation fails instead, the newest earlier generation that finished stands in: its report (under its
own outbox key, marked ``stands_in_for`` the failed generation) goes out instead of the failure notice, whichever
of the two happens first (:meth:`~zoomsymbl_notifier.pipeline.Pipeline.stand_in`).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def finished_parts(parts: list[JobRecord], part_count: int) -> list[JobRecord] | None:
    """``parts`` (one generation's jobs) in part order when every part completed with its insights stored, else
    None. ``part_count``: the count to expect when ``parts`` says none. A failed job replaced by a zoom job of the
    same part (``fallback``) is left behind by its completed replacement."""
    expected = max([p.part_count for p in parts] or [part_count])
    done = {p.part_index: p for p in parts if p.status == "completed" and p.insights_stored}
    if len(done) < expected:
        return None
    return [done[i] for i in sorted(done)]


async def stand_in(jobs: Jobs, outbox: Outbox, tenant: str, meeting_uuid: str, failed: int) -> StandIn | None:
    """The newest generation before ``failed`` that finished and was not failed itself (no failure notice of its
    own recorded); None when there is none."""
    by_generation: dict[int, list[JobRecord]] = {}
    for job in await jobs.of_meeting(tenant, meeting_uuid):
        if job.generation < failed:
            by_generation.setdefault(job.generation, []).append(job)
    for generation in sorted(by_generation, reverse=True):
        parts = finished_parts(by_generation[generation], 1)
        if parts is None or await outbox.exists(MailKey(tenant, meeting_uuid, generation, "failure")):
            continue
        return StandIn(parts)
    return None
