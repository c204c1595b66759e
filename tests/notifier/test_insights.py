"""Insights of split meetings are merged in time order; storing and loading loses nothing."""

from __future__ import annotations

import pytest
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_notifier.insights import InsightsStore, counts, from_doc, merge, summary_urls, to_doc
from zoomsymbl_notifier.jobs import JobRecord

PART_0 = Insights(
    messages=(TranscriptMessage("Ann", "first", 1.0, 2.0, channel=1), TranscriptMessage("Ben", "second", 5.0, 6.0)),
    topics=(InsightItem("Budget", score=0.5),),
    questions=(InsightItem("Why?"),),
    action_items=(InsightItem("Do A", assignee="Ann", due="2026-01-01"),),
    summary=("Part one.",),
    summary_url="https://example.com/s/1",
)
PART_1 = Insights(
    messages=(TranscriptMessage("Ben", "third", 0.5, 1.0),),
    topics=(InsightItem("budget"), InsightItem("Hiring")),
    follow_ups=(InsightItem("Call back"),),
    summary=("Part two.",),
    summary_url="https://example.com/s/2",
)


def test_parts_are_merged_in_time_order_with_their_offsets() -> None:
    merged = merge([(3600.0, PART_1), (0.0, PART_0)])
    assert [(m.text, m.start_seconds, m.end_seconds) for m in merged.messages] == [
        ("first", 1.0, 2.0),
        ("second", 5.0, 6.0),
        ("third", 3600.5, 3601.0),
    ]
    assert [t.text for t in merged.topics] == ["Budget", "Hiring"]
    assert merged.summary == ("Part one.", "Part two.")
    assert [a.text for a in merged.action_items] == ["Do A"] and [f.text for f in merged.follow_ups] == ["Call back"]
    assert merged.summary_url == "https://example.com/s/1"
    assert summary_urls([PART_0, PART_1, PART_0]) == ("https://example.com/s/1", "https://example.com/s/2")


def test_counts_per_kind() -> None:
    assert counts(PART_0) == {
        "messages": 2, "summary": 1, "topics": 1, "questions": 1, "action_items": 1, "follow_ups": 0,
        "decisions": 0,
    }  # fmt: skip


def test_document_round_trip_is_lossless() -> None:
    assert from_doc(to_doc(PART_0)) == PART_0


def _job(conversation_id: str) -> JobRecord:
    doc = {
        "_id": "k",
        "idempotency_key": "k",
        "job_ref": "k",
        "tenant": "acme",
        "meeting_uuid": "m",
        "provider": "symbl",
        "status": "completed",
        "job_id": "j",
        "conversation_id": conversation_id,
    }
    return JobRecord.from_doc(doc)


@pytest.mark.integration
async def test_storing_twice_keeps_one_document_with_the_latest_facts(mongo: Mongo) -> None:
    store = InsightsStore(mongo)
    job = _job("c-1")
    await store.put(job, PART_1)
    await store.put(job, PART_0)
    assert await store.get(job) == PART_0
    assert await mongo.db["insights"].count_documents({"conversation_id": "c-1"}) == 1
    assert await store.get(_job("c-unknown")) is None
