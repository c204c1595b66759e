"""The archive metadata record of one conversation (meeting or phone call): built here, pure, no I/O.

Written by the mixer after every mix, to MongoDB (``conversations``) and as JSON next to the media in
S3 (:func:`metadata_key`); when the mixer gives up on a recording, to MongoDB with ``recording_failed`` and
the reason. Speaker metrics are the mixer's own measurements of the mixed file.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from zoomsymbl_common.events import CallParty, RecordingCompleted, utcnow
from zoomsymbl_common.records import ConversationMetadata, ConversationType, MediaInfo, Party, SpeakerMetrics
from zoomsymbl_common.storage_keys import meeting_key

if TYPE_CHECKING:  # state.py writes the failed record built here
    from zoomsymbl_mixer.state import MixRecord

_VIDEO = ("speaker_view", "gallery_view", "active_speaker", "video")
_SCREEN = ("shared_screen",)


def metadata_key(tenant: str, meeting_uuid: str) -> str:
    """``raw/{tenant}/{meeting_key}/metadata.json``: next to the raw media (a file id never ends in .json)."""
    return f"raw/{tenant}/{meeting_key(meeting_uuid)}/metadata.json"


def failed_metadata(event: RecordingCompleted, reason: str) -> ConversationMetadata:
    """The record of a conversation whose recording the mixer gave up on: what Zoom said of it, and why."""
    return _metadata(event, {"recording_failed": True, "failure": reason[:1000]}, None)


def conversation_metadata(
    event: RecordingCompleted, record: MixRecord, missing_transcripts: tuple[str, ...] = ()
) -> ConversationMetadata:
    """The record of ``event``'s conversation after ``record`` was mixed; ``missing_transcripts``: Zoom's transcript
    files it did not serve when asked, missing files of the recording like the audio files Zoom no longer had."""
    stats = {s.channel: s for s in record.speaker_stats}
    speakers = [
        SpeakerMetrics(
            channel=c.channel,
            name=c.participant_name,
            email=c.participant_email,
            talk_seconds=stats[c.channel].talk_seconds if c.channel in stats else 0.0,
            silence_ratio=stats[c.channel].silence_ratio if c.channel in stats else 0.0,
            talk_over_ratio=stats[c.channel].talk_over_ratio if c.channel in stats else 0.0,
            longest_silence_seconds=stats[c.channel].longest_silence_seconds if c.channel in stats else 0.0,
        )
        for c in record.channel_map
    ]
    files = (*event.participant_tracks, *event.fallback_files)
    used = {raw.file_id for raw in record.raw_objects}
    codecs = sorted({(f.file_type or f.file_extension).upper() for f in files if f.file_id in used} - {""})
    media = MediaInfo(
        original_codec=",".join(codecs),
        original_objects=[raw.key for raw in record.raw_objects],
        codec=record.format,
        bucket=record.bucket,
        object_key=record.object_key,
        length_seconds=record.duration_seconds,
        size_bytes=record.size_bytes,
        channels=record.channels,
    )
    missing = [*record.missing_files, *missing_transcripts]
    mixed = {
        "recording_failed": bool(missing),
        "missing_files": missing,
        "media": media,
        "speakers": speakers,
    }
    return _metadata(event, mixed, record.duration_seconds)


def _metadata(event: RecordingCompleted, measured: dict[str, Any], media_seconds: float | None) -> ConversationMetadata:
    call = event.phone_call
    described = (
        _call_fields(event, media_seconds)
        if event.platform == "zoom_phone" and call is not None
        else _meeting_fields(event, measured.get("speakers") or [], media_seconds)
    )
    common = {
        "tenant": event.tenant,
        "meeting_uuid": event.meeting_uuid,
        "generation": event.generation,
        "topic": event.topic_text,
        "written_at": utcnow(),
    }
    return ConversationMetadata.model_validate({**common, **measured, **described})


def _call_fields(event: RecordingCompleted, media_seconds: float | None) -> dict[str, Any]:
    call = event.phone_call
    assert call is not None
    return {
        "source_platform": "Zoom Phone",
        "conversation_types": ["voice"],
        "platform_id": call.call_id or call.recording_id,
        "start_time": call.start_time,
        "end_time": call.end_time,
        "duration_seconds": float(call.duration_seconds) if call.duration_seconds is not None else media_seconds,
        "recorded_user": Party(user=event.host_email, name=call.owner_name, number=call.owner_extension),
        "recorded_user_id": call.user_id or call.owner_id,
        "from": _party(call.caller),
        "to": [_party(call.callee)],
        "direction": call.direction,
    }


def _meeting_fields(
    event: RecordingCompleted, speakers: list[SpeakerMetrics], media_seconds: float | None
) -> dict[str, Any]:
    files = (*event.participant_tracks, *event.fallback_files)
    start = event.start_time or min((f.recording_start for f in files if f.recording_start), default=None)
    end = max((f.recording_end for f in files if f.recording_end), default=None)
    duration = (end - start).total_seconds() if start and end and end >= start else media_seconds
    if duration is None and event.duration_minutes is not None:
        duration = event.duration_minutes * 60.0
    host = Party(user=event.host_email)
    # Who was heard (the channel map), else, for a recording that failed, who Zoom recorded.
    heard = [Party(user=s.email or "", name=s.name) for s in speakers]
    named = [Party(name=f.participant_name) for f in event.participant_tracks if f.participant_name]
    return {
        "source_platform": "Zoom Meeting",
        "conversation_types": meeting_types(event),
        "platform_id": str(event.meeting_id) if event.meeting_id is not None else event.meeting_uuid,
        "start_time": start,
        "end_time": end,
        "duration_seconds": duration,
        "recorded_user": host,
        "recorded_user_id": event.host_id,
        "from": host,
        "to": heard or named,
    }


def meeting_types(event: RecordingCompleted) -> list[ConversationType]:
    """voice always; video and screen share when Zoom recorded them (``recording_type`` of the files)."""
    kinds = {f.recording_type.lower() for f in event.fallback_files}
    found: list[ConversationType] = ["voice"]
    if any(marker in kind for kind in kinds for marker in _VIDEO):
        found.append("video")
    if any(marker in kind for kind in kinds for marker in _SCREEN):
        found.append("screen_share")
    return found


def metadata_json(metadata: ConversationMetadata) -> bytes:
    """The S3 copy: the same fields as MongoDB's, ISO-8601 times, UTF-8."""
    return json.dumps(metadata.model_dump(mode="json", by_alias=True), ensure_ascii=False, indent=2).encode()


def _party(party: CallParty) -> Party:
    return Party(number=party.did_number or party.number, name=party.name)
