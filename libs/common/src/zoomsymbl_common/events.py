"""The events that travel between services: one frozen model per Kafka topic.

Every event carries ``event_id`` (the idempotency key), ``tenant``, ``meeting_uuid`` and
``occurred_at``. The topic is on the model (``Model.topic``). A breaking change is a new topic
(``.v2``), never an edit here. Secrets are never fields of an event: download tokens stay in
MongoDB bound to the meeting, and a token in a download URL's query is dropped when the event is built.
The models inside events live in :mod:`zoomsymbl_common.event_parts` (re-exported here), the bounds
they share in :mod:`zoomsymbl_common.event_fields`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoomsymbl_common.event_fields import (
    INT64_MAX,
    JOB_ID_MAX,
    MAX_DIGEST_MEETINGS,
    MAX_FALLBACK_FILES,
    MAX_MIX_CHANNELS,
    MAX_MIX_SECONDS,
    MAX_PARTICIPANT_TRACKS,
    MAX_TRANSCRIPT_FILES,
    REASON_MAX,
    STAGE_MAX,
    UtcDatetime,
)
from zoomsymbl_common.event_parts import INTERPRETATION
from zoomsymbl_common.event_parts import CallParty as CallParty
from zoomsymbl_common.event_parts import ChannelAssignment as ChannelAssignment
from zoomsymbl_common.event_parts import PhoneCall as PhoneCall
from zoomsymbl_common.event_parts import RecordingFile as RecordingFile
from zoomsymbl_common.event_parts import SpeakerStats as SpeakerStats
from zoomsymbl_common.event_parts import TranscriptObject as TranscriptObject
from zoomsymbl_common.logs import scrub

Provider = Literal["symbl", "assemblyai", "whisper", "zoom"]
AudioFormat = Literal["flac", "wav", "opus", "m4a"]
JobStatus = Literal["scheduled", "in_progress", "completed", "failed"]
EventSource = Literal["webhook", "backfill", "replay"]
Platform = Literal["zoom_meeting", "zoom_phone"]
Service = Literal["ingest", "mixer", "submitter", "notifier"]
# Every event model (and part of one) says ``allow_inf_nan=False``: Kafka messages are outside input, and
# Python's JSON reader takes ``NaN`` and ``Infinity``, which pass ``ge=0`` (infinity) and which the MongoDB-wire
# server refuses or cannot read back. (Written out in each class: mypy's pydantic plugin sees ``frozen`` only so.)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(tz=UTC)


def stable_id(*parts: str) -> str:
    """A deterministic id for the same inputs (sha256 of the parts, 32 hex digits)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


class Event(BaseModel):
    """Fields every event has."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    topic: ClassVar[str]

    event_id: str = Field(min_length=1, max_length=128, description="Idempotency key of this event.")
    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Tenant (Zoom account) id.")
    meeting_uuid: str = Field(min_length=1, max_length=256, description="Zoom meeting instance UUID, verbatim.")
    occurred_at: UtcDatetime = Field(default_factory=utcnow, description="When the fact happened (UTC).")
    generation: int = Field(0, ge=0, le=INT64_MAX, description="Processing generation; a forced replay increments it.")


class RecordingCompleted(Event):
    """A Zoom cloud recording is ready (from a webhook, a backfill or a replay)."""

    topic: ClassVar[str] = "zoom.recording-completed.v1"

    # Zoom's meeting numbers have 9 to 12 digits; the bound keeps a forged giant out of everything
    # downstream that copies the number into a bounded field (the mixer's platform_id).
    meeting_id: int | None = Field(None, ge=0, lt=10**19, description="Zoom meeting number (below 10**19).")
    account_id: str = Field("", max_length=128, description="Zoom account id.")
    host_id: str = Field("", max_length=128, description="Zoom user id of the host.")
    host_email: str = Field("", max_length=320, description="Host e-mail: the report's recipient.")
    topic_text: str = Field("", max_length=512, description="Meeting topic as typed by the host.")
    start_time: UtcDatetime | None = Field(None, description="Meeting start (UTC).")
    duration_minutes: int | None = Field(None, ge=0, le=INT64_MAX, description="Meeting duration announced by Zoom.")
    participant_tracks: tuple[RecordingFile, ...] = Field(
        (), max_length=MAX_PARTICIPANT_TRACKS, description="One audio file per participant."
    )
    fallback_files: tuple[RecordingFile, ...] = Field(
        (), max_length=MAX_FALLBACK_FILES, description="Other recording files (audio_only, MP4)."
    )
    has_download_token: bool = Field(False, description="A webhook download token is stored in MongoDB.")
    download_token_expires_at: UtcDatetime | None = Field(None, description="When that download token expires.")
    source: EventSource = Field("webhook", description="How the recording became known.")
    platform: Platform = Field("zoom_meeting", description="A Zoom Meeting cloud recording or a Zoom Phone call.")
    phone_call: PhoneCall | None = Field(None, description="The call's metadata (platform zoom_phone only).")

    @property
    def carries_audio(self) -> bool:
        """Whether the mixer has audio to take from this event: a participant track, a Zoom Phone recording, or a
        meeting file that is no interpreter's. False for Zoom's transcript alone (``recording.transcript_completed``
        lists only its ``TRANSCRIPT``/``CC`` files)."""
        if self.platform == "zoom_phone":
            return any(f.is_audio() for f in self.fallback_files)
        if any(f.is_audio(untyped_ok=True) for f in self.participant_tracks):
            return True
        return any(
            f.is_audio()
            and INTERPRETATION not in f.recording_type.lower()
            and (
                f.recording_type == "audio_only"
                or f.file_type.upper() == "M4A"
                or (f.file_type or f.file_extension).upper() in ("MP4", "M4V")
            )
            for f in self.fallback_files
        )


class AudioMixed(Event):
    """The participant tracks were merged, aligned, into one multichannel object in S3."""

    topic: ClassVar[str] = "audio.mixed.v1"

    bucket: str = Field(max_length=63, description="S3 bucket of the mixed file (an S3 name: at most 63 characters).")
    object_key: str = Field(
        min_length=1,
        max_length=1024,
        description=(
            "S3 key of the mixed file (mixed/{tenant}/{meeting_key}.mix-{digest}.{ext}; earlier releases without"
            " the mix- tag)."
        ),
    )
    format: AudioFormat = Field(description="Container/codec of the mixed file.")
    channels: int = Field(ge=1, le=MAX_MIX_CHANNELS, description="Number of channels (at most 64).")
    duration_seconds: float = Field(
        ge=0, le=MAX_MIX_SECONDS, description="Duration of the mixed file (at most 48 h; finite)."
    )
    size_bytes: int = Field(ge=0, le=INT64_MAX, description="Size of the mixed file.")
    input_hash: str = Field(
        min_length=1, max_length=128, description="Hash of the input file set; part of the submission idempotency key."
    )
    channel_map: tuple[ChannelAssignment, ...] = Field(
        max_length=MAX_MIX_CHANNELS, description="Channel → participant (one entry per channel, at most 64)."
    )
    speaker_stats: tuple[SpeakerStats, ...] = Field(
        (), max_length=MAX_MIX_CHANNELS, description="Talk analytics per channel."
    )
    topic_text: str = Field("", max_length=512, description="Meeting topic.")
    host_email: str = Field("", description="Host e-mail.")
    diarization: bool = Field(False, description="One channel holds several speakers: ask the provider to diarize.")
    transcripts: tuple[TranscriptObject, ...] = Field(
        (),
        max_length=MAX_TRANSCRIPT_FILES,
        description="Zoom's own transcript files of the meeting in the mixed file's bucket (the zoom source).",
    )


class JobSubmitted(Event):
    """A provider accepted a transcription job for (a part of) a mixed file."""

    topic: ClassVar[str] = "provider.job-submitted.v1"

    provider: Provider = Field(description="Which provider runs the job.")
    job_id: str = Field(max_length=JOB_ID_MAX, description="Provider's job id.")
    conversation_id: str = Field(max_length=JOB_ID_MAX, description="Provider's conversation/transcript id.")
    part_index: int = Field(0, ge=0, le=INT64_MAX, description="0-based part number when a long file was split.")
    part_count: int = Field(1, ge=1, le=INT64_MAX, description="Number of parts of this meeting.")
    part_offset_seconds: float = Field(
        0, ge=0, le=MAX_MIX_SECONDS, description="Where this part starts in the meeting."
    )


class JobStatusReported(Event):
    """A provider said (by callback, or when polled by the sweeper) that a job changed status."""

    topic: ClassVar[str] = "provider.job-status.v1"

    provider: Provider = Field(description="Which provider reported.")
    job_id: str = Field(max_length=JOB_ID_MAX, description="Provider's job id.")
    reported_status: str = Field(max_length=64, description="Status as reported; confirmed with the job API.")
    via: Literal["callback", "sweeper", "worker"] = Field(
        "callback", description="How the status arrived (worker: our own transcriber finished the job)."
    )


class InsightsReady(Event):
    """Insights of every part of a meeting are stored and ready to e-mail."""

    topic: ClassVar[str] = "insights.ready.v1"

    provider: Provider = Field(description="Provider that produced them.")
    conversation_ids: tuple[str, ...] = Field(description="Provider conversation ids, in time order.")
    summary_url: str | None = Field(None, description="Provider's summary page.")
    counts: dict[str, int] = Field(default_factory=dict, description="Items per kind (messages, topics, ...).")


class MeetingFailed(Event):
    """A service gave up on a meeting: it is marked failed in MongoDB and its input is dead-lettered.

    Published (and acknowledged) before the dead-lettered message's offset is committed, so a crash
    in between publishes it again; the notifier sends the host one failure notice per meeting and
    generation however often it arrives.
    """

    topic: ClassVar[str] = "meeting.failed.v1"

    service: Service = Field(description="Service that gave up on the meeting.")
    stage: str = Field(
        min_length=1, max_length=STAGE_MAX, description="Stage it failed in (download, verify, submit, retry, ...)."
    )
    reason: str = Field(
        min_length=1,
        max_length=REASON_MAX,
        description="Why, for people. Scrubbed on construction: no registered secret, no URL beyond its host, "
        "no bearer credential or token=... pair.",
    )

    @field_validator("reason", mode="before")
    @classmethod
    def _scrubbed(cls, value: object) -> object:
        # Reasons are built from exception messages, which may quote upstream answers: never trust them.
        return (scrub(value, REASON_MAX) or "no reason given") if isinstance(value, str) else value

    @classmethod
    def of(cls, event: Event, service: Service, stage: str, reason: str) -> MeetingFailed:
        """The failure of ``event``'s meeting; the same meeting, generation and service give the same id."""
        return cls(
            event_id=stable_id(cls.topic, event.tenant, event.meeting_uuid, str(event.generation), service),
            tenant=event.tenant,
            meeting_uuid=event.meeting_uuid,
            generation=event.generation,
            service=service,
            stage=stage[:STAGE_MAX] or "unknown",
            reason=reason,
        )


class ReconciliationCompleted(Event):
    """A reconciliation run compared one tenant's past meetings (a window of days) with the archive.

    ``meeting_uuid`` is the run's window (``reconciliation/<from>/<to>``), not a meeting: the event's
    key, the partition key and the digest e-mail's key. The same window reconciled again gives the
    same event id, so the tenant's administrators get one digest per window however often it runs.
    """

    topic: ClassVar[str] = "zoom.reconciliation-completed.v1"

    window_from: date = Field(description="First day reconciled (UTC).")
    window_to: date = Field(description="Last day reconciled (UTC).")
    listed: int = Field(0, ge=0, le=INT64_MAX, description="Past meetings the dashboard listed.")
    expected: int = Field(
        0, ge=0, le=INT64_MAX, description="Of those, the meetings the tenant's policy expects archived."
    )
    archived: int = Field(0, ge=0, le=INT64_MAX, description="Expected meetings the archive has.")
    flagged: int = Field(
        0, ge=0, le=INT64_MAX, description="Expected meetings this run found missing for the first time."
    )
    already_flagged: int = Field(
        0, ge=0, le=INT64_MAX, description="Expected meetings an earlier run found missing already."
    )
    missing: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = Field(
        (), max_length=MAX_DIGEST_MEETINGS, description="UUIDs of the missing meetings (new and earlier ones)."
    )

    @staticmethod
    def window_key(window_from: date, window_to: date) -> str:
        """The ``meeting_uuid`` of a run over ``window_from``..``window_to``."""
        return f"reconciliation/{window_from.isoformat()}/{window_to.isoformat()}"


EVENT_TYPES: tuple[type[Event], ...] = (
    RecordingCompleted,
    AudioMixed,
    JobSubmitted,
    JobStatusReported,
    InsightsReady,
    MeetingFailed,
    ReconciliationCompleted,
)


class DeadLetter(BaseModel):
    """What is written to ``<topic>.dlq``: the original message, why it failed, and where."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    source_topic: str = Field(description="Topic the message came from.")
    service: str = Field(description="Service that gave up on it.")
    reason: str = Field(description="Human-readable cause.")
    error_type: str = Field(description="Exception class name.")
    attempts: int = Field(ge=1, le=INT64_MAX, description="How many times processing was tried.")
    payload: str = Field(description="The original message body (UTF-8, replaced on decode errors).")
    event_id: str | None = Field(None, description="Event id when the body parsed far enough.")
    failed_at: UtcDatetime = Field(default_factory=utcnow, description="When it was dead-lettered.")

    @staticmethod
    def topic_for(source_topic: str) -> str:
        """The dead-letter topic of ``source_topic``."""
        return f"{source_topic}.dlq"
