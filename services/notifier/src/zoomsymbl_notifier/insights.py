"""Insights: stored per conversation in ``insights``, merged per meeting in time order.

Splitting a long recording gives one provider conversation per part; each part's message times
start at 0, so the part's offset in the meeting is added before the parts are put together. The
stored shape, the shift and the merge are :mod:`zoomsymbl_common.stored_insights` (the web service
reads the same documents).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common import stored_insights
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import INSIGHTS, StoredInsights
from zoomsymbl_common.stored_insights import ITEM_KINDS

from zoomsymbl_notifier.jobs import JobRecord

_ITEM_KINDS = ITEM_KINDS
merge = stored_insights.merge
shift = stored_insights.shift


def to_doc(insights: Insights) -> Document:
    """The stored shape of ``insights`` (transcript compressed: :mod:`zoomsymbl_common.stored_insights`)."""
    return stored_insights.encode(insights)


def from_doc(doc: Document) -> Insights:
    """The :class:`Insights` stored by :func:`to_doc` (or by a version before it)."""
    return stored_insights.decode(doc)


def part_voices(insights: Insights, known: Collection[str], part_index: int, part_count: int) -> Insights:
    """A part's voices that only the provider told apart, named with the part: ``Speaker 1 (part 2)``.

    Each part of a split recording is a conversation of its own at the provider, so its diarization labels
    are its own: "Speaker 1" of part 2 need not be "Speaker 1" of part 1, and read side by side in one
    transcript they would make two people one. A message on a channel, or under a participant's name
    (``known``), is the same person in every part and keeps its name; items by or for a relabelled voice
    follow it. A one-part meeting is returned as it is.
    """
    if part_count < 2:
        return insights
    voices = {m.speaker for m in insights.messages if m.channel is None and m.speaker and m.speaker not in known}
    if not voices:
        return insights

    def own(name: str | None) -> str | None:
        return f"{name} (part {part_index + 1})" if name in voices else name

    messages = tuple(
        dataclasses.replace(m, speaker=own(m.speaker) or "") if m.channel is None else m for m in insights.messages
    )
    items = {
        kind: tuple(
            dataclasses.replace(i, speaker=own(i.speaker), assignee=own(i.assignee)) for i in getattr(insights, kind)
        )
        for kind in _ITEM_KINDS
    }
    return dataclasses.replace(insights, messages=messages, **items)  # type: ignore[arg-type]


def summary_urls(parts: Sequence[Insights]) -> tuple[str, ...]:
    """Every distinct summary page of the parts, in order."""
    return tuple(dict.fromkeys(p.summary_url for p in parts if p.summary_url))


def counts(insights: Insights) -> dict[str, int]:
    """How many items of each kind there are (for ``InsightsReady``)."""
    result = {"messages": len(insights.messages), "summary": len(insights.summary) + len(insights.summary_topics)}
    result.update({kind: len(getattr(insights, kind)) for kind in _ITEM_KINDS})
    return result


class InsightsStore:
    """``insights``: one document per provider conversation, written idempotently."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[INSIGHTS]

    async def put(self, job: JobRecord, insights: Insights) -> Insights:
        """Store (or overwrite with the same facts) the insights of ``job``'s conversation; returns them as
        :meth:`get` would read them back, so the caller that just stored them need not read them again."""
        key = {"provider": job.provider, "conversation_id": job.conversation_id}
        doc = StoredInsights(
            provider=job.provider,
            conversation_id=job.conversation_id,
            tenant=job.tenant,
            meeting_uuid=job.meeting_uuid,
            generation=job.generation,
            job_id=job.job_id,
            part_index=job.part_index,
            part_offset_seconds=job.part_offset_seconds,
            insights=to_doc(insights),
            stored_at=utcnow(),
        ).to_document()
        try:
            await guarded(self._col.update_one(key, {"$set": doc}, upsert=True))
        except DuplicateKeyError:
            # Two deliveries raced on the upsert; the other one inserted, ours now updates.
            await guarded(self._col.update_one(key, {"$set": doc}))
        return from_doc(StoredInsights.from_document(doc).insights)

    async def get(self, job: JobRecord) -> Insights | None:
        """The stored insights of ``job``'s conversation."""
        doc = await guarded(self._col.find_one({"provider": job.provider, "conversation_id": job.conversation_id}))
        return from_doc(StoredInsights.from_document(doc).insights) if doc else None
