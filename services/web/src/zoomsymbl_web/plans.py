"""Which stored insights of a generation the meeting page (and its downloads) shows: those of the submission the
host's report was made of (:func:`shown`). Pure; :class:`~zoomsymbl_web.meeting.MeetingPages` reads the documents.

One generation can hold the jobs of two submissions, each with its parts' insights stored: the tenant's provider
switched between two deliveries of the same ``AudioMixed`` (Symbl's mono mix in 3 parts, then AssemblyAI's
multichannel file in 2), and a job of the first one finished all the same. The page merged the insights of every
part of the generation: both transcripts interleaved, the same words twice, each part's items and summary
alongside the other's. It shows one submission now, chosen as the notifier's report joins parts
(:mod:`zoomsymbl_common.part_plans`): the plan the report joined, kept on the meeting as it completed (before the
report, the plan the submitter recorded) once its every part finished, else the plan that finished first. Two plans
that both finished before any record and before the report are told apart by :class:`~zoomsymbl_common.part_plans.Plan`
order until the report names its own: either is the whole meeting.

The jobs are read only when the generation's insights cannot all be of one submission (two providers among them, or
two of one part): a meeting submitted once costs no read more than before. When the jobs name no finished plan
(deleted since, unreadable), the insights are shown as stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoomsymbl_common import part_plans
from zoomsymbl_common.part_plans import JobPart
from zoomsymbl_common.records import Job, Meeting, StoredInsights


def of_one_plan(stored: Sequence[StoredInsights]) -> bool:
    """``stored`` (one generation's insights) can only be of one submission: one provider, one document a part."""
    return len({s.provider for s in stored}) < 2 and len({s.part_index for s in stored}) == len(stored)


def shown(meeting: Meeting, stored: list[StoredInsights], jobs: Sequence[Job]) -> list[StoredInsights]:
    """The insights of ``stored`` (the meeting's generation's) that belong to the submission its report joined, as
    ``jobs`` (the generation's) and the meeting's record tell it; ``stored`` when they tell none."""
    parts = [JobPart.of(job) for job in jobs if job.generation == meeting.generation]
    record = (meeting.submitted_generation, meeting.provider, meeting.part_count)
    recorded = part_plans.recorded_plan(*record, meeting.generation, joined=meeting.joined_plan)
    joined = part_plans.shown_parts(parts, recorded)
    if joined is None:
        return stored
    wanted = {(part.provider, part.conversation_id) for part in joined}
    return [s for s in stored if (s.provider, s.conversation_id) in wanted] or stored
