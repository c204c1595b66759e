"""The ``jobs`` document (one provider submission), its attempt markers and early callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from zoomsymbl_common.event_fields import MAX_MIX_SECONDS
from zoomsymbl_common.events import Provider
from zoomsymbl_common.records.base import Document, Key, MeetingUuid, Reason, Record, Tenant
from zoomsymbl_common.records.order import StoredJobStatus

Short = Annotated[str, Field(max_length=256)]


class JobEvent(Record):
    """One entry of a job's ``history``."""

    status: Short
    at: datetime
    owner: Short | None = None
    after_crash: bool | None = None
    job_id: Short | None = None
    via: Short | None = None
    reason: Reason | None = None

    def to_document(self) -> Document:
        """The entry as pushed onto ``history``: only the fields it has."""
        return self.model_dump(exclude_none=True)


class Job(Record):
    """One submission of one part of a meeting: claimed by the submitter, advanced by the notifier.

    ``_id`` = ``idempotency_key`` = ``job_ref``: the claim is the unique insert of this document.
    """

    id: Key = Field(alias="_id")
    idempotency_key: Key
    job_ref: Key
    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(0, ge=0)
    input_hash: Key = ""
    provider: Provider
    limiter_account_key: Key | None = Field(None, description="The limiter account whose slot the job holds.")
    source_event_id: Key = ""
    part_index: int = Field(0, ge=0)
    part_count: int = Field(1, ge=1)
    part_offset_seconds: float = Field(0.0, ge=0, le=MAX_MIX_SECONDS)  # as the events: no infinity, no 1e300
    part_duration_seconds: float | None = Field(None, ge=0, le=MAX_MIX_SECONDS)
    bucket: Key | None = None
    object_key: Key | None = None
    downmixed_from_channels: int | None = Field(None, ge=1)
    fallback_reason: Reason | None = Field(
        None, description="Set on a zoom job that replaced the tenant's failed provider: why it failed (scrubbed)."
    )
    status: StoredJobStatus
    status_reason: Reason | None = None
    job_id: Short | None = None
    conversation_id: Short | None = None
    claim_owner: Short | None = None
    claimed_until: datetime | None = None
    submit_attempts: int = Field(1, ge=1)
    resubmitted_after_crash: bool = False
    last_error: Reason | None = None
    trace_context: dict[str, Annotated[str, Field(max_length=1024)]] | None = None
    submitted_at: datetime | None = None
    insights_stored_at: datetime | None = None
    processed_at: datetime | None = None
    polled_at: datetime | None = None
    sweeps: int = Field(0, ge=0)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[JobEvent] = Field(default_factory=list)


class JobClaim(Record):
    """The marker of submit attempt ``n`` of a job (``_id`` = ``{job_ref}#{n}``): inserted by its winner."""

    id: Key = Field(alias="_id")
    owner: Short
    at: datetime

    @staticmethod
    def id_of(job_ref: str, attempt: int) -> str:
        """The ``_id`` of attempt ``attempt`` of ``job_ref``."""
        return f"{job_ref}#{attempt}"


class EarlyCallback(Record):
    """A provider callback that came before the submitter stored the job id (``_id`` = the job's ``_id``)."""

    id: Key = Field(alias="_id")
    job_id: Short
    status: Annotated[str, Field(max_length=64)]
    at: datetime


__all__ = ["EarlyCallback", "Job", "JobClaim", "JobEvent"]
