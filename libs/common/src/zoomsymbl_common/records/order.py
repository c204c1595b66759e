"""Orders of meeting stages and job statuses, the forward-only update filters, the failure sub-document.

A stage or status only ever moves forward. Updates are conditional single-document updates whose
filter lists the values that may be replaced, so a late or duplicate message matches nothing and
changes nothing, even when two replicas race.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from zoomsymbl_common.events import JobStatus, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.records.base import REASON_LIMIT, Document, Reason, Record

Stage = Literal["received", "mixed", "submitted", "processing", "completed", "notified", "failed"]
STAGE_ORDER: tuple[Stage, ...] = ("received", "mixed", "submitted", "processing", "completed", "notified")
"""The stages a meeting goes through, in order; ``failed`` may replace any stage before ``completed``."""

StoredJobStatus = Literal["submitting", "retrying", "rejected", "scheduled", "in_progress", "completed", "failed"]
"""A job document's ``status``: the submitter's claim states, then the provider's statuses."""
JOB_STATUS_RANK: dict[str, int] = {"submitting": 0, "scheduled": 1, "in_progress": 2, "completed": 3, "failed": 3}
"""The provider's news moves a job up this order; ``retrying`` and ``rejected`` are the submitter's alone."""
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})

ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
StageName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def status_rank(status: str | None) -> int:
    """0 for the submitter's claim (and anything unknown), then scheduled < in_progress < terminal."""
    return JOB_STATUS_RANK.get(status or "", 0)


def replaceable_statuses(new: JobStatus) -> list[str]:
    """Stored statuses that ``new`` may overwrite (strictly lower rank)."""
    rank = status_rank(new)
    return [name for name, r in JOB_STATUS_RANK.items() if r < rank]


def is_terminal(status: str | None) -> bool:
    """True for completed and failed."""
    return status in TERMINAL


def stages_before(stage: Stage) -> list[str | None]:
    """Stages a meeting may be moved from to reach ``stage``; ``failed`` and later stages are final.

    ``None``: a meeting document without a stage yet (a forced replay's generation bump creates one).
    """
    if stage == "failed":
        return [None, *STAGE_ORDER[: STAGE_ORDER.index("completed")]]
    return [None, *STAGE_ORDER[: STAGE_ORDER.index(stage)]]


def stage_for_status(status: JobStatus) -> Stage | None:
    """The meeting stage a job status implies (None: it implies none by itself)."""
    # "scheduled" means queued at the provider, which the meeting's "submitted" stage already says.
    return "processing" if status in ("in_progress", "completed") else None


def meeting_key(tenant: str, meeting_uuid: str) -> Document:
    """The filter of one meeting's document (the unique index ``meeting_unique``)."""
    return {"tenant": tenant, "meeting_uuid": meeting_uuid}


def generation_match(generation: int) -> object:
    """The filter value of a meeting's ``generation`` field for ``generation``.

    Generation 0 also matches a meeting without the field: the mixer created meetings without one until
    2026-12-03 (``meeting_insert``), and :class:`~zoomsymbl_common.records.Meeting` reads its absence as 0.
    """
    return {"$in": [0, None]} if generation == 0 else generation


def forward_filter(
    tenant: str, meeting_uuid: str, stage: Stage, *, generation: int | None, refail_by: str | None = None
) -> Document:
    """The filter of an update moving a meeting to ``stage``: it matches only an earlier stage.

    ``generation``: only that generation's document (None: any). ``refail_by``: a meeting failed by
    that service matches too (it may fail again, or retry what it failed).
    """
    query = meeting_key(tenant, meeting_uuid)
    if generation is not None:
        query["generation"] = generation_match(generation)
    earlier: Document = {"stage": {"$in": stages_before(stage)}}
    if refail_by is None:
        return {**query, **earlier}
    return {**query, "$or": [earlier, {"stage": "failed", "failure.service": refail_by}]}


def job_forward_filter(key: str, status: JobStatus) -> Document:
    """The filter of an update moving job ``key`` to ``status``: it matches only a lower status."""
    return {"_id": key, "status": {"$in": replaceable_statuses(status)}}


FAILURE_FIELDS = ("stage", "failure", "failed_stage", "failure_reason")
"""The meeting fields :meth:`Failure.fields` sets: what a restart of the meeting's run clears."""


class Failure(Record):
    """Why a meeting failed: the meeting document's ``failure``. Build it with :meth:`build`."""

    service: ServiceName
    stage: StageName
    reason: Reason
    at: datetime

    @classmethod
    def build(cls, service: str, stage: str, reason: str, at: datetime | None = None) -> Failure:
        """The failure of ``service`` at ``stage``; the reason scrubbed of secrets and bounded."""
        return cls(
            service=service[:64], stage=stage[:64] or "unknown", reason=scrub(reason, REASON_LIMIT), at=at or utcnow()
        )

    def fields(self) -> Document:
        """The ``$set`` fields of a failed meeting (:data:`FAILURE_FIELDS`): the sub-document plus the flat pair."""
        values = ("failed", self.to_document(), f"{self.service}:{self.stage}", self.reason)
        return dict(zip(FAILURE_FIELDS, values, strict=True))


__all__ = [
    "FAILURE_FIELDS",
    "JOB_STATUS_RANK",
    "STAGE_ORDER",
    "TERMINAL",
    "Failure",
    "Stage",
    "StoredJobStatus",
    "forward_filter",
    "generation_match",
    "is_terminal",
    "job_forward_filter",
    "meeting_key",
    "replaceable_statuses",
    "stage_for_status",
    "stages_before",
    "status_rank",
]
