"""Insights: stored per conversation in ``insights``, merged per meeting in time order.

Splitting a long recording gives one provider conversation per part; each part's message times
start at 0, so the part's offset in the meeting is added before the parts are put together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.records import INSIGHTS, StoredInsights

from zoomsymbl_notifier.jobs import JobRecord

_ITEM_KINDS = ("topics", "questions", "action_items", "follow_ups", "decisions")


def to_doc(insights: Insights) -> Document:
    """A BSON-friendly dict of ``insights``."""
    return dataclasses.asdict(insights)


def from_doc(doc: Document) -> Insights:
    """The :class:`Insights` stored by :func:`to_doc`."""
    fields = {f.name for f in dataclasses.fields(TranscriptMessage)}
    messages = tuple(TranscriptMessage(**{k: v for k, v in m.items() if k in fields}) for m in doc.get("messages", ()))
    items: dict[str, tuple[InsightItem, ...]] = {kind: _items(doc.get(kind, ())) for kind in _ITEM_KINDS}
    topic_fields = {f.name for f in dataclasses.fields(SummaryTopic)}
    summary_topics = tuple(
        SummaryTopic(**{k: v for k, v in t.items() if k in topic_fields}) for t in doc.get("summary_topics", ())
    )
    return Insights(
        messages=messages,
        summary=tuple(str(s) for s in doc.get("summary", ())),
        summary_url=doc.get("summary_url"),
        extra={str(k): str(v) for k, v in (doc.get("extra") or {}).items()},
        summary_topics=summary_topics,
        unavailable={str(k): str(v) for k, v in (doc.get("unavailable") or {}).items()},
        **items,
    )


def _items(raw: Sequence[dict[str, Any]]) -> tuple[InsightItem, ...]:
    names = {f.name for f in dataclasses.fields(InsightItem)}
    return tuple(InsightItem(**{k: v for k, v in item.items() if k in names}) for item in raw)


def _later(value: float | None, offset: float) -> float | None:
    return None if value is None else value + offset


def shift(insights: Insights, offset_seconds: float) -> Insights:
    """``insights`` with every time in it (messages, items, summary topics) moved ``offset_seconds`` later."""
    if not offset_seconds:
        return insights
    messages = tuple(
        dataclasses.replace(
            m, start_seconds=m.start_seconds + offset_seconds, end_seconds=m.end_seconds + offset_seconds
        )
        for m in insights.messages
    )
    moved: dict[str, tuple[InsightItem, ...]] = {
        kind: tuple(
            dataclasses.replace(i, start_seconds=_later(i.start_seconds, offset_seconds))
            for i in getattr(insights, kind)
        )
        for kind in _ITEM_KINDS
    }
    topics = tuple(
        dataclasses.replace(
            t, start_seconds=_later(t.start_seconds, offset_seconds), end_seconds=_later(t.end_seconds, offset_seconds)
        )
        for t in insights.summary_topics
    )
    return dataclasses.replace(insights, messages=messages, summary_topics=topics, **moved)  # type: ignore[arg-type]


def merge(parts: Sequence[tuple[float, Insights]]) -> Insights:
    """One meeting's insights from its parts (offset, insights), messages in time order."""
    ordered = sorted(parts, key=lambda p: p[0])
    shifted = [shift(ins, offset) for offset, ins in ordered]
    messages = sorted((m for ins in shifted for m in ins.messages), key=lambda m: (m.start_seconds, m.end_seconds))
    topics: dict[str, InsightItem] = {}
    for ins in shifted:
        for topic in ins.topics:
            topics.setdefault(topic.text.strip().lower(), topic)
    return Insights(
        messages=tuple(messages),
        topics=tuple(topics.values()),
        questions=tuple(q for ins in shifted for q in ins.questions),
        action_items=tuple(a for ins in shifted for a in ins.action_items),
        follow_ups=tuple(f for ins in shifted for f in ins.follow_ups),
        decisions=tuple(d for ins in shifted for d in ins.decisions),
        summary=tuple(s for ins in shifted for s in ins.summary),
        summary_topics=tuple(t for ins in shifted for t in ins.summary_topics),
        summary_url=next((ins.summary_url for ins in shifted if ins.summary_url), None),
        extra={k: v for ins in shifted for k, v in ins.extra.items()},
        unavailable={k: v for ins in shifted for k, v in ins.unavailable.items()},
    )


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

    async def put(self, job: JobRecord, insights: Insights) -> None:
        """Store (or overwrite with the same facts) the insights of ``job``'s conversation."""
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

    async def get(self, job: JobRecord) -> Insights | None:
        """The stored insights of ``job``'s conversation."""
        doc = await guarded(self._col.find_one({"provider": job.provider, "conversation_id": job.conversation_id}))
        return from_doc(StoredInsights.from_document(doc).insights) if doc else None
