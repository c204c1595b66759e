"""Which of a recording's files are mixed: the candidate input sets in order of preference (:func:`selections`),
one file per recorded stretch (:func:`stretches`), and what identifies a mix's inputs (:func:`input_hash`). Pure
functions, no I/O; :mod:`zoomsymbl_mixer.channels` then puts the downloaded files on channels.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from zoomsymbl_common.event_parts import INTERPRETATION
from zoomsymbl_common.events import RecordingCompleted, RecordingFile

InputKind = Literal["participants", "audio_only", "video", "phone"]
log = logging.getLogger("zoomsymbl.mixer.channels")  # the name its warning carried before the split
_EXT = re.compile(r"[a-z0-9]{1,8}")  # fullmatch: "$" would let a trailing newline in
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    """One candidate set of input files, in order of preference."""

    kind: InputKind
    files: tuple[RecordingFile, ...]

    @property
    def diarization(self) -> bool:
        """A single recording of everyone needs the provider to separate speakers."""
        return self.kind != "participants"


def selections(event: RecordingCompleted) -> list[Selection]:
    """Candidate inputs: participant tracks, else the ``audio_only`` M4As, else MP4s' audio.

    A recording stopped and started again within the meeting has a set of files per stretch (Zoom makes new files
    on each start, none on a pause): every stretch's ``audio_only`` M4A (or one MP4 each) is taken, each placed
    at its ``recording_start``; only the first left out everything after the first stop. A language interpreter's
    audio (``audio_interpretation``, M4A too) is never the meeting's. A Zoom Phone recording is its one MP3.
    A file id listed twice (a forged or odd event) is one file: the first entry, the others logged and left out;
    each was downloaded and mixed as a channel of its own, the same person twice.
    """
    event = _distinct(event)
    if event.platform == "zoom_phone":
        return (
            [Selection("phone", tuple(f for f in event.fallback_files if f.is_audio()))]
            if any(f.is_audio() for f in event.fallback_files)
            else []
        )
    found: list[Selection] = []
    tracks = tuple(f for f in event.participant_tracks if f.is_audio(untyped_ok=True))
    if tracks:
        found.append(Selection("participants", tracks))
    usable = [f for f in event.fallback_files if f.is_audio() and INTERPRETATION not in f.recording_type.lower()]
    audio_only = [f for f in usable if f.recording_type == "audio_only" or f.file_type.upper() == "M4A"]
    video = [f for f in usable if f not in audio_only and (f.file_type or f.file_extension).upper() in ("MP4", "M4V")]
    if audio_only:
        found.append(Selection("audio_only", stretches(audio_only)))
    if video:
        found.append(Selection("video", stretches(video)))
    return found


def _distinct(event: RecordingCompleted) -> RecordingCompleted:
    """``event`` with each file id listed once (its first entry, among the tracks and the other files alike)."""
    seen: set[str] = set()
    kept: dict[str, tuple[RecordingFile, ...]] = {}
    for name, files in (("participant_tracks", event.participant_tracks), ("fallback_files", event.fallback_files)):
        unique = []
        for file in files:
            if file.file_id in seen:
                fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "file_id": file.file_id}
                log.warning("file listed twice in the recording, left out", extra={**fields, "listed_in": name})
                continue
            seen.add(file.file_id)
            unique.append(file)
        kept[name] = tuple(unique)
    if kept["participant_tracks"] == event.participant_tracks and kept["fallback_files"] == event.fallback_files:
        return event
    return event.model_copy(update=kept)


def stretches(files: Sequence[RecordingFile]) -> tuple[RecordingFile, ...]:
    """One file per recorded stretch of the meeting, in time order: the first of each ``recording_start`` (an MP4
    per layout shares it), none that starts before the previous one ends. Without Zoom's times there is no telling
    the stretches apart: the first file alone."""
    timed = sorted((f for f in files if f.recording_start is not None), key=lambda f: f.recording_start or _EPOCH)
    if not timed:
        return tuple(files[:1])
    kept: list[RecordingFile] = []
    for file in timed:
        last = kept[-1] if kept else None
        if last is None or (file.recording_start != last.recording_start and not _before_end(file, last)):
            kept.append(file)
    return tuple(kept)


def _before_end(file: RecordingFile, previous: RecordingFile) -> bool:
    start, end = file.recording_start, previous.recording_end
    return start is not None and end is not None and start < end


def extension(file: RecordingFile) -> str:
    """A safe lower-case file extension for storage keys and scratch files."""
    ext = (file.file_extension or file.file_type).lower().lstrip(".")
    return ext if _EXT.fullmatch(ext) else "bin"


def input_hash(files: Sequence[RecordingFile], params: Mapping[str, object]) -> str:
    """A stable hash of what determines the mix: the input files (not their URLs) and the mix settings."""
    identity = sorted(
        (f.file_id, f.file_size, f.recording_start.isoformat() if f.recording_start else "") for f in files
    )
    blob = json.dumps({"files": identity, "params": dict(sorted(params.items()))}, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
