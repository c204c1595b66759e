"""Orders of job statuses and meeting stages: defined in :mod:`zoomsymbl_common.records`, re-exported here."""

from __future__ import annotations

from zoomsymbl_common.records import (
    JOB_STATUS_RANK,
    STAGE_ORDER,
    TERMINAL,
    Stage,
    is_terminal,
    replaceable_statuses,
    stage_for_status,
    stages_before,
    status_rank,
)

__all__ = [
    "JOB_STATUS_RANK",
    "STAGE_ORDER",
    "TERMINAL",
    "Stage",
    "is_terminal",
    "replaceable_statuses",
    "stage_for_status",
    "stages_before",
    "status_rank",
]
