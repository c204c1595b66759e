"""The step a meeting's handling reached, kept on the meeting document (:data:`STEP`) so a give-up in another process
names it.

The consumer counts attempts in MongoDB: after a restart (an OOM kill, an eviction, a rollout) the process that gives
up may never have begun the meeting (the last attempt cut short), or began it and failed it elsewhere. Its
:class:`~zoomsymbl_mixer.progress.Progress` then knows no step and a failure notice said ``retry`` whether Zoom's
downloads or the merge had kept failing. Each step is written as it begins (one small update); the give-up
(:func:`~zoomsymbl_mixer.handlers.give_up`) reads it when its own process did not handle the event. Keyed by the
event's ``event_id``: another event's step (a replay, a late transcript) is not this one's.

Part of :class:`~zoomsymbl_mixer.state.MeetingState`.
"""

from __future__ import annotations

from typing import Final, get_args

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.records import MEETINGS, meeting_insert, meeting_key

from zoomsymbl_mixer.progress import Step

STEP: Final = "mixer_step"
"""``{"event_id", "step", "at"}``: the step the latest handling of the meeting by the mixer began (left after it)."""
STEPS: Final[frozenset[str]] = frozenset(get_args(Step))


class StepRecords:
    """Writes and reads of :data:`STEP` on ``meetings``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def note_step(self, event: RecordingCompleted, step: Step) -> None:
        """``event``'s handling is at ``step`` from now on (not on a meeting a forced replay moved past its
        generation: that meeting's own handling owns the field)."""
        query = {**meeting_key(event.tenant, event.meeting_uuid), "generation": {"$not": {"$gt": event.generation}}}
        insert = meeting_insert(
            host_email=event.host_email, topic=event.topic_text, generation=event.generation, created_at=utcnow()
        )
        note = {STEP: {"event_id": event.event_id, "step": step, "at": utcnow()}}
        try:
            await guarded(self.db[MEETINGS].update_one(query, {"$set": note, "$setOnInsert": insert}, upsert=True))
        except DuplicateKeyError:
            return  # the meeting is at a later generation: nothing of this event's to keep

    async def step_of(self, event: RecordingCompleted) -> Step | None:
        """The step ``event``'s handling reached in whichever process handled it last (None: none noted for it)."""
        doc = await guarded(self.db[MEETINGS].find_one(meeting_key(event.tenant, event.meeting_uuid), {STEP: 1}))
        note = doc.get(STEP) if doc is not None else None
        if not isinstance(note, dict) or note.get("event_id") != event.event_id:
            return None
        step = note.get("step")
        return step if isinstance(step, str) and step in STEPS else None  # type: ignore[return-value]
