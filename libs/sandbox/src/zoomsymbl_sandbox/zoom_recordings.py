"""SANDBOX: Zoom's meeting recording objects, as the webhook and the Recordings API show them."""

from __future__ import annotations

import hashlib
import math
import uuid as uuid_lib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from zoomsymbl_sandbox.zoom_audio import MediaFile, MeetingMedia
from zoomsymbl_sandbox.zoom_specs import MeetingSpec

_FILE_ID_NAMESPACE = uuid_lib.UUID("6f1c3c2e-5a0b-4d7e-9a51-2f0c8e7d4b10")
FileKind = Literal["audio_only", "video", "participant", "transcript", "cc"]
_TEXT_KINDS: dict[str, tuple[str, str]] = {
    "transcript": ("TRANSCRIPT", "audio_transcript"),
    "cc": ("CC", "closed_caption"),
}


@dataclass(frozen=True)
class StoredFile:
    """A downloadable recording file."""

    file_id: str
    meeting_uuid: str
    kind: FileKind
    path: Path
    size: int
    recording_start: datetime
    recording_end: datetime
    participant_index: int | None = None

    @property
    def content_type(self) -> str:
        """The MIME type the download answers with."""
        if self.kind in _TEXT_KINDS:
            return "text/vtt"
        return "video/mp4" if self.kind == "video" else "audio/mp4"

    @property
    def extension(self) -> str:
        """Zoom's upper-case `file_extension`."""
        if self.kind in _TEXT_KINDS:
            return "VTT"
        return "MP4" if self.kind == "video" else "M4A"


@dataclass(frozen=True)
class RecordedMeeting:
    """A meeting spec with its generated files."""

    spec: MeetingSpec
    files: tuple[StoredFile, ...]


def zoom_time(moment: datetime) -> str:
    """Zoom's timestamp format: UTC, whole seconds, `Z` suffix."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_id(meeting_uuid: str, kind: str, index: int) -> str:
    # Stable across restarts, so a replayed webhook still points at downloadable files.
    return str(uuid_lib.uuid5(_FILE_ID_NAMESPACE, f"{meeting_uuid}\x00{kind}\x00{index}"))


def _stored(
    spec: MeetingSpec, kind: FileKind, media: MediaFile, offset_s: int, duration_s: int, index: int | None = None
) -> StoredFile:
    start = spec.start_time + timedelta(seconds=offset_s)
    return StoredFile(
        file_id=_file_id(spec.uuid, kind, index or 0),
        meeting_uuid=spec.uuid,
        kind=kind,
        path=media.path,
        size=media.size,
        recording_start=start,
        recording_end=start + timedelta(seconds=duration_s),
        participant_index=index if kind == "participant" else None,  # else: the stretch's number
    )


def recorded_meeting(
    spec: MeetingSpec, media: MeetingMedia, transcripts: Mapping[str, Path] | None = None
) -> RecordedMeeting:
    """Attach file ids and recording times to the generated media (and transcript files) of `spec`."""
    total = spec.total_duration_s
    files = [_stored(spec, "audio_only", media.mix, 0, total)]
    if spec.stretches:  # a restarted recording: a file of each stretch, with the stretch's times
        files = [
            _stored(spec, "audio_only", cut, start, end - start, i or None)
            for i, (cut, (start, end)) in enumerate(zip(media.stretches, spec.stretches, strict=True))
        ]
    for name, path in (transcripts or {}).items():
        kind, _, number = name.partition("/")
        text_kind: FileKind = "cc" if kind == "cc" else "transcript"
        start, end = spec.stretches[int(number)] if number else (0, total)
        text = MediaFile(path, path.stat().st_size)
        files.append(_stored(spec, text_kind, text, start, end - start, int(number or 0) or None))
    if media.video is not None:
        files.append(_stored(spec, "video", media.video, 0, total))
    if spec.separate_audio:
        for index, (participant, track) in enumerate(zip(spec.participants, media.tracks, strict=True)):
            files.append(_stored(spec, "participant", track, participant.start_offset_s, participant.duration_s, index))
    return RecordedMeeting(spec=spec, files=tuple(files))


def _recording_file(stored: StoredFile, base_url: str) -> dict[str, Any]:
    recording_type = "audio_only" if stored.kind == "audio_only" else "shared_screen_with_speaker_view"
    file_type = stored.extension
    if stored.kind in _TEXT_KINDS:
        file_type, recording_type = _TEXT_KINDS[stored.kind]
    return {
        "id": stored.file_id,
        "meeting_id": stored.meeting_uuid,
        "recording_start": zoom_time(stored.recording_start),
        "recording_end": zoom_time(stored.recording_end),
        "file_type": file_type,
        "file_extension": stored.extension,
        "file_size": stored.size,
        "play_url": f"{base_url}/rec/play/{stored.file_id}",
        "download_url": f"{base_url}/rec/download/{stored.file_id}",
        "status": "completed",
        "recording_type": recording_type,
    }


def _participant_file(stored: StoredFile, name: str, base_url: str) -> dict[str, Any]:
    return {
        "id": stored.file_id,
        "recording_start": zoom_time(stored.recording_start),
        "recording_end": zoom_time(stored.recording_end),
        "file_name": f"Audio only - {name}",
        "file_type": "M4A",
        "file_extension": "M4A",
        "file_size": stored.size,
        "play_url": f"{base_url}/rec/play/{stored.file_id}",
        "download_url": f"{base_url}/rec/download/{stored.file_id}",
        "status": "completed",
    }


def meeting_object(
    meeting: RecordedMeeting, account_id: str, base_url: str, *, transcripts: bool = True
) -> dict[str, Any]:
    """The meeting as the Recordings API shows it; without ``transcripts`` as `recording.completed`
    shows it (Zoom's transcript comes later, in `recording.transcript_completed`)."""
    spec = meeting.spec
    recordings = [f for f in meeting.files if f.kind != "participant" and (transcripts or f.kind not in _TEXT_KINDS)]
    participants = [f for f in meeting.files if f.kind == "participant"]
    share = hashlib.sha256(spec.uuid.encode()).hexdigest()[:32]
    body: dict[str, Any] = {
        "uuid": spec.uuid,
        "id": spec.meeting_id,
        "account_id": account_id,
        "host_id": spec.host_id,
        "host_email": spec.host_email,
        "topic": spec.topic,
        "type": 2,
        "start_time": zoom_time(spec.start_time),
        "timezone": spec.timezone,
        "duration": max(1, math.ceil(spec.total_duration_s / 60)),
        "total_size": sum(f.size for f in meeting.files),
        "recording_count": len(recordings),
        "share_url": f"{base_url}/rec/share/{share}",
        "recording_files": [_recording_file(f, base_url) for f in recordings],
    }
    # Zoom omits the key entirely when separate participant audio is off.
    if participants:
        body["participant_audio_files"] = [
            _participant_file(f, spec.participants[f.participant_index or 0].name, base_url) for f in participants
        ]
    return body
