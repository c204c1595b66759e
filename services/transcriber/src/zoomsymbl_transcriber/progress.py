"""The transcriber's progress on the meeting: one entry per part's job (:mod:`zoomsymbl_common.records.progress`)."""

from __future__ import annotations

from zoomsymbl_common.events import JobSubmitted, utcnow
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import TRANSCRIPTION_PARTS, PartProgress, Progress, progress_key


def on_meeting(event: JobSubmitted, progress: Progress) -> Document:
    """The meeting's update of one part's progress: only this job's entry of ``transcription_parts`` (parts of a split
    meeting run at once; the one field of earlier releases took whichever part wrote last), the legacy field gone, and
    ``updated_at``: a meeting transcribed for longer than the notifier's ``stalled_after_seconds`` is not stalled."""
    entry = PartProgress(
        **progress.model_dump(exclude={"job_id"}),
        job_id=event.job_id,
        part_index=event.part_index,
        part_count=event.part_count,
        generation=event.generation,
    )
    return {
        "$set": {f"{TRANSCRIPTION_PARTS}.{progress_key(event.job_id)}": entry.to_document(), "updated_at": utcnow()},
        "$unset": {"transcription_progress": ""},
    }
