"""A meeting run again (``zoomsymbl replay --force``, a new mix): an event of the generation it left, and
what the earlier generation's plan left in S3.

Every event names its generation and the meeting document holds the current one. An ``AudioMixed`` of an
earlier generation (redelivered after a crash, replayed from its dead-letter topic or a time range, or still
waiting for a slot when an operator re-ran the stuck meeting) submits nothing: a job for it would cost the
provider's time and the account's budget for a result the newer generation replaces. It is no error either:
the message is committed, logged (``audio of an earlier generation not submitted``) and counted
(``zoomsymbl_submitter_submissions_total{outcome="superseded"}``), and no part of it is cut or uploaded. Its jobs
the provider accepted already are announced again: their ``JobSubmitted`` may never have reached Kafka, and the
transcriber takes a ``whisper`` job's work order (and so frees its slot) from there. A part that finds the meeting
run again after it waited for a slot gives its slot and claim back (``retrying``, the reason naming the newer
generation) before the provider is called.

Once a meeting's submission is done, the submitter's own objects of the meeting that the current plan does
not read (other plans' parts, mono mixes of other generations: :func:`part_plan.leftovers`) and the mixed files of
earlier generations (:func:`part_plan.earlier_mixes`; each mix has a key of its own) are deleted, unless the
meeting was run again meanwhile, or an unfinished job of the meeting may still read them (an earlier generation's
job still running: its transcript stands in should the newer generation fail). What such jobs read is noted on the
meeting and judged again, by the same code, once they finished (:mod:`zoomsymbl_submitter.held`): it does not wait
for another submission of the meeting, which may never come. Every delivery of a generation
submits the plan first stored for it (:meth:`parts.PartPlanner.generation_parts`), so none of them deletes a part
that a job of the same generation fetches, even one redelivered under other limits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.events import AudioMixed, JobStatusReported, JobSubmitted
from zoomsymbl_common.providers.base import SubmittedJob

from zoomsymbl_submitter import plan
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MAX_HELD, MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.part_plan import MeetingGeneration
from zoomsymbl_submitter.parts import PartPlanner

log = logging.getLogger("zoomsymbl.submitter.generations")
Publish = Callable[[JobSubmitted], Awaitable[None]]
Report = Callable[[JobStatusReported], Awaitable[None]]


class GenerationSuperseded(ZoomsymblError):
    """The meeting was run again (a newer generation) before this event's part was submitted."""

    def __init__(self, generation: int, current: int) -> None:
        super().__init__(f"generation {generation!r} of the meeting superseded by generation {current!r}")
        self.generation = generation
        self.current = current


def newer_generation(current: int | None, event: AudioMixed) -> int | None:
    """The meeting's generation ``current`` when it is past ``event``'s; None when the event is current (or no
    meeting is stored: such an event is submitted as before)."""
    return current if current is not None and current > event.generation else None


async def announce_stored(
    event: AudioMixed, jobs: JobStore, publish: Publish, report: Report | None, metrics: SubmitterMetrics
) -> int:
    """Announce again the accepted jobs of ``event``'s meeting, generation and input; how many there were."""
    stored = await jobs.submitted_of(event)
    for job in stored:
        metrics.submissions.labels(job.provider, "duplicate").inc()
        await publish(plan.announcement(job))
        if job.provider == "zoom" and report is not None:  # complete at once: as submit_part reports it
            ids = SubmittedJob(job.job_id or "", job.conversation_id or "")
            await report(plan.completed_at_once(event, job.provider, ids))
    return len(stored)


def log_superseded(event: AudioMixed, current: int, announced: int) -> None:
    """The log line of an event of an earlier generation that submitted nothing."""
    log.warning(
        "audio of an earlier generation not submitted",
        extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id,
               "generation": event.generation, "current_generation": current, "jobs_announced": announced},
    )  # fmt: skip


async def judge_leftovers(
    of: MeetingGeneration,
    keep: Collection[str],
    meetings: MeetingStore,
    jobs: JobStore,
    planner: PartPlanner,
    within: Collection[str] | None = None,
) -> tuple[list[str], list[str]] | None:
    """Delete what earlier plans of ``of``'s meeting left in S3 (not ``keep``; of ``within`` only, when given) that no
    unfinished job may still read; the keys deleted and those kept for such a job. None when the meeting was run again
    meanwhile: the newer generation's submission judges what is left over. One read of the meeting (its generation,
    the file its page plays) and one of its jobs (:meth:`JobStore.readers`)."""
    current, page_audio = await meetings.generation_and_page_audio(of)
    if current is not None and current != of.generation:
        return None
    readers = await jobs.readers(of)
    return await planner.remove_leftovers(of, {*keep, *page_audio}, readers, within)


async def remove_leftovers(
    event: AudioMixed, keep: Collection[str], meetings: MeetingStore, jobs: JobStore, planner: PartPlanner
) -> list[str]:
    """Delete what earlier plans of ``event``'s meeting left in S3 (not ``keep``) and no unfinished job may still read
    (:meth:`JobStore.readers`: an earlier generation's jobs still running); the keys deleted. Nothing when the
    meeting was run again meanwhile: the newer generation's submission judges what is left over. What is kept for
    unfinished jobs is noted on the meeting (:meth:`MeetingStore.record_held`), to be deleted once they finished
    (:mod:`zoomsymbl_submitter.held`).

    Earlier plans' objects are the submitter's own, and the mixer's files that jobs of earlier generations were
    submitted from (:attr:`part_plan.Readers.earlier_mixes`), never the file the meeting page plays
    (:meth:`MeetingStore.generation_and_page_audio`). Not a mixed file of this generation: a mix of other inputs the
    mixer made for it (Zoom sent more tracks) may be one the mixer is writing again (the earlier inputs delivered once
    more); it stays for a later generation's cleanup."""
    judged = await judge_leftovers(event, keep, meetings, jobs, planner)
    if judged is None:
        return []
    removed, held = judged
    where = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "event_id": event.event_id,
             "generation": event.generation}  # fmt: skip
    if len(held) > MAX_HELD:  # more than a plan's parts: left to a later submission, forget or retention
        log.warning(
            "more objects kept for unfinished jobs than the meeting notes", extra={**where, "objects": len(held)}
        )
    await meetings.record_held(event, held[:MAX_HELD])
    if removed:
        log.info("objects of an earlier plan deleted", extra={**where, "objects": len(removed)})
    if held:
        log.info("objects of an earlier plan kept for unfinished jobs", extra={**where, "objects": len(held)})
    return removed
