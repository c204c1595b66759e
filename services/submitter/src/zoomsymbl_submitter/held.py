"""What a leftover cleanup kept for unfinished jobs, deleted once they finished: a periodic pass of the submitter.

A meeting's cleanup (:func:`zoomsymbl_submitter.generations.remove_leftovers`) keeps what an unfinished job of an
earlier generation may still read, and notes it on the meeting (``leftovers_held``: the generation, the bucket, the
keys, a token naming the judgement, when it is due). Before, such objects went only when a later submission of the
meeting happened to find those jobs finished: a meeting never submitted again kept them in S3 for ever.

Every ``leftovers_interval_seconds`` each replica reads up to :data:`BATCH` due notes, oldest first, and claims each
with one conditional update that moves its ``due`` an interval on (:meth:`MeetingStore.claim_held`, matching the
note as read): two replicas do not judge one note at once (MongoDB applies a filter and its update atomically; where
that fails, as on the local FerretDB, a second judgement finds gone what the first deleted), and a note whose judging
failed half-way is due again an interval later. Each note's keys are judged again by the submission's own code
(:func:`~zoomsymbl_submitter.generations.judge_leftovers`), of the noted keys only: an object written since (a newer
generation's part) is none of them, nor is any object the meeting's current generation reads (its plan's objects are
never noted) or the file its page plays (spared as in a submission). What no unfinished job reads any more (its status
``completed`` or ``failed``, as the notifier records it) is deleted, and the note keeps the rest; with nothing left it
goes. A meeting run again since (the newer generation's submission judges then) or forgotten (``zoomsymbl forget``
wrote its tombstone and erases everything) loses its note, and nothing is deleted. Each update of a note matches its
token, so a note a newer cleanup wrote meanwhile stays as it is.

Outcomes: an outage of MongoDB or S3 ends the round (logged, the next round tries again: :mod:`periodic`); any other
trouble with one meeting (a bucket that refuses, a bug on its data) is logged and costs only that meeting, due again
an interval later; an unreadable note is dropped (logged), its objects left to a later submission, ``zoomsymbl
forget`` or retention.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field
from zoomsymbl_common.clock import Clock, utcnow
from zoomsymbl_common.errors import InfrastructureUnavailable
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records.base import Key, MalformedRecord, MeetingUuid, Record, Tenant

from zoomsymbl_submitter.generations import judge_leftovers
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import HELD, MAX_HELD, MeetingStore
from zoomsymbl_submitter.parts import PartPlanner
from zoomsymbl_submitter.periodic import every

log = logging.getLogger("zoomsymbl.submitter.held")
BATCH = 100
"""The most notes one replica judges in a round (the rest wait for the next one, oldest first)."""
TASK = "held-leftovers"
Forgotten = Callable[[str, str], Awaitable[bool]]
"""True when the meeting (tenant, UUID) has a tombstone (:func:`zoomsymbl_common.ops.forget.is_forgotten`)."""


class HeldLeftovers(Record):
    """A meeting's ``leftovers_held`` note: what its cleanup of ``generation`` kept for unfinished jobs."""

    tenant: Tenant
    meeting_uuid: MeetingUuid
    generation: int = Field(ge=0)
    bucket: Key
    keys: list[Key] = Field(max_length=MAX_HELD)
    token: Key

    @classmethod
    def of_meeting(cls, doc: Document) -> HeldLeftovers:
        """The note of the meeting document ``doc`` (:class:`MalformedRecord` when it does not fit)."""
        note = doc.get(HELD)
        return cls.from_document({**(note if isinstance(note, dict) else {}), "tenant": doc.get("tenant"),
                                  "meeting_uuid": doc.get("meeting_uuid")})  # fmt: skip


@dataclass
class HeldSweeper:
    """Judges due ``leftovers_held`` notes every ``interval`` seconds (> 0; also how long a claimed note waits)."""

    meetings: MeetingStore
    jobs: JobStore
    planner: PartPlanner
    forgotten: Forgotten
    interval: float
    batch: int = BATCH
    clock: Clock = utcnow

    async def run_forever(self) -> None:
        """Judge until cancelled; a failed round is logged and the next one tries again (:func:`periodic.every`)."""
        await every(self.interval, self.once, "held leftovers", log)

    async def once(self) -> int:
        """One round: up to :attr:`batch` due notes judged again; the objects deleted."""
        now = self.clock()
        until = now + timedelta(seconds=self.interval)
        deleted = 0
        for doc in await self.meetings.due_held(now, self.batch):
            if await self.meetings.claim_held(doc, until):
                deleted += await self._judge_claimed(doc)
        return deleted

    async def _judge_claimed(self, doc: Document) -> int:
        """Judge one claimed note; the objects deleted. An outage ends the round (every other meeting would wait for
        it alike); any other trouble costs this meeting only, due again an interval later."""
        where = {"tenant": doc.get("tenant"), "meeting_uuid": doc.get("meeting_uuid")}
        try:
            note = HeldLeftovers.of_meeting(doc)
        except MalformedRecord as exc:
            log.warning("unreadable note of held leftovers dropped", extra={**where, "error": str(exc)[:500]})
            await self.meetings.settle_held(doc["_id"], _token(doc), [])
            return 0
        try:
            return await self._judge(doc["_id"], note)
        except InfrastructureUnavailable:
            raise
        except Exception as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}", 500)
            log.exception("held leftovers not judged, will try again", extra={**where, "error": reason})
            return 0

    async def _judge(self, meeting_id: object, note: HeldLeftovers) -> int:
        """Delete what of ``note`` no unfinished job reads any more, and note the rest; the objects deleted."""
        where = {"tenant": note.tenant, "meeting_uuid": note.meeting_uuid, "generation": note.generation}
        if await self.forgotten(note.tenant, note.meeting_uuid):
            await self.meetings.settle_held(meeting_id, note.token, [])
            log.info("held leftovers of a forgotten meeting left to its erase", extra=where)
            return 0
        judged = await judge_leftovers(note, (), self.meetings, self.jobs, self.planner, within=set(note.keys))
        if judged is None:
            await self.meetings.settle_held(meeting_id, note.token, [])
            log.info("held leftovers left to the newer generation's cleanup", extra=where)
            return 0
        removed, held = judged
        await self.meetings.settle_held(meeting_id, note.token, held)
        if removed:
            where |= {"objects": len(removed), "still_held": len(held)}
            log.info("objects kept for finished jobs deleted", extra=where)
        return len(removed)


def _token(doc: Document) -> Any:
    """The token of the meeting's note as stored (None when it has none)."""
    note = doc.get(HELD)
    return note.get("token") if isinstance(note, dict) else None
