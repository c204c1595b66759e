"""Which of a generation's jobs one report joins: the parts of one submission (:func:`finished_parts`).

A long meeting goes to its provider in parts, one job each (``part_index`` of ``part_count``). One generation can
hold the jobs of two plans: the tenant's provider changed between two deliveries of the same ``AudioMixed`` (the
first died before its offset was committed), say Symbl's mono mix in 3 parts, some of them claims the provider never
accepted, then AssemblyAI's multichannel file in 2. Joined by ``part_index`` under the largest ``part_count`` among
them, the report waited for ever (no report, no notice) or merged parts of both plans (overlapping or missing
minutes: the two files are cut at other points).

A report joins the jobs of one plan (:class:`Plan`: provider and part count). The submitter records on the meeting
the submission it finished for a generation (``submitted_generation``, ``provider``, ``part_count``: its
``mark_submitted``) once every part of it was accepted: then that plan is joined and no other. Every one of its jobs
reports, completed or failed, so nothing waits for ever. A job of another plan frees its slot and stores its
insights as any job does, and is neither waited for nor joined; failed, it fails nothing (no notice, the meeting not
failed), as said below.

Until the meeting records the generation's submission (the submitter marks it after its last part went in, and a
part can complete before that), the first plan whose every part finished is joined: for a generation of one plan what
the largest count gave before, and never a mix of two. Waiting for the record instead could wait for ever: a job is
not read again once processed, and the record's write tells the notifier nothing. So a plan that finishes before the
record reports the generation even if the submitter then marks the other one: a whole transcript of the same
recording, once (the report's outbox key is the generation's). A plan that finished while the meeting still recorded
the other one, and is recorded only since, is reported by the next job of the generation to complete or fail (a
failed part of the other plan too: :meth:`~zoomsymbl_notifier.pipeline.Pipeline.fail_part`).

Once a plan completed the generation (its report's run moved the meeting to ``completed``), the meeting keeps it
(``joined_plan``, :data:`zoomsymbl_common.part_plans.JOINED_PLAN`) and every join of the generation takes it, whatever
the submitter records afterwards: the submitter may still mark the other plan (its redelivery submitted it whole while
the first plan was being reported). A reporting run that dies before its e-mail is redelivered and joins what it
joined; a failed part of the other plan fails nothing (:func:`zoomsymbl_notifier.failed_parts.verdict`), and a part
judged failing just before the meeting completed sends no notice (``Notices.fail_meeting``): the host gets the
report alone, and the page shows the parts it was made of.

A one-part job is joined by the same rule: it is the whole recording, but reported at once it mailed the transcript
of a plan the meeting may not take, while the meeting page shows the recorded one. The meeting's record as its run
read it already (:class:`~zoomsymbl_notifier.meetings.MeetingFacts`) tells it is the plan taken with no read more;
only a job of another plan, or one that finished before any record, reads the generation's jobs.

A zoom job that replaced a failed one (:mod:`zoomsymbl_notifier.fallback`, its ``_id`` derived from the failed job's)
belongs to the failed job's plan. The meeting is read only when a generation's jobs are of more than one plan: a
meeting submitted once costs no round trip more than before (docs/performance.md), but a one-part job that finished
before the submitter marked its meeting (one read of the generation's jobs).

A failed part (its provider failed the job, or the notifier gave up on it) fails the meeting only when its plan is
the joined one (:func:`zoomsymbl_notifier.failed_parts.verdict`). Before, any failed job of the generation failed it:
the host got a failure notice, and the recorded plan's report was then withheld (a meeting failed in a generation
gets no report of it). Now, once the meeting records a plan, a failed part of it fails the meeting as in a
generation of one plan (a one-part job is replaced by Zoom's transcript first, :mod:`zoomsymbl_notifier.fallback`),
and a failed part of another plan frees its slot and is marked processed, nothing more (but the recorded plan's report
when that plan finished before the record named it, as said above). Before the record, a failed
part cannot tell whether its plan is the one:

- another plan finished already: that plan's report is the generation's (sent, or on its way), the part is ignored;
- another plan could still complete (:func:`could_complete`: none of its parts lost): the part waits. Its slot is
  freed, the meeting is not failed, the job is left unprocessed, and it is decided again when another job of the
  generation completes or fails (that job's run judges the waiting parts failed by their provider), else when the
  sweeper reports it again (a stale period later, then at most 8 apart): by the record once the submitter writes
  it, ignored once the other plan finishes, failing the meeting once the other plan loses a part too;
- no other plan can complete: it fails the meeting at once.

A part waits only while its generation is at work: a meeting failed in it (the submitter gave up: its notice is the
one the outbox keeps) or run again since (no notice, as for any job of a generation left) ends the wait as a
failure. The submitter marks a generation once its last part was accepted, or fails the meeting; so no failed part
waits for ever, the price of the wait being at most the sweeper's period before the failure notice (a part given up
here, with nothing stored to tell it waits, is judged again by the sweeper alone). And a generation whose
report is recorded fails no more (a plan that finished before the record reported it): the host never gets both a
report and a failure notice of one generation, unless the meeting failed before another plan came to exist at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common import part_plans
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.part_plans import JOINED_PLAN, Plan, done_parts, finished_parts, plan_of, plan_under, plans
from zoomsymbl_common.records import MEETINGS, meeting_key

if TYPE_CHECKING:  # jobs.py holds the reader of the record (:class:`Submissions`)
    from zoomsymbl_notifier.jobs import JobRecord, Jobs

__all__ = [
    "Plan",
    "Record",
    "Submissions",
    "could_complete",
    "finished_parts",
    "plan_of",
    "plan_under",
    "plans",
    "progress",
    "recorded_plan",
]

_RECORD = {"submitted_generation": 1, "provider": 1, "part_count": 1}
"""The fields of a meeting the submitter's ``mark_submitted`` sets once a generation's every part went in."""
_READ = {**_RECORD, JOINED_PLAN: 1}
_LOST = frozenset({"failed", "rejected"})
"""Statuses a job never leaves: the provider failed it, or refused it at submission (the submitter's ``rejected``)."""


def progress(parts: list[JobRecord], plan: Plan) -> int:
    """How many parts of ``plan`` are done (completed, insights stored)."""
    return len(done_parts(plans(parts).get(plan, [])))


def could_complete(jobs: list[JobRecord], plan: Plan) -> bool:
    """No part of ``plan`` is lost: each has a job completed or still at work, or none yet (one its submitter may
    still claim). ``jobs``: those of ``plan``. A job is lost once failed or rejected, or given up here (processed
    without its insights); a part is lost when every job of it is (a zoom job that replaced it keeps it)."""
    for index in range(plan.part_count):
        of_part = [job for job in jobs if job.part_index == index]
        if of_part and all(_lost(job) for job in of_part):
            return False
    return True


def _lost(job: JobRecord) -> bool:
    return job.status in _LOST or (job.processed and not (job.status == "completed" and job.insights_stored))


async def recorded_plan(jobs: Jobs, parts: list[JobRecord]) -> Plan | None:
    """The plan the meeting records for the generation of ``parts`` when they are of more than one plan; None when
    it records none, and without reading the meeting when they are of one (the generation's, whatever it records)."""
    if len(plans(parts)) < 2:
        return None
    first = parts[0]
    return await jobs.submissions.recorded(first.tenant, first.meeting_uuid, first.generation)


class Submissions:
    """The submission a meeting records for a generation (written by the submitter, read here)."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def recorded(self, tenant: str, meeting_uuid: str, generation: int) -> Plan | None:
        """The plan the meeting's report of ``generation`` joined, else the one the submitter finished for it; None
        while neither is recorded (or another generation's is, or the record is not as it is written)."""
        return (await self.record(tenant, meeting_uuid, generation)).taken

    async def record(self, tenant: str, meeting_uuid: str, generation: int) -> Record:
        """What the meeting records of ``generation``'s plans."""
        doc = await guarded(self._col.find_one(meeting_key(tenant, meeting_uuid), _READ))
        if doc is None:
            return Record(None, None)
        submitted, provider, count = (doc.get(field) for field in _RECORD)
        joined = part_plans.joined_plan(doc.get(JOINED_PLAN), generation)
        return Record(joined, joined or part_plans.recorded_plan(submitted, provider, count, generation))


@dataclass(frozen=True)
class Record:
    """A meeting's record of a generation's plan: the one its report joined (as the meeting completed in it), and
    the one taken (that one, else the submitter's)."""

    joined: Plan | None
    taken: Plan | None
