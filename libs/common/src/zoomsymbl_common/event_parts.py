"""The models events are made of: a recording's files, a phone call, a mixed file's channels and transcripts.

They travel inside the events of :mod:`zoomsymbl_common.events` (which re-exports them) and are part of the same
contract: frozen, no extra fields, ``allow_inf_nan=False`` (events.py says why). A token in a download URL's query
is dropped when a :class:`RecordingFile` is built: events go to Kafka, tokens never do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoomsymbl_common.download_urls import without_token_params
from zoomsymbl_common.event_fields import INT64_MAX, MAX_MIX_CHANNELS, MAX_MIX_SECONDS, UtcDatetime

CallDirection = Literal["inbound", "outbound", "internal", "unknown"]
AUDIO_FILE_TYPES = frozenset({"M4A", "MP4", "M4V", "MP3", "WAV", "AAC", "OGG", "OPUS", "FLAC", "WEBM"})
INTERPRETATION = "interpretation"
"""In a ``recording_type`` (``audio_interpretation``, ``sign_interpretation``): an interpreter, not the meeting."""


class RecordingFile(BaseModel):
    """One file of a Zoom cloud recording, as listed in the webhook or the recordings API."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    file_id: str = Field(min_length=1, max_length=256, description="Zoom's file id.")
    recording_type: str = Field("", max_length=64, description="Zoom's recording_type (audio_only, ...).")
    participant_name: str | None = Field(None, max_length=256, description="Speaker name from file_name.")
    participant_email: str | None = Field(None, max_length=320, description="Speaker e-mail when Zoom knows it.")
    recording_start: UtcDatetime | None = Field(None, description="When this file's audio starts (UTC).")
    recording_end: UtcDatetime | None = Field(None, description="When this file's audio ends (UTC).")
    file_size: int | None = Field(None, ge=0, le=INT64_MAX, description="Size in bytes announced by Zoom.")
    file_type: str = Field("", max_length=32, description="Zoom's file_type (M4A, MP4, ...).")
    file_extension: str = Field("", max_length=16, description="Zoom's file_extension.")
    download_url: str = Field(
        min_length=1, max_length=2048, description="URL to GET with a Bearer token; never with a token in it."
    )
    status: str = Field("completed", max_length=32, description="Zoom's status; only 'completed' is usable.")

    @field_validator("download_url", mode="before")
    @classmethod
    def _no_token_in_url(cls, value: object) -> object:
        """A token in the URL's query (``?access_token=…``) is dropped before the event exists: events go to
        Kafka, and tokens travel only in MongoDB and ``Authorization`` headers."""
        return without_token_params(value) if isinstance(value, str) else value

    @property
    def completed(self) -> bool:
        """True when Zoom says the file is ready."""
        return self.status == "completed"

    def is_audio(self, *, untyped_ok: bool = False) -> bool:
        """A completed file whose type (else extension) is one the mixer reads audio from; ``untyped_ok``: one that
        names neither counts too (a participant track)."""
        kind = (self.file_type or self.file_extension).upper()
        return self.completed and (kind in AUDIO_FILE_TYPES or (untyped_ok and not kind))


class CallParty(BaseModel):
    """One end of a Zoom Phone call: a number (extension or E.164) and a display name, either may be empty."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    number: str = Field("", max_length=64, description="Extension or phone number as Zoom gives it.")
    did_number: str = Field("", max_length=64, description="The direct (E.164) number when Zoom gives one.")
    name: str = Field("", max_length=256, description="Display name as Zoom gives it.")


class PhoneCall(BaseModel):
    """The call a Zoom Phone recording belongs to (``phone.recording_completed`` / ``GET /phone/recordings``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    recording_id: str = Field(min_length=1, max_length=256, description="Zoom's recording id.")
    call_id: str = Field("", max_length=128, description="Zoom's call id.")
    call_log_id: str = Field("", max_length=128, description="Zoom's call log id.")
    caller: CallParty = Field(default_factory=CallParty, description="Who called.")
    callee: CallParty = Field(default_factory=CallParty, description="Who was called.")
    direction: CallDirection = Field("unknown", description="Seen from the recorded user.")
    duration_seconds: int | None = Field(None, ge=0, le=INT64_MAX, description="Call duration Zoom announced.")
    start_time: UtcDatetime | None = Field(None, description="Call start (UTC).")
    end_time: UtcDatetime | None = Field(None, description="Call end (UTC).")
    recording_type: str = Field("", max_length=32, description="OnDemand or Automatic.")
    owner_type: str = Field("", max_length=32, description="Whose recording: user, callQueue, commonArea, ...")
    owner_id: str = Field("", max_length=128, description="Zoom id of the recorded user (or queue).")
    owner_name: str = Field("", max_length=256, description="Display name of the recorded user (or queue).")
    owner_extension: str = Field("", max_length=32, description="Extension number of the recorded user.")
    user_id: str = Field("", max_length=128, description="Zoom user id the recording belongs to.")


class ChannelAssignment(BaseModel):
    """Which participant is heard on one channel of the mixed file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    channel: int = Field(ge=1, le=MAX_MIX_CHANNELS, description="1-based channel number in the mixed file.")
    participant_name: str = Field(description="Speaker name (or 'Others' for a mixed overflow channel).")
    participant_email: str | None = Field(None, description="Speaker e-mail when known.")
    file_ids: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = Field(
        description="Zoom file ids heard on this channel."
    )
    offset_seconds: float = Field(
        ge=0, le=MAX_MIX_SECONDS, description="Delay applied so the track is aligned to the meeting."
    )
    mixed: bool = Field(False, description="True when several participants share this channel.")


class SpeakerStats(BaseModel):
    """Talk analytics of one channel, measured on the mixed file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    channel: int = Field(ge=1, le=MAX_MIX_CHANNELS, description="1-based channel number.")
    talk_seconds: float = Field(ge=0, le=MAX_MIX_SECONDS, description="Seconds with speech on this channel.")
    silence_ratio: float = Field(ge=0, le=1, description="Share of the meeting this channel was silent.")
    talk_over_ratio: float = Field(ge=0, le=1, description="Share of talk time overlapping another channel.")
    longest_silence_seconds: float = Field(ge=0, le=MAX_MIX_SECONDS, description="Longest silent stretch.")


class TranscriptObject(BaseModel):
    """One of Zoom's own transcript files (WebVTT) of the meeting, as stored in S3 by the mixer."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    file_id: str = Field(min_length=1, max_length=256, description="Zoom's file id.")
    kind: Literal["transcript", "cc"] = Field(description="Zoom's audio transcript (TRANSCRIPT) or captions (CC).")
    key: str = Field(min_length=1, max_length=1024, description="S3 key (raw/{tenant}/{meeting_key}/{file_id}.vtt).")
    size_bytes: int = Field(ge=0, le=INT64_MAX, description="Size of the stored file.")
