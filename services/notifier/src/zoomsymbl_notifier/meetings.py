"""The ``meetings`` collection as the notifier sees it: stages moved forward, facts read for the e-mail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import MEETINGS, Document, Mongo, guarded

from zoomsymbl_notifier.statuses import Stage, stages_before

SERVICE = "notifier"


@dataclass(frozen=True)
class Speaker:
    """One channel of the mixed file and how long it talked (from the mixer)."""

    channel: int
    name: str
    talk_seconds: float | None
    email: str | None = None


@dataclass(frozen=True)
class MeetingFacts:
    """What the e-mail needs to know about a meeting besides the insights."""

    topic: str = ""
    host_email: str = ""
    start_time: Any = None
    duration_seconds: float | None = None
    speakers: tuple[Speaker, ...] = field(default_factory=tuple)


def facts_from_doc(doc: Document | None) -> MeetingFacts:
    """Facts from a meetings document written by ingest and mixer; missing parts stay empty."""
    if not doc:
        return MeetingFacts()
    talk = {int(s["channel"]): float(s.get("talk_seconds") or 0.0) for s in _dicts(doc.get("speaker_stats"))}
    speakers = tuple(
        Speaker(
            channel=int(c["channel"]),
            name=str(c.get("participant_name") or ""),
            talk_seconds=talk.get(int(c["channel"])),
            email=str(c["participant_email"]) if c.get("participant_email") else None,
        )
        for c in sorted(_dicts(doc.get("channel_map")), key=lambda c: int(c["channel"]))
    )
    duration = doc.get("duration_seconds")
    return MeetingFacts(
        topic=str(doc.get("topic_text") or doc.get("topic") or ""),
        host_email=str(doc.get("host_email") or ""),
        start_time=doc.get("start_time"),
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
        speakers=speakers,
    )


def _generation(generation: int) -> Any:
    # Meetings written before generations existed have no field: they are generation 0.
    return {"$in": [0, None]} if generation == 0 else generation


def _dicts(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, dict) and isinstance(item.get("channel"), int)]


class Meetings:
    """Stage changes (forward only) and reads of ``meetings``."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def facts(self, tenant: str, meeting_uuid: str) -> MeetingFacts:
        """The meeting's topic, host, speakers and talk time."""
        return facts_from_doc(await guarded(self._col.find_one({"tenant": tenant, "meeting_uuid": meeting_uuid})))

    async def is_failed(self, tenant: str, meeting_uuid: str, generation: int) -> bool:
        """The meeting is failed in ``generation`` (not re-run, re-mixed or finished since)."""
        query: Document = {
            "tenant": tenant,
            "meeting_uuid": meeting_uuid,
            "stage": "failed",
            "generation": _generation(generation),
        }
        return await guarded(self._col.find_one(query, {"_id": 1})) is not None

    async def advance(self, tenant: str, meeting_uuid: str, generation: int, stage: Stage, **extra: Any) -> bool:
        """Move the meeting to ``stage`` if it is at an earlier one in this generation; True if it moved."""
        now = utcnow()
        query: Document = {
            "tenant": tenant,
            "meeting_uuid": meeting_uuid,
            "stage": {"$in": stages_before(stage)},
            "generation": _generation(generation),
        }
        update = {"$set": {"stage": stage, "updated_at": now, f"stages.{stage}": now, **extra}}
        result = await guarded(self._col.update_one(query, update))
        return result.modified_count == 1

    async def fail(self, tenant: str, meeting_uuid: str, generation: int, stage: str, reason: str) -> bool:
        """Mark the meeting failed at ``stage`` with ``reason`` (unless it finished or failed already)."""
        # The same fields the other services write: ``failure`` plus the flat pair for queries.
        reason = scrub(reason, 1000)
        failure = {"service": SERVICE, "stage": stage, "reason": reason, "at": utcnow()}
        return await self.advance(
            tenant,
            meeting_uuid,
            generation,
            "failed",
            failure=failure,
            failed_stage=f"{SERVICE}:{stage}",
            failure_reason=reason[:1000],
        )
