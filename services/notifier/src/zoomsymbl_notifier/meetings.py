"""The ``meetings`` collection as the notifier sees it: stages moved forward, facts read for the e-mail."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common import part_plans
from zoomsymbl_common.events import PhoneCall, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.part_plans import JOINED_PLAN, Plan, joined_fields
from zoomsymbl_common.records import (
    MEETINGS,
    Failure,
    MalformedRecord,
    Meeting,
    MissingAudio,
    Stage,
    forward_filter,
    generation_match,
    meeting_key,
    stage_fields,
)

SERVICE = "notifier"
log = logging.getLogger("zoomsymbl.notifier.meetings")


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
    start_time: datetime | None = None
    duration_seconds: float | None = None
    speakers: tuple[Speaker, ...] = field(default_factory=tuple)
    call: PhoneCall | None = None  # a Zoom Phone call's metadata (the mixer's), None for a meeting
    # The submission the meeting records (``submitted_generation``, ``provider``, ``part_count``: the submitter's
    # ``mark_submitted``), read with the rest: a one-part job of that plan is reported without another read.
    submission: tuple[int | None, str | None, int | None] = (None, None, None)
    joined: object = None  # the plan the report joined (``joined_plan``): the generation's once it completed
    missing: MissingAudio | None = None  # participant audio the mix went without (Zoom no longer had it)

    def recorded_plan(self, generation: int) -> Plan | None:
        """The plan the meeting recorded for ``generation`` when these facts were read (None: none, or another
        generation's): :func:`zoomsymbl_common.part_plans.recorded_plan`, the rule the meeting page reads it by."""
        return part_plans.recorded_plan(*self.submission, generation, joined=self.joined)


@dataclass(frozen=True)
class Position:
    """Where a meeting is: its current generation and that generation's stage."""

    generation: int
    stage: str
    joined: object = None  # the meeting's ``joined_plan`` as stored

    def joined_plan(self, generation: int) -> Plan | None:
        """The plan the report of ``generation`` joined (None: that generation did not complete, as far as the
        notifier knows): the meeting completed in ``generation`` although the stage may not say so (a forced replay
        before 2026-12-06 left it as the earlier generation left it)."""
        return part_plans.joined_plan(self.joined, generation)


def facts_from_doc(doc: Document | None) -> MeetingFacts:
    """Facts from a meetings document written by the mixer; missing parts stay empty.

    The facts only decorate the e-mail: a document that does not validate gives none (logged), not a failure.
    """
    if not doc:
        return MeetingFacts()
    try:
        meeting = Meeting.from_document(doc)
    except MalformedRecord as exc:
        log.warning("meeting document unreadable, e-mail without its facts", extra={"error": str(exc)[:300]})
        return MeetingFacts()
    talk = meeting.talk_seconds()
    speakers = tuple(
        Speaker(
            channel=entry.channel,
            name=entry.participant_name,
            talk_seconds=talk.get(entry.channel),
            email=entry.participant_email or None,
        )
        for entry in sorted(meeting.channel_map, key=lambda entry: entry.channel)
    )
    return MeetingFacts(
        topic=meeting.topic,
        host_email=meeting.host_email or "",
        start_time=meeting.start_time,
        duration_seconds=meeting.duration_seconds,
        speakers=speakers,
        call=meeting.call if meeting.platform == "zoom_phone" else None,
        submission=(meeting.submitted_generation, meeting.provider, meeting.part_count),
        joined=meeting.joined_plan,
        missing=meeting.missing(),
    )


class Meetings:
    """Stage changes (forward only) and reads of ``meetings``."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def facts(self, tenant: str, meeting_uuid: str) -> MeetingFacts:
        """The meeting's topic, host, speakers and talk time."""
        return facts_from_doc(await guarded(self._col.find_one(meeting_key(tenant, meeting_uuid))))

    async def is_failed(self, tenant: str, meeting_uuid: str, generation: int) -> bool:
        """The meeting is failed in ``generation`` (not re-run, re-mixed or finished since)."""
        query = {**meeting_key(tenant, meeting_uuid), "stage": "failed", "generation": generation_match(generation)}
        return await guarded(self._col.find_one(query, {"_id": 1})) is not None

    async def position(self, tenant: str, meeting_uuid: str) -> Position | None:
        """The meeting's generation (0 when the field is absent, as ``generation_match`` reads it), stage and the
        plan its report joined."""
        projection = {"generation": 1, "stage": 1, JOINED_PLAN: 1}
        doc = await guarded(self._col.find_one(meeting_key(tenant, meeting_uuid), projection))
        if doc is None:
            return None
        return Position(int(doc.get("generation") or 0), str(doc.get("stage") or ""), doc.get(JOINED_PLAN))

    async def advance(self, tenant: str, meeting_uuid: str, generation: int, stage: Stage) -> bool:
        """Move the meeting to ``stage`` if it is at an earlier one in this generation; True if it moved."""
        return await self._move(tenant, meeting_uuid, generation, stage, stage_fields(stage, utcnow()))

    async def complete(self, tenant: str, meeting_uuid: str, generation: int, plan: Plan) -> bool:
        """Move the meeting to ``completed`` in ``generation`` keeping ``plan`` as the one its report joined; True if it
        moved, or, the stage being past (a forced replay before 2026-12-06 left it as the earlier generation left it),
        if the plan of ``generation`` was not kept before and the meeting is not failed. One update when the stage
        moves (most meetings); a second only when it did not."""
        joined = joined_fields(generation, plan)
        moved = {**stage_fields("completed", utcnow()), **joined}
        if await self._move(tenant, meeting_uuid, generation, "completed", moved):
            return True
        query = {**meeting_key(tenant, meeting_uuid), "generation": generation_match(generation),
                 "stage": {"$ne": "failed"}, f"{JOINED_PLAN}.generation": {"$ne": generation}}  # fmt: skip
        return (await guarded(self._col.update_one(query, {"$set": joined}))).modified_count == 1

    async def advance_and_read(
        self, tenant: str, meeting_uuid: str, generation: int, stage: Stage
    ) -> MeetingFacts | None:
        """:meth:`advance`, returning the meeting's facts when it moved (None when it did not).

        One round trip for what the e-mail needs later anyway: the document as the move left it.
        """
        query = forward_filter(tenant, meeting_uuid, stage, generation=generation)
        update = {"$set": stage_fields(stage, utcnow())}
        doc = await guarded(self._col.find_one_and_update(query, update, return_document=ReturnDocument.AFTER))
        return facts_from_doc(doc) if doc is not None else None

    async def fail(self, tenant: str, meeting_uuid: str, generation: int, stage: str, reason: str) -> bool:
        """Mark the meeting failed at ``stage`` with ``reason`` (unless it finished or failed already)."""
        failure = Failure.build(SERVICE, stage, reason)
        fields = {**stage_fields("failed", failure.at), **failure.fields()}
        return await self._move(tenant, meeting_uuid, generation, "failed", fields)

    async def _move(self, tenant: str, meeting_uuid: str, generation: int, stage: Stage, fields: Document) -> bool:
        query = forward_filter(tenant, meeting_uuid, stage, generation=generation)
        result = await guarded(self._col.update_one(query, {"$set": fields}))
        return result.modified_count == 1
