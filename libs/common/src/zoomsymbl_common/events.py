"""The events that travel between services: one frozen model per Kafka topic.

Every event carries ``event_id`` (the idempotency key), ``tenant``, ``meeting_uuid`` and
``occurred_at``. The topic is on the model (``Model.topic``). A breaking change is a new topic
(``.v2``), never an edit here. Secrets are never fields of an event: download tokens stay in
MongoDB bound to the meeting, and a token in a download URL's query is dropped when the event is built.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from zoomsymbl_common.download_urls import without_token_params
from zoomsymbl_common.logs import scrub

Provider = Literal["symbl", "assemblyai", "whisper", "zoom"]
AudioFormat = Literal["flac", "wav", "opus", "m4a"]
JobStatus = Literal["scheduled", "in_progress", "completed", "failed"]
EventSource = Literal["webhook", "backfill", "replay"]
Platform = Literal["zoom_meeting", "zoom_phone"]
CallDirection = Literal["inbound", "outbound", "internal", "unknown"]
Service = Literal["ingest", "mixer", "submitter", "notifier"]
REASON_MAX = 1000
STAGE_MAX = 64
MAX_MIX_CHANNELS = 64
"""Most channels a mixed file has (a tenant's ``max_channels`` is at most 64; a phone call has two)."""
MAX_MIX_SECONDS = 48 * 3600
"""Longest mixed file an event may announce: the mixer refuses mixes past 31 h (Zoom ends a meeting after
30 h); the submitter plans parts and the transcriber its work from these numbers, so a forged event must not
announce days of audio (tens of thousands of ffmpeg passes) or a billion channels (a filter string of gigabytes)."""
MAX_PARTICIPANT_TRACKS = 1000
"""Most participant audio files one ``RecordingCompleted`` carries: one a participant, a meeting holds at most 1,000.
With :data:`MAX_FALLBACK_FILES` it keeps an event within Kafka's 1 MB message (a forged list of 20,000 files made a
4.7 MB event no publish could take: answered 503, retried by Zoom for ever)."""
MAX_FALLBACK_FILES = 200
"""Most other recording files one ``RecordingCompleted`` carries: Zoom makes at most 150 files of a live session's
cloud recording (https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0062627)."""
MAX_TRANSCRIPT_FILES = 100
"""Most Zoom transcript files (TRANSCRIPT, CC) one ``AudioMixed`` names."""
JOB_ID_MAX = 256
"""Longest provider job or conversation id an event carries (the providers' are UUIDs or a few dozen digits)."""
INT64_MAX = 2**63 - 1
"""Largest count an event carries: what MongoDB stores (BSON int64). A larger one from a forged event failed
every write of it (pymongo's ``OverflowError``), a bug's retries, then a dead letter."""
# Every event model (and part of one) says ``allow_inf_nan=False``: Kafka messages are outside input, and
# Python's JSON reader takes ``NaN`` and ``Infinity``, which pass ``ge=0`` (infinity) and which the MongoDB-wire
# server refuses or cannot read back. (Written out in each class: mypy's pydantic plugin sees ``frozen`` only so.)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(tz=UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive one is taken as UTC (what every time of an event is).

    Raises ``ValueError`` (a validation error in a model) for an aware time UTC cannot hold: year 1 east
    of UTC, or 9999 west of it.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()!r} is out of range in UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A time of an event: always aware UTC, so two of them (and :func:`utcnow`) can be compared and subtracted."""


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


class AudioMixed(Event):
    """The participant tracks were merged, aligned, into one multichannel object in S3."""

    topic: ClassVar[str] = "audio.mixed.v1"

    bucket: str = Field(max_length=63, description="S3 bucket of the mixed file (an S3 name: at most 63 characters).")
    object_key: str = Field(
        min_length=1, max_length=1024, description="S3 key of the mixed file (mixed/{tenant}/{meeting_key}.{ext})."
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


MAX_DIGEST_MEETINGS = 1000
"""Most meetings a reconciliation event names (its counts are always complete)."""


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
