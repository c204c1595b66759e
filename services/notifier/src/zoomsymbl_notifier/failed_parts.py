"""What a failed part does to its meeting (:func:`verdict`): the rule is :mod:`zoomsymbl_notifier.parts`'s.

A job whose generation is of one plan fails its meeting as it always did; only that costs a read more than before
(the generation's jobs), on the failure path alone. The meeting's record, the outbox and the meeting's position are
read only for a generation submitted under two plans.
"""

from __future__ import annotations

from typing import Literal

from zoomsymbl_common.records import MalformedRecord

from zoomsymbl_notifier import parts as joining
from zoomsymbl_notifier.jobs import JobRecord, Jobs
from zoomsymbl_notifier.meetings import Meetings
from zoomsymbl_notifier.notices import mail_key
from zoomsymbl_notifier.outbox import Outbox

Verdict = Literal["fails", "ignored", "waits"]
"""``fails``: the meeting fails (after the zoom fallback, where it applies); ``ignored``: the job is of a plan that is
not the generation's, marked processed and nothing more; ``waits``: left unprocessed, decided again when the sweeper
reports it again."""


async def verdict(jobs: Jobs, outbox: Outbox, meetings: Meetings, job: JobRecord) -> Verdict:
    """What ``job``, failed or given up, does to its meeting."""
    try:
        parts = await jobs.parts(job)
    except MalformedRecord:  # a job of the generation unreadable (edited by hand): the job fails it, as it always did
        return "fails"
    grouped = joining.plans(parts)
    if len(grouped) < 2:
        return "fails"
    if await outbox.exists(mail_key(job, "report")):
        return "ignored"  # a plan that finished reported the generation: the host has the whole transcript
    mine = joining.plan_under(parts, job)
    recorded = await jobs.submissions.recorded(job.tenant, job.meeting_uuid, job.generation)
    if recorded is not None:
        return "fails" if recorded == mine else "ignored"
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
