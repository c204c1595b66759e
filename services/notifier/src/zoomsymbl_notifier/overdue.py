"""A provider job that never ends: failed once it is ``job_give_up_after_seconds`` past its submission.

Nothing else ends such a job. The provider may keep it queued or processing for ever (an outage of theirs, a job
lost inside it); our transcriber's work order may have been dead-lettered with the job still ``in_progress``, or no
transcriber runs at all (provider ``whisper`` chosen, the worker not deployed). The sweeper polled it with ever
longer waits and the host never heard of the meeting. Past the limit the job's state is taken as failed, with a
reason that says so, on the path a provider's own failure takes: the meeting takes Zoom's transcript when one is
stored, else fails with a notice. Judged where the status is confirmed (the consumer, in meeting order), so the
sweeper only brings such a job there; a late completion after it moves nothing (both states are final).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from zoomsymbl_common.providers.base import JobState, SpeechProvider
from zoomsymbl_common.providers.transcriptions import StoredTranscriptions

from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.statuses import is_terminal


def judged(state: JobState, job: JobRecord, limit_seconds: float, now: datetime) -> JobState:
    """``state`` as the provider answered it, or failed when ``job`` is still unfinished ``limit_seconds`` after its
    submission (a limit of 0: never)."""
    if limit_seconds <= 0 or is_terminal(state.status) or job.submitted_at is None:
        return state
    if now - job.submitted_at < timedelta(seconds=limit_seconds):
        return state
    hours = f"{limit_seconds / 3600:g}"
    return JobState(
        "failed", reason=f"no result from the provider {hours} h after the submission (still {state.status})"
    )


async def abandon(provider: SpeechProvider, job_id: str, state: JobState) -> bool:
    """Stop the work of a job judged overdue where it is ours to stop: our transcriber's work order is failed (a
    backlog past the limit otherwise kept its overdue jobs, transcribed for nobody, and pushed later ones past it
    in turn). A provider's job (AssemblyAI) is left to its retention (docs/forget.md).

    False when the work order had an outcome already: it ended between the status asked and this (the worker
    finished it), so its own outcome stands, not the overdue failure."""
    if isinstance(provider, StoredTranscriptions):
        return await provider.abandon(job_id, state.reason or "overdue")
    return True
