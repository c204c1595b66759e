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
insights as any job does, and is neither waited for nor joined.

Until the meeting records the generation's submission (the submitter marks it after its last part went in, and a
part can complete before that), the first plan whose every part finished is joined: for a generation of one plan what
the largest count gave before, and never a mix of two. Waiting for the record instead could wait for ever: a job is
not read again once processed, and the record's write tells the notifier nothing. So a plan that finishes before the
record reports the generation even if the submitter then marks the other one: a whole transcript of the same
recording, once (the report's outbox key is the generation's).

A zoom job that replaced a failed one (:mod:`zoomsymbl_notifier.fallback`, its ``_id`` derived from the failed job's)
belongs to the failed job's plan. The meeting is read only when a generation's jobs are of more than one plan: a
meeting submitted once costs no round trip more than before (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.events import stable_id
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import MEETINGS, meeting_key

if TYPE_CHECKING:  # jobs.py holds the reader of the record (:class:`Submissions`)
    from zoomsymbl_notifier.jobs import JobRecord, Jobs

_RECORD = {"submitted_generation": 1, "provider": 1, "part_count": 1}
"""The fields of a meeting the submitter's ``mark_submitted`` sets once a generation's every part went in."""


class Plan(NamedTuple):
    """One submission of a generation: the provider its parts went to, and how many there are."""

    provider: str
    part_count: int


def plan_of(job: JobRecord) -> Plan:
    """The plan ``job`` was submitted under (a fallback's own: see :func:`plans` for the one it stands in)."""
    return Plan(job.provider, job.part_count)


def plans(parts: list[JobRecord]) -> dict[Plan, list[JobRecord]]:
    """``parts`` (one generation's jobs) by plan, a zoom job that replaced a failed one under that job's plan."""
    replaced = {stable_id("fallback", part.key): plan_of(part) for part in parts}
    grouped: dict[Plan, list[JobRecord]] = {}
    for part in parts:
        grouped.setdefault(replaced.get(part.key, plan_of(part)), []).append(part)
    return grouped


def finished_parts(parts: list[JobRecord], recorded: Plan | None = None) -> list[JobRecord] | None:
    """The jobs to join, in part order, once every part of their plan completed with its insights stored, else None:
    those of ``recorded`` (the plan the meeting records for the generation) and no other, or, when it records none,
    of the first plan that finished. A failed job replaced by a zoom job of the same part is left behind by its
    completed replacement."""
    grouped = plans(parts)
    for plan in [recorded] if recorded is not None else sorted(grouped):
        done = _done(grouped.get(plan, []))
        if all(index in done for index in range(plan.part_count)):
            return [done[index] for index in range(plan.part_count)]
    return None


def progress(parts: list[JobRecord], plan: Plan) -> int:
    """How many parts of ``plan`` are done (completed, insights stored)."""
    return len(_done(plans(parts).get(plan, [])))


async def recorded_plan(jobs: Jobs, parts: list[JobRecord]) -> Plan | None:
    """The plan the meeting records for the generation of ``parts`` when they are of more than one plan; None when
    it records none, and without reading the meeting when they are of one (the generation's, whatever it records)."""
    if len(plans(parts)) < 2:
        return None
    first = parts[0]
    return await jobs.submissions.recorded(first.tenant, first.meeting_uuid, first.generation)


def _done(jobs: list[JobRecord]) -> dict[int, JobRecord]:
    return {job.part_index: job for job in jobs if job.status == "completed" and job.insights_stored}


class Submissions:
    """The submission a meeting records for a generation (written by the submitter, read here)."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def recorded(self, tenant: str, meeting_uuid: str, generation: int) -> Plan | None:
        """The plan the submitter finished for ``generation``; None while it has finished none (or another
        generation's is recorded)."""
        doc = await guarded(self._col.find_one(meeting_key(tenant, meeting_uuid), _RECORD))
        return _from_record(doc, generation)


def _from_record(doc: Document | None, generation: int) -> Plan | None:
    if doc is None or doc.get("submitted_generation") != generation:
        return None
    provider, count = doc.get("provider"), doc.get("part_count")
    if not isinstance(provider, str) or type(count) is not int or count < 1:
        return None  # not as the submitter writes it (edited by hand): as if it recorded none
    return Plan(provider, count)
