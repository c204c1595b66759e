"""Orders of job statuses and meeting stages: what may follow what. Pure.

A status or stage only ever moves forward. Updates are written as conditional single-document
updates whose filter lists the values that may be replaced, so a late or duplicate message matches
nothing and changes nothing, even when two replicas race.
"""

from __future__ import annotations

from typing import Literal

from zoomsymbl_common.events import JobStatus

Stage = Literal["received", "mixed", "submitted", "processing", "completed", "notified", "failed"]

JOB_STATUS_RANK: dict[str, int] = {"scheduled": 1, "in_progress": 2, "completed": 3, "failed": 3}
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})
# Statuses the submitter may write before any provider news; they rank below "scheduled".
_PRE_PROVIDER = ("submitted", "submitting", "accepted", "pending", "queued", None)

STAGE_ORDER: tuple[Stage, ...] = ("received", "mixed", "submitted", "processing", "completed", "notified")


def status_rank(status: str | None) -> int:
    """0 for anything before the provider's first news, then scheduled < in_progress < terminal."""
    return JOB_STATUS_RANK.get(status or "", 0)


def replaceable_statuses(new: JobStatus) -> list[str | None]:
    """Stored statuses that ``new`` may overwrite (strictly lower rank)."""
    rank = status_rank(new)
    lower: list[str | None] = list(_PRE_PROVIDER)
    lower += [name for name, r in JOB_STATUS_RANK.items() if 0 < r < rank]
    return lower if rank > 0 else []


def is_terminal(status: str | None) -> bool:
    """True for completed and failed."""
    return status in TERMINAL


def stages_before(stage: Stage) -> list[str | None]:
    """Stages a meeting may be moved from to reach ``stage``; ``failed`` and later stages are final."""
    if stage == "failed":
        return [None, *STAGE_ORDER[: STAGE_ORDER.index("completed")]]
    return [None, *STAGE_ORDER[: STAGE_ORDER.index(stage)]]


def stage_for_status(status: JobStatus) -> Stage | None:
    """The meeting stage a job status implies (None: it implies none by itself)."""
    # "scheduled" means queued at the provider, which the meeting's "submitted" stage already says.
    return "processing" if status in ("in_progress", "completed") else None
