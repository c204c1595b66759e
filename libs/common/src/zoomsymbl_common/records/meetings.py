"""The ``meetings`` document: written by the mixer, the submitter, the notifier, the transcriber and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from zoomsymbl_common.events import PhoneCall, Platform, Provider, TranscriptObject
from zoomsymbl_common.records.base import Document, Key, MeetingUuid, Name, Record, Tenant
from zoomsymbl_common.records.missing_audio import MissingAudio, from_mix
from zoomsymbl_common.records.order import Failure, Stage
from zoomsymbl_common.records.progress import PartProgress, Progress, newest_first, part_entries


def _transcript_entries(value: object) -> object:
    # As for channels: an unreadable entry is dropped, not the meeting.
    if not isinstance(value, list | tuple):
        return value
    return [item for item in value if isinstance(item, TranscriptObject) or _valid_transcript(item)]


def _valid_transcript(item: object) -> bool:
    try:
        TranscriptObject.model_validate(item)
    except ValidationError:
        return False
    return True


def _missing_entry(value: object) -> object:
    # The note only adds a line to the report and the page: one that does not validate is read as not written (the
    # mix's own missing_files then still give a count), never as a meeting that cannot be read.
    if value is None or isinstance(value, MissingAudio):
        return value
    try:
        return MissingAudio.model_validate(value)
    except ValidationError:
        return None


def _channel_entries(value: object) -> object:
    # A malformed entry of a list other services only annotate must not hide the whole meeting:
    # entries without an integer channel are dropped, the rest is validated.
    if not isinstance(value, list | tuple):
        return value
    return [
        item
        for item in value
        if isinstance(item, ChannelEntry | SpeakerStat)
        or (isinstance(item, dict) and isinstance(item.get("channel"), int))
    ]


class ChannelEntry(Record):
    """One channel of the mixed file as the mixer stored it (``channel_map``)."""

    channel: int = Field(ge=1, le=1024)
    participant_name: Name = ""
    participant_email: Annotated[str, Field(max_length=320)] | None = None


class SpeakerStat(Record):
    """Talk time of one channel (``speaker_stats``)."""

    channel: int = Field(ge=1, le=1024)
    talk_seconds: float = Field(0.0, ge=0)


class StoredObject(Record):
    """Where an object of the meeting lives in S3 (``objects.mixed``)."""

    bucket: Key
    key: Key
    size: int = Field(ge=0)


class RawTrack(Record):
    """One participant file as the mixer stored it in S3 (``objects.raw``)."""

    file_id: Key
    key: Key
    size: int = Field(0, ge=0)


class MeetingObjects(Record):
    """The meeting's objects in S3 (``objects``): the mixed file and the raw participant tracks."""

    mixed: StoredObject | None = None
    raw: list[RawTrack] = Field(default_factory=list, max_length=10_000)


class SplitPart(Record):
    """One part of a split recording, already cut and stored in S3 (the submitter's ``Part``)."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    offset_seconds: float = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    bucket: Key
    object_key: Key
    size_bytes: int = Field(ge=0)


class SplitPlan(Record):
    """The submitter's split plan: the parts already in S3 for this input and generation (``split``)."""

    input_hash: Key
    generation: int = Field(ge=0)
    planned: int = Field(ge=1, description="The count computed before cutting (``count`` in plans without it).")
    count: int = Field(ge=1)
    parts: list[SplitPart] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _planned_was_the_count(cls, data: object) -> object:
        # Plans stored before 2026-12-03 (34f9671) have no ``planned``: they were made and looked up by
        # ``count``, so a redelivery of their meeting's AudioMixed reuses the parts already cut.
        if isinstance(data, dict) and "planned" not in data and "count" in data:
            return {**data, "planned": data["count"]}
        return data

    def matches(self, input_hash: str, generation: int, planned: int) -> bool:
        """This plan was made for exactly this input, generation and planned count."""
        return (self.input_hash, self.generation, self.planned) == (input_hash, generation, planned)


class Meeting(Record):
    """One meeting of one tenant: the stage it reached and what each service recorded on the way."""

    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(0, ge=0, description="Raised by a forced replay; every update names its generation.")
    stage: Stage | None = None
    stages: dict[Stage, datetime] = Field(default_factory=dict, description="When each stage was reached.")
    failure: Failure | None = None
    topic: Name = ""
    host_email: Annotated[str, Field(max_length=320)] | None = None
    platform: Platform = Field("zoom_meeting", description="A Zoom Meeting or a Zoom Phone call (the mixer's).")
    call: PhoneCall | None = Field(None, description="The phone call's metadata (Zoom Phone only).")
    start_time: datetime | None = None
    duration_seconds: float | None = Field(None, ge=0)
    channel_map: Annotated[list[ChannelEntry], BeforeValidator(_channel_entries)] = Field(default_factory=list)
    speaker_stats: Annotated[list[SpeakerStat], BeforeValidator(_channel_entries)] = Field(default_factory=list)
    mix: dict[str, Any] | None = Field(None, description="The mixer's record of the last mix (its MixRecord).")
    missing_audio: Annotated[MissingAudio | None, BeforeValidator(_missing_entry)] = Field(
        None, description="Participant audio the mix went without (the mixer's; absent: none, or mixed before it)."
    )
    objects: MeetingObjects = Field(default_factory=MeetingObjects)
    transcripts: Annotated[list[TranscriptObject], BeforeValidator(_transcript_entries)] = Field(
        default_factory=list, description="Zoom's own transcript files stored by the mixer (TRANSCRIPT, CC)."
    )
    split: SplitPlan | None = None
    provider: Provider | None = None
    part_count: int | None = Field(None, ge=1)
    submitted_generation: int | None = Field(
        None, ge=0, description="The generation whose every part the submitter handed to the provider."
    )
    joined_plan: dict[str, Any] | None = Field(
        None, description="The plan the notifier's report of a generation joined (zoomsymbl_common.part_plans)."
    )
    trace_id: Annotated[str, Field(max_length=64)] | None = None
    transcription_progress: Progress | None = Field(
        None, description="An earlier release's progress of the whole meeting (whichever part wrote last)."
    )
    transcription_parts: Annotated[dict[str, PartProgress], BeforeValidator(part_entries)] = Field(
        default_factory=dict, description="The transcriber's progress of each part's job (records.progress)."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def talk_seconds(self) -> dict[int, float]:
        """Talk time per channel."""
        return {stat.channel: stat.talk_seconds for stat in self.speaker_stats}

    def part_progress(self) -> list[PartProgress]:
        """Each part's transcription progress, the newest generation first, then in part order."""
        return newest_first(self.transcription_parts)

    def missing(self) -> MissingAudio | None:
        """The participant audio the meeting's mix went without: ``missing_audio``, else (a mix recorded before the
        mixer wrote it) the count of the mix's ``missing_files``; None when nothing is missing."""
        if self.missing_audio is not None and not self.missing_audio.empty:
            return self.missing_audio
        return from_mix(self.mix)


MIXED_GENERATION = "mixed_generation"
"""The generation whose run the meeting's ``mix`` belongs to: set by the mixer with the mix, and by a forced replay of
the ``AudioMixed`` that names it (the mixer announces Zoom's late transcript only with that generation's mix)."""
ZOOM_TRANSCRIPT_WAIT = "zoom_transcript_wait"
"""A ``zoom``-source meeting's wait for Zoom's transcript, noted by the submitter (its ``transcript_wait`` pass fails
the meeting past ``zoom_transcript_wait_seconds``): the generation, since when, and the ``AudioMixed`` it waits with."""


def meeting_insert(*, host_email: str | None, topic: str, generation: int, created_at: datetime) -> Document:
    """The ``$setOnInsert`` of the first write of a meeting (the mixer's upsert)."""
    return {"created_at": created_at, "host_email": host_email, "topic": topic, "generation": generation}


def stage_fields(stage: Stage, at: datetime) -> Document:
    """The ``$set`` fields of a meeting reaching ``stage``."""
    return {"stage": stage, "updated_at": at, f"stages.{stage}": at}
