"""The ``conversations`` document: one archive metadata record per meeting or phone call, written by the mixer.

The same record is stored as JSON next to the media in S3 (``raw/{tenant}/{meeting_key}/metadata.json``),
so an archive that only keeps the bucket still knows what each recording is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from zoomsymbl_common.event_parts import CallDirection
from zoomsymbl_common.records.base import Key, MeetingUuid, Name, Record, Tenant

SourcePlatform = Literal["Zoom Meeting", "Zoom Phone"]
ConversationType = Literal["voice", "video", "screen_share"]
Email = Annotated[str, Field(max_length=320)]


class Party(Record):
    """One side of a conversation: a phone number or a Zoom user, and a display name."""

    number: Annotated[str, Field(max_length=64)] = ""
    user: Email = Field("", description="The Zoom user's e-mail, when the side is a Zoom user known by it.")
    name: Name = ""


class SpeakerMetrics(Record):
    """What the mixer measured on one channel of the conversation."""

    channel: int = Field(ge=1, le=1024)
    name: Name = ""
    email: Email | None = None
    talk_seconds: float = Field(0.0, ge=0)
    silence_ratio: float = Field(0.0, ge=0, le=1)
    talk_over_ratio: float = Field(0.0, ge=0, le=1)
    longest_silence_seconds: float = Field(0.0, ge=0)


class MediaInfo(Record):
    """The archived media: the original recording's codec and the mixed file zoomsymbl made of it."""

    original_codec: Annotated[str, Field(max_length=64)] = Field("", description="Zoom's file type: MP3, M4A, MP4.")
    original_objects: list[Key] = Field(default_factory=list, max_length=10_000)
    codec: Annotated[str, Field(max_length=16)] = Field("", description="Codec of the mixed file (flac, opus, wav).")
    bucket: Key = ""
    object_key: Key = ""
    length_seconds: float = Field(0.0, ge=0)
    size_bytes: int = Field(0, ge=0)
    channels: int = Field(0, ge=0)


class ConversationMetadata(Record):
    """What an archive expects to know about one conversation (meeting or call)."""

    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(0, ge=0)
    source_platform: SourcePlatform
    conversation_types: list[ConversationType] = Field(default_factory=lambda: list[ConversationType](["voice"]))
    platform_id: Annotated[str, Field(max_length=256)] = Field("", description="Zoom's meeting number or call id.")
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_seconds: float | None = Field(None, ge=0)
    recorded_user: Party = Field(default_factory=Party, description="Whose recording: the host or phone user.")
    recorded_user_id: Annotated[str, Field(max_length=128)] = ""
    from_party: Party = Field(default_factory=Party, alias="from")
    to_parties: list[Party] = Field(default_factory=list, alias="to", max_length=10_000)
    direction: CallDirection | None = Field(None, description="Phone calls only, seen from the recorded user.")
    topic: Name = ""
    recording_failed: bool = Field(False, description="Zoom no longer had some recorded file, or the mix failed.")
    missing_files: list[Key] = Field(default_factory=list, max_length=10_000)
    failure: Annotated[str, Field(max_length=1000)] = Field(
        "", description="Why the mixer gave up, or why reconciliation found the meeting missing."
    )
    reconciled_at: datetime | None = Field(
        None, description="Set when reconciliation wrote this record: a past meeting that was never archived."
    )
    media: MediaInfo = Field(default_factory=MediaInfo)
    speakers: list[SpeakerMetrics] = Field(default_factory=list, max_length=1024)
    written_at: datetime | None = None
