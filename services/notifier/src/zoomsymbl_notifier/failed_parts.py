"""What a failed part does to its meeting (:func:`judge`): the rule is :mod:`zoomsymbl_notifier.parts`'s.

A job whose generation is of one plan fails its meeting as it always did; only that costs a read more than before
(the generation's jobs), on the failure path alone. The meeting's record, the outbox and the meeting's position are
read only for a generation submitted under two plans.

A part that ``waits`` is judged again when another job of its generation completes or fails (:func:`waiting` finds
it among the jobs that job's run read), and by the sweeper's next report of it, the backstop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zoomsymbl_common.records import MalformedRecord

from zoomsymbl_notifier import parts as joining
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.meetings import Meetings
from zoomsymbl_notifier.notices import mail_key
from zoomsymbl_notifier.outbox import Outbox

Verdict = Literal["fails", "ignored", "settled", "waits"]
"""``fails``: the meeting fails (after the zoom fallback, where it applies); ``ignored``: the job is of a plan that is
not the generation's, marked processed (the plan the meeting takes reported, if finished); ``settled``: the meeting
completed in the generation with another plan, a job of which is not done with yet, the job marked processed (that
plan's run reports it, or its redelivery); ``waits``: left unprocessed, decided again when another job of the
generation completes or fails, or the sweeper reports it again."""


@dataclass(frozen=True)
class Judgement:
    """What a failed part does (:data:`Verdict`), and its generation's jobs as read to decide it (none: unreadable)."""

    verdict: Verdict
    parts: list[JobRecord]


async def judge(jobs: Jobs, outbox: Outbox, meetings: Meetings, job: JobRecord) -> Judgement:
    """What ``job``, failed or given up, does to its meeting."""
    try:
        parts = await jobs.parts(job)
    except MalformedRecord:  # a job of the generation unreadable (edited by hand): the job fails it, as it always did
        return Judgement("fails", [])
    return Judgement(await verdict(jobs, outbox, meetings, job, parts), parts)


def waiting(parts: list[JobRecord], after: JobRecord) -> list[JobRecord]:
    """The parts among ``parts`` (a generation's jobs) that may wait for another plan, other than ``after``: failed by
    their provider and not processed, in a generation of two plans (of one, a failed part never waits). A part given
    up here (poison, retries run out) is told by nothing stored: the sweeper's next report of it judges it again."""
    if len(joining.plans(parts)) < 2:
        return []
    return [part for part in parts if part.status == "failed" and not part.processed and part.key != after.key]


async def verdict(jobs: Jobs, outbox: Outbox, meetings: Meetings, job: JobRecord, parts: list[JobRecord]) -> Verdict:
    """What ``job`` does to its meeting, ``parts`` being its generation's jobs."""
    grouped = joining.plans(parts)
    if len(grouped) < 2:
        return "fails"
    if await outbox.exists(mail_key(job, "report")):
        return "ignored"  # a plan that finished reported the generation: the host has the whole transcript
    mine = joining.plan_under(parts, job)
    record = await jobs.submissions.record(job.tenant, job.meeting_uuid, job.generation)
    if record.joined is not None and record.joined != mine:
        # That plan's runs report it. Every one of them done with, the run that joined it was another plan's (this
        # job's, sending the report of the plan taken, and it died before the e-mail): this one sends it, as then.
        return "ignored" if all(part.processed for part in grouped.get(record.joined, [])) else "settled"
    if record.taken is not None:
        return "fails" if record.taken == mine else "ignored"
    finished = joining.finished_parts(parts)
    if finished is not None:
        # Its own plan finished only through the zoom job that replaced it: the fallback finds that job again.
        return "fails" if joining.plan_under(parts, finished[0]) == mine else "ignored"
    if not any(joining.could_complete(grouped[plan], plan) for plan in grouped if plan != mine):
        return "fails"
    now = await meetings.position(job.tenant, job.meeting_uuid)
    if now is None or now.generation != job.generation or now.stage == "failed":
        return "fails"  # the generation is no longer at work: failing tells nobody, or what the host was told
    return "waits"
