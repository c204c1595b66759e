"""The ``meetings`` collection as the submitter sees it: the stage moved forward, the split plan kept,
the generation read (an event of an earlier one is not submitted: ``zoomsymbl_submitter.submission``).

Stages only move forward: the update that sets ``submitted`` matches a meeting still at an earlier
stage of the same generation, so a redelivery, or a callback that already moved the meeting to
``processing``, changes nothing. The split plan is stored so that a redelivered event reuses the
parts already in S3 instead of splitting again, and the first one stored for a generation stays its plan, even
when two deliveries cut at once (:meth:`MeetingStore.save_split_plan`). What a leftover cleanup kept for unfinished
jobs is noted (``leftovers_held``) until the periodic pass deleted it (:mod:`zoomsymbl_submitter.held`); the note goes
with the meeting document when ``zoomsymbl forget`` erases it. So is a ``zoom``-source meeting's wait for Zoom's
transcript (``zoom_transcript_wait``: :mod:`zoomsymbl_submitter.transcript_wait`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.events import AudioMixed, Provider, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import (
    MEETINGS,
    ZOOM_TRANSCRIPT_WAIT,
    Failure,
    SplitPart,
    SplitPlan,
    forward_filter,
    generation_match,
    meeting_key,
    stage_fields,
)

from zoomsymbl_submitter.part_plan import MeetingGeneration, Part, first_part_pattern, is_plan_of

SERVICE = "submitter"
HELD = "leftovers_held"
"""The meeting's note of what a leftover cleanup kept for unfinished jobs (:mod:`zoomsymbl_submitter.held`)."""
MAX_HELD = 10_000
"""The most keys the note holds (as many as a plan has parts, ``SplitPlan.parts``)."""
TRANSCRIPT_WAIT = ZOOM_TRANSCRIPT_WAIT
"""A ``zoom``-source meeting's wait for Zoom's transcript (:mod:`zoomsymbl_submitter.transcript_wait`)."""


class MeetingStore:
    """Stage changes and the split plan of ``meetings``."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[MEETINGS]

    async def generation(self, event: AudioMixed) -> int | None:
        """The generation ``event``'s meeting is at now (None: no such meeting stored; no field: 0)."""
        doc = await guarded(self._col.find_one(meeting_key(event.tenant, event.meeting_uuid), {"generation": 1}))
        return _generation(doc)

    async def generation_and_submitter(self, event: AudioMixed) -> tuple[int | None, str | None]:
        """In one read: the generation ``event``'s meeting is at now (as :meth:`generation`), and the provider its
        generation was marked submitted with (:meth:`mark_submitted`; None: ``event``'s generation is not marked)."""
        fields = {"generation": 1, "submitted_generation": 1, "provider": 1}
        doc = await guarded(self._col.find_one(meeting_key(event.tenant, event.meeting_uuid), fields))
        marked = doc is not None and doc.get("submitted_generation") == event.generation
        provider = doc.get("provider") if doc is not None and marked else None
        return _generation(doc), provider if isinstance(provider, str) else None

    async def generation_and_page_audio(self, of: MeetingGeneration) -> tuple[int | None, set[str]]:
        """In one read: the generation ``of``'s meeting is at now (as :meth:`generation`), and the mixed file its page
        plays (``objects.mixed``), read by the web app, which holds no job, so the leftover cleanup spares it beside
        what :meth:`JobStore.readers` names. The key is taken as stored, without validating the rest of the record:
        a part of it that does not fit :class:`~zoomsymbl_common.records.Meeting` must not stop the cleanup."""
        doc = await guarded(
            self._col.find_one(meeting_key(of.tenant, of.meeting_uuid), {"generation": 1, "objects": 1})
        )
        objects = doc.get("objects") if doc else None
        mixed = objects.get("mixed") if isinstance(objects, dict) else None
        key = mixed.get("key") if isinstance(mixed, dict) else None
        return _generation(doc), {key} if isinstance(key, str) else set()

    async def record_held(self, of: MeetingGeneration, held: Sequence[str]) -> bool:
        """Note on ``of``'s meeting what its leftover cleanup kept for unfinished jobs (``leftovers_held``: judged again
        by :mod:`zoomsymbl_submitter.held` once they finished), replacing any note before: this judgement covered
        everything an earlier one held. Nothing held: the note goes. Only while the meeting is at ``of``'s generation
        (a newer one's cleanup judges then); True when the meeting took it."""
        query = {**meeting_key(of.tenant, of.meeting_uuid), "generation": generation_match(of.generation)}
        if not held:
            update: Document = {"$unset": {HELD: ""}}
            query[HELD] = {"$exists": True}
        else:
            note = {"generation": of.generation, "bucket": of.bucket, "keys": list(held), "token": uuid.uuid4().hex}
            update = {"$set": {HELD: {**note, "due": utcnow()}}}
        return (await guarded(self._col.update_one(query, update))).modified_count == 1

    async def due_held(self, now: datetime, limit: int) -> list[Document]:
        """Up to ``limit`` meetings whose ``leftovers_held`` note is due (``due`` up to ``now``), longest due first:
        their key fields and note as stored, to be claimed one by one (:meth:`claim_held`)."""
        query, fields = {f"{HELD}.due": {"$lte": now}}, {"tenant": 1, "meeting_uuid": 1, HELD: 1}
        return await guarded(self._col.find(query, fields).sort(f"{HELD}.due", ASCENDING).to_list(limit))

    async def claim_held(self, doc: Document, until: datetime) -> bool:
        """Move the ``due`` of the note ``doc`` holds (as :meth:`due_held` read it) to ``until``, unless another replica
        claimed it, or a newer cleanup replaced it, since; True when this one did: it judges the note now, and a note
        whose judging failed half-way is due again then."""
        note = doc.get(HELD)
        token, due = (note.get("token"), note.get("due")) if isinstance(note, dict) else (None, None)
        query = {"_id": doc["_id"], f"{HELD}.token": token, f"{HELD}.due": due}
        return (await guarded(self._col.update_one(query, {"$set": {f"{HELD}.due": until}}))).modified_count == 1

    async def settle_held(self, meeting_id: object, token: object, still_held: Sequence[str]) -> bool:
        """Keep of the note ``token`` on the meeting ``meeting_id`` (its ``_id``) only the keys ``still_held`` (none:
        the note goes); False when the note is another one now (a newer cleanup replaced it) or the meeting is gone."""
        query = {"_id": meeting_id, f"{HELD}.token": token}
        update = {"$set": {f"{HELD}.keys": list(still_held)}} if still_held else {"$unset": {HELD: ""}}
        return (await guarded(self._col.update_one(query, update))).matched_count == 1

    async def mark_submitted(self, event: AudioMixed, provider: Provider, part_count: int) -> bool:
        """Advance the meeting to ``submitted``; True if it moved.

        Either way the meeting notes that this generation's submission is done (``submitted_generation``), and
        with what (``provider``, ``part_count``): a meeting already further along (a part's job reported before the
        last part went in, or one run again by a forced replay of an older release, which left the stage as it was)
        too; else it kept naming the earlier generation's part count.
        """
        now = utcnow()
        fields = {
            **stage_fields("submitted", now),
            "submitted_at": now,
            "provider": provider,
            "part_count": part_count,
            "submitted_generation": event.generation,
        }
        query = forward_filter(event.tenant, event.meeting_uuid, "submitted", generation=event.generation)
        result = await guarded(self._col.update_one(query, {"$set": fields}))
        if result.modified_count == 1:
            return True
        this_generation = {
            **meeting_key(event.tenant, event.meeting_uuid),
            "generation": generation_match(event.generation),
        }
        done = {"submitted_generation": event.generation, "provider": provider, "part_count": part_count}
        await guarded(self._col.update_one(this_generation, {"$set": done}))
        return False

    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        """Mark the meeting failed by the submitter at ``stage`` (unless it completed); True if it moved.

        A meeting the submitter itself failed before is marked again (True): a redelivery after a crash
        between marking and announcing the failure must announce it. A meeting whose submission for this
        generation is done is left alone: a give-up then is stale (the process died after the last
        attempt succeeded and before the offset was committed, and the redelivery found no attempt left).
        """
        failure = Failure.build(SERVICE, stage, reason)
        fields = {**stage_fields("failed", failure.at), **failure.fields()}
        query = forward_filter(
            event.tenant, event.meeting_uuid, "failed", generation=event.generation, refail_by=SERVICE
        )
        query["submitted_generation"] = {"$ne": event.generation}
        result = await guarded(self._col.update_one(query, {"$set": fields}))
        return result.modified_count == 1

    async def split_plan(self, event: AudioMixed, count: int) -> list[Part] | None:
        """The parts stored for this input and generation, when they were planned as ``count``."""
        plan = await self._stored_plan(event)
        if plan is None or not plan.matches(event.input_hash, event.generation, count):
            return None
        return [Part(**part.to_document()) for part in plan.parts]

    async def generation_plan(self, event: AudioMixed) -> list[Part] | None:
        """The parts stored for this input and generation, whatever count they were planned as: a generation's
        plan is fixed once made (:meth:`~zoomsymbl_submitter.parts.PartPlanner.generation_parts`)."""
        plan = await self._stored_plan(event)
        if plan is None or (plan.input_hash, plan.generation) != (event.input_hash, event.generation):
            return None
        return [Part(**part.to_document()) for part in plan.parts]

    async def _stored_plan(self, event: AudioMixed) -> SplitPlan | None:
        doc = await guarded(self._col.find_one(meeting_key(event.tenant, event.meeting_uuid), {"split": 1}))
        raw = doc.get("split") if doc else None
        return SplitPlan.from_document(raw) if raw is not None else None

    async def save_split_plan(
        self, event: AudioMixed, parts: list[Part], planned: int | None = None
    ) -> list[Part] | None:
        """Store ``parts`` for this input and generation unless a plan of this file is stored for them; the plan
        stored then: ``parts``, or the one another delivery stored first; None when the meeting is unknown or at
        another generation (nothing stored).

        ``planned`` is the count computed before cutting (more parts when one came out too large): a redelivery
        computes the same one and finds these parts under it. First writer wins: two deliveries of the generation
        at once (a rebalance mid-split during a rolling deploy under other limits) both miss the stored plan and
        cut; the second ``$set`` replaced the first and each delivery submitted its own plan. The update matches
        only a meeting at this generation without such a plan, and ``modified_count`` tells which delivery stored
        it (MongoDB applies a filter and its update to one document atomically, as every conditional update here
        counts on). A plan of another file of the meeting (the tenant's provider changed between two deliveries:
        its mono mix) or of another input or generation is replaced, as before; an earlier generation's delivery
        never replaces the plan of the meeting's newer one.
        """
        plan = SplitPlan(
            input_hash=event.input_hash,
            generation=event.generation,
            planned=len(parts) if planned is None else planned,
            count=len(parts),
            parts=[SplitPart.model_validate(part.as_doc()) for part in parts],
        )
        of_this_file = {
            "split.input_hash": event.input_hash,
            "split.generation": event.generation,
            "split.parts.0.object_key": {"$regex": first_part_pattern(event)},
        }
        query = {
            **meeting_key(event.tenant, event.meeting_uuid),
            "generation": generation_match(event.generation),
            "$nor": [of_this_file],
        }
        update = {"$set": {"split": plan.to_document(), "updated_at": utcnow()}}
        if (await guarded(self._col.update_one(query, update))).modified_count == 1:
            return parts
        stored = await self.generation_plan(event)
        return stored if stored is not None and is_plan_of(event, stored) else None

    async def note_transcript_wait(self, event: AudioMixed) -> None:
        """Note that ``event``'s generation waits for Zoom's transcript from now on; a note of that generation stays
        as it is (a redelivery keeps the first time), one of an earlier generation is replaced."""
        query = {**meeting_key(event.tenant, event.meeting_uuid), "generation": generation_match(event.generation),
                 f"{TRANSCRIPT_WAIT}.generation": {"$ne": event.generation}}  # fmt: skip
        note = {"generation": event.generation, "since": utcnow(), "event": event.model_dump(mode="json")}
        await guarded(self._col.update_one(query, {"$set": {TRANSCRIPT_WAIT: note}}))

    async def transcript_waits(self, before: datetime, limit: int) -> list[Document]:
        """Up to ``limit`` meetings whose wait for Zoom's transcript began before ``before``, the longest first: their
        generation, stage, failure and note as stored."""
        query = {f"{TRANSCRIPT_WAIT}.since": {"$lt": before}}
        fields = {"generation": 1, "stage": 1, "failed_stage": 1, TRANSCRIPT_WAIT: 1}
        cursor = self._col.find(query, fields).sort(f"{TRANSCRIPT_WAIT}.since", ASCENDING)
        return await guarded(cursor.to_list(limit))

    async def end_transcript_wait(self, doc: Document) -> None:
        """Remove the note ``doc`` holds (as :meth:`transcript_waits` read it), unless a newer one replaced it."""
        note = doc.get(TRANSCRIPT_WAIT)
        since = note.get("since") if isinstance(note, dict) else None
        query = {"_id": doc["_id"], f"{TRANSCRIPT_WAIT}.since": since}
        await guarded(self._col.update_one(query, {"$unset": {TRANSCRIPT_WAIT: ""}}))


def _generation(doc: Document | None) -> int | None:
    """The generation of a meeting document as read (None: no such meeting; no field: 0)."""
    if doc is None:
        return None
    value = doc.get("generation")
    return value if isinstance(value, int) else 0
