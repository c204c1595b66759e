"""How far the self-hosted transcriber is: on its job (``progress``) and, per part, on the meeting.

A split meeting's parts are jobs of their own, transcribed at the same time by different workers: each writes only
its own entry of the meeting's ``transcription_parts`` (keyed by :func:`progress_key` of its job id), so no part
overwrites another's. Earlier releases wrote one ``transcription_progress`` for the whole meeting (whichever part
wrote last); it is still read, and the transcriber removes it at its first write to the meeting.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from pydantic import Field, ValidationError

from zoomsymbl_common.records.base import Key, Record

TRANSCRIPTION_PARTS = "transcription_parts"
"""The meeting's field holding each part's :class:`PartProgress`, keyed by :func:`progress_key`."""
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Progress(Record):
    """How far the transcriber is (``progress`` on its job; ``transcription_progress`` on a meeting of an earlier
    release)."""

    job_id: Key | None = None
    percent: float = Field(0.0, ge=0, le=100)
    channels_done: int = Field(0, ge=0)
    channels: int = Field(0, ge=0)
    at: datetime | None = None


class PartProgress(Progress):
    """One part's progress on the meeting: which part (of how many) of which generation, by which job."""

    part_index: int = Field(0, ge=0, description="0-based, as the submitter numbered the part.")
    part_count: int = Field(1, ge=1)
    generation: int = Field(0, ge=0, description="The generation whose run the job belongs to.")


def progress_key(job_id: str) -> str:
    """The job's key in ``transcription_parts``: its id (the submitter's ``whisper-<hex>``), or a digest of an id
    that could not be one field name of a MongoDB path (a dot, a ``$``, too long)."""
    if _PLAIN_KEY.fullmatch(job_id):
        return job_id
    return "id-" + hashlib.sha256(job_id.encode()).hexdigest()[:40]


def part_entries(value: object) -> object:
    """The readable entries of a stored ``transcription_parts``: an entry that does not validate is dropped (progress
    only informs an operator), never the meeting."""
    if not isinstance(value, dict):
        return value
    kept: dict[object, PartProgress] = {}
    for key, item in value.items():
        try:
            kept[key] = item if isinstance(item, PartProgress) else PartProgress.model_validate(item)
        except ValidationError:
            continue
    return kept


def newest_first(parts: dict[str, PartProgress]) -> list[PartProgress]:
    """The parts' progress, the newest generation first, then in part order."""
    return sorted(parts.values(), key=lambda p: (-p.generation, p.part_index, p.job_id or ""))
