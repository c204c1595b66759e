"""The smaller documents: receipts, download tokens, insights, transcriptions, attempt counts, limiter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from zoomsymbl_common.event_fields import MAX_MIX_CHANNELS, MAX_MIX_SECONDS
from zoomsymbl_common.events import EventSource, Provider
from zoomsymbl_common.records.base import Key, MeetingUuid, Reason, Record, Tenant
from zoomsymbl_common.records.progress import Progress

ReceiptState = Literal["claimed", "published"]
TranscriptionStatus = Literal["scheduled", "in_progress", "completed", "failed"]


class Receipt(Record):
    """Ingest's claim (``_id`` = key) or publication mark (``_id`` = key + ``.published``) of one recording."""

    id: Key = Field(alias="_id")
    key: Key
    receipt: Key
    tenant: Tenant
    meeting_uuid: MeetingUuid
    event_id: Key
    source: EventSource
    state: ReceiptState
    received_at: datetime
    # Its event had audio for the mixer (not Zoom's transcript alone); receipts of earlier releases had no field.
    audio: bool = True


class MeetingSecret(Record):
    """A meeting's webhook download token (a secret) until its TTL removes it."""

    # Neither its repr nor a validation error (chained under MalformedRecord into a traceback) shows the
    # token: it stays a plain str because ingest stores it and the mixer reads it as such.
    model_config = ConfigDict(hide_input_in_errors=True)

    tenant: Tenant
    meeting_uuid: MeetingUuid
    download_token: Annotated[str, Field(min_length=1, max_length=8192, repr=False)]
    expires_at: datetime | None = None
    updated_at: datetime | None = None


class StoredInsights(Record):
    """The insights of one provider conversation (``insights``); ``insights`` holds the notifier's dump."""

    provider: Provider
    conversation_id: Key
    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(0, ge=0)
    job_id: Key
    part_index: int = Field(0, ge=0)
    part_offset_seconds: float = Field(0.0, ge=0, le=MAX_MIX_SECONDS)  # as the events: no infinity, no 1e300
    insights: dict[str, Any]
    stored_at: datetime


class Utterance(Record):
    """One utterance the transcriber (or Zoom's transcript) has (times in seconds, rounded to milliseconds)."""

    channel: int = Field(ge=1)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: Annotated[str, Field(max_length=100_000)]
    speaker: Annotated[str, Field(max_length=256)] | None = None  # named by the source (Zoom's transcript)


class Transcription(Record):
    """A work order of the self-hosted transcriber and, once done, its result."""

    id: Key = Field(alias="_id")
    status: TranscriptionStatus
    bucket: Key
    object_key: Key
    # Bounded as the mix is: a stored count or length decides the worker's queries, memory and channel deadline.
    channels: int = Field(1, ge=1, le=MAX_MIX_CHANNELS)
    language: Annotated[str, Field(max_length=32)] | None = None
    duration_seconds: float | None = Field(None, ge=0, le=MAX_MIX_SECONDS, allow_inf_nan=False)
    name: Annotated[str, Field(max_length=1000)] = ""
    created_at: datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    owner: Key | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    error: Reason | None = None


class ConsumerAttempt(Record):
    """How often one consumer tried one message (``_id`` = digest of service, topic and event id)."""

    id: Key = Field(alias="_id")
    count: int = 1
    interruptions: int = 0  # attempts the service's stop cut short (a rollout, a drain), not in ``count``
    # Not read back by anyone; an event id from an unparsable message may be of any length.
    service: str = ""
    topic: str = ""
    event_id: str = ""
    last_error: Reason | None = None
    updated_at: datetime | None = None


class LimiterSlot(Record):
    """A job in flight: slot ``slot`` of ``account`` held by ``ref`` (times: Unix seconds)."""

    id: Key = Field(alias="_id")
    key: Key
    account: Key
    slot: int = Field(ge=0)
    ref: Key
    acquired_at: float
    expires_at: float


class ZoomQuotaSlot(Record):
    """A spent Zoom API request slot (``_id`` = ``{account}|{category}|{window}|{n}``, or ``|day|`` for the
    daily Heavy budget; ``{account}|phone|{category}|…`` and ``|phoneday|`` for the Phone API's own limits);
    the unique ``_id`` makes each slot spendable once across replicas."""

    id: Key = Field(alias="_id")
    account: Key
    category: str
    window: int
    slot: int = Field(ge=0)
    at: float


class LimiterTick(Record):
    """A spent token-bucket tick (``_id`` = ``{account}|{rate}|{tick}``)."""

    id: Key = Field(alias="_id")
    account: Key
    rate: float = Field(gt=0)
    tick: int
    at: float
