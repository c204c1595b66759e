"""The ``meetings`` collection as the submitter sees it: the stage moved forward, the split plan kept.

Stages only move forward: the update that sets ``submitted`` matches a meeting still at an earlier
stage of the same generation, so a redelivery, or a callback that already moved the meeting to
``processing``, changes nothing. The split plan is stored so that a redelivered event reuses the
parts already in S3 instead of splitting again.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.events import AudioMixed, Provider, utcnow
from zoomsymbl_common.mongo import MEETINGS, Document, Mongo, guarded

from zoomsymbl_submitter.parts import Part

SERVICE = "submitter"
_BEFORE_SUBMITTED = [None, "received", "mixed"]
_BEFORE_COMPLETED = [None, "received", "mixed", "submitted", "processing"]


def _generation(generation: int) -> Any:
    # Meetings written before generations existed have no field: they are generation 0.
    return {"$in": [0, None]} if generation == 0 else generation


def _query(event: AudioMixed, stages: list[str | None]) -> Document:
    return {
        "tenant": event.tenant,
        "meeting_uuid": event.meeting_uuid,
        "stage": {"$in": stages},
        "generation": _generation(event.generation),
    }


class MeetingStore:
    """Stage changes and the split plan of ``meetings``."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def mark_submitted(self, event: AudioMixed, provider: Provider, part_count: int) -> bool:
        """Advance the meeting to ``submitted``; True if it moved."""
        now = utcnow()
        fields = {
            "stage": "submitted",
            "submitted_at": now,
            "stages.submitted": now,
            "updated_at": now,
            "provider": provider,
            "part_count": part_count,
        }
        result = await guarded(self._col.update_one(_query(event, _BEFORE_SUBMITTED), {"$set": fields}))
        return result.modified_count == 1

    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        """Mark the meeting failed by the submitter at ``stage`` (unless it completed); True if it moved.

        A meeting the submitter itself failed before is marked again (True): a redelivery after a crash
        between marking and announcing the failure must announce it.
        """
        now = utcnow()
        failure = {"service": SERVICE, "stage": stage, "reason": reason[:1000], "at": now}
        fields = {
            "stage": "failed",
            "failure": failure,
            "failed_stage": f"{SERVICE}:{stage}",
            "failure_reason": reason[:1000],
            "stages.failed": now,
            "updated_at": now,
        }
        query = {
            "tenant": event.tenant,
            "meeting_uuid": event.meeting_uuid,
            "generation": _generation(event.generation),
            "$or": [{"stage": {"$in": _BEFORE_COMPLETED}}, {"stage": "failed", "failure.service": SERVICE}],
        }
        result = await guarded(self._col.update_one(query, {"$set": fields}))
        return result.modified_count == 1

    async def split_plan(self, event: AudioMixed, count: int) -> list[Part] | None:
        """The parts stored for this input and generation, when they were planned as ``count``."""
        doc = await guarded(
            self._col.find_one({"tenant": event.tenant, "meeting_uuid": event.meeting_uuid}, {"split": 1})
        )
        plan = doc.get("split") if doc else None
        if not isinstance(plan, dict):
            return None
        planned = plan.get("planned", plan.get("count"))  # plans stored before "planned" existed
        if (plan.get("input_hash"), plan.get("generation"), planned) != (
            event.input_hash,
            event.generation,
            count,
        ):
            return None
        return [Part(**raw) for raw in plan.get("parts", [])]

    async def save_split_plan(self, event: AudioMixed, parts: list[Part], planned: int | None = None) -> None:
        """Remember ``parts`` for this input and generation (no-op when the meeting is unknown).

        ``planned`` is the count computed before cutting (more parts when one came out too large):
        a redelivery computes the same one and finds these parts under it.
        """
        plan = {
            "input_hash": event.input_hash,
            "generation": event.generation,
            "planned": len(parts) if planned is None else planned,
            "count": len(parts),
            "parts": [part.as_doc() for part in parts],
        }
        await guarded(
            self._col.update_one(
                {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid},
                {"$set": {"split": plan, "updated_at": utcnow()}},
            )
        )
