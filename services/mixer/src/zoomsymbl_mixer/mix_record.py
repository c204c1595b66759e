"""The mix the mixer remembers on the meeting (:class:`MixRecord`, the raw files it read) and the ``AudioMixed``
that announces it, rebuilt from the record and the event (:func:`audio_mixed`, :func:`with_transcripts`): the same
inputs always give the same ``event_id``, so a redelivered event re-publishes the same ``AudioMixed``. Stored and
read by :class:`~zoomsymbl_mixer.state.MeetingState`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from zoomsymbl_common.errors import ObjectNotFound
from zoomsymbl_common.event_fields import MAX_MIX_CHANNELS, MAX_MIX_SECONDS
from zoomsymbl_common.events import (
    AudioFormat,
    AudioMixed,
    ChannelAssignment,
    RecordingCompleted,
    RecordingFile,
    SpeakerStats,
    TranscriptObject,
    stable_id,
    utcnow,
)
from zoomsymbl_common.records import MissingAudio, missing_audio
from zoomsymbl_common.storage import ObjectStore


class RawObject(BaseModel):
    """One participant file as stored in S3."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_id: str
    key: str
    size: int


class MixRecord(BaseModel):
    """What one mix produced; with the event it rebuilds the exact ``AudioMixed``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_hash: str
    input_kind: str
    bucket: str
    object_key: str
    format: AudioFormat
    # Bounded as ``AudioMixed`` is: a record that event could not carry is no mix (``state._readable_mix``).
    channels: int = Field(ge=1, le=MAX_MIX_CHANNELS)
    duration_seconds: float = Field(ge=0, le=MAX_MIX_SECONDS, allow_inf_nan=False)
    size_bytes: int = Field(ge=0)
    channel_map: tuple[ChannelAssignment, ...]
    speaker_stats: tuple[SpeakerStats, ...] = ()
    diarization: bool = False
    raw_objects: tuple[RawObject, ...] = ()
    missing_files: tuple[str, ...] = Field((), description="Files Zoom no longer had (404).")
    mixed_at: datetime = Field(default_factory=utcnow)


def audio_mixed(event: RecordingCompleted, record: MixRecord) -> AudioMixed:
    """The event announcing ``record``; the same inputs always give the same ``event_id``."""
    return AudioMixed(
        event_id=stable_id(
            AudioMixed.topic, event.tenant, event.meeting_uuid, record.input_hash, str(event.generation)
        ),
        tenant=event.tenant,
        meeting_uuid=event.meeting_uuid,
        occurred_at=record.mixed_at,
        generation=event.generation,
        bucket=record.bucket,
        object_key=record.object_key,
        format=record.format,
        channels=record.channels,
        duration_seconds=record.duration_seconds,
        size_bytes=record.size_bytes,
        input_hash=record.input_hash,
        channel_map=record.channel_map,
        speaker_stats=record.speaker_stats,
        topic_text=event.topic_text,
        host_email=event.host_email,
        diarization=record.diarization,
    )


def missing_of(event: RecordingCompleted, record: MixRecord) -> MissingAudio | None:
    """The participant audio ``record`` went without (its ``missing_files``), by the names ``event``'s file entries give
    (a file id listed twice: its first entry, as the mix took it); None when nothing is missing. A participant another
    of whose files the mix has (a rejoiner: the same e-mail, else the same name, as the channel plan groups them) lost
    part of their audio only (``partial``)."""
    entries: dict[str, RecordingFile] = {}
    for entry in (*event.participant_tracks, *event.fallback_files):
        entries.setdefault(entry.file_id, entry)
    missing = dict.fromkeys(record.missing_files)
    heard = {
        who
        for channel in record.channel_map
        for file_id in channel.file_ids
        if file_id not in missing and (who := _participant(entries.get(file_id))) is not None
    }
    partial = {file_id for file_id in missing if _participant(entries.get(file_id)) in heard}
    named = ((file_id, found.participant_name if (found := entries.get(file_id)) else None) for file_id in missing)
    return missing_audio(named, partial)


def _participant(entry: RecordingFile | None) -> str | None:
    # As channels._identity: a rejoiner's files share the e-mail (the name may differ: "Ann (phone)"), else the name.
    if entry is None:
        return None
    if entry.participant_email:
        return "email:" + entry.participant_email.casefold()
    return "name:" + entry.participant_name if entry.participant_name else None


def mix_origin(event: RecordingCompleted, record: MixRecord) -> datetime | None:
    """Time 0 of ``record``'s mix: the earliest ``recording_start`` of the files it mixed (as the plan placed them)."""
    mixed = {file_id for channel in record.channel_map for file_id in channel.file_ids}
    starts = [f.recording_start for f in (*event.participant_tracks, *event.fallback_files) if f.file_id in mixed]
    return min((s for s in starts if s is not None), default=None)


def with_transcripts(mixed: AudioMixed, transcripts: tuple[TranscriptObject, ...]) -> AudioMixed:
    """``mixed`` naming Zoom's transcript files; they are inputs too, so a transcript that arrives after
    the mix gives a new ``event_id`` (and the same files the same one)."""
    if not transcripts:
        return mixed
    event_id = stable_id(mixed.event_id, *(t.file_id for t in transcripts))
    return mixed.model_copy(update={"event_id": event_id, "transcripts": transcripts})


async def stored_size(objects: ObjectStore, record: MixRecord) -> int | None:
    """The size of ``record``'s object in ``objects`` (None: not there). A mix kept in another bucket than ``objects``'
    (the bucket setting changed since) is not looked at: its recorded size is answered."""
    if record.bucket != objects.bucket:
        return record.size_bytes
    try:
        return await objects.size(record.object_key)
    except ObjectNotFound:
        return None
