"""Replay retained Kafka events: re-publish a time range (optionally filtered), or rewind a group.

Without ``force`` a replay re-publishes events unchanged: every handler is idempotent, so nothing
is done twice. With ``force`` each meeting's generation is bumped in MongoDB (one atomic ``$inc``)
and the event is re-published under that generation with a new ``event_id``: the meeting is
processed again (new provider job, an e-mail marked as an update). A dead-letter topic replays
the original messages onto their source topic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from pymongo import ReturnDocument

from zoomsymbl_common.events import EVENT_TYPES, DeadLetter, Event, stable_id
from zoomsymbl_common.kafka import event_key, start_client
from zoomsymbl_common.kafka_security import client_options
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import MEETINGS, Meeting, meeting_key
from zoomsymbl_common.settings import InfraSettings

EVENTS_BY_TOPIC: dict[str, type[Event]] = {event.topic: event for event in EVENT_TYPES}


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay."""

    topic: str
    since: datetime | None = None
    until: datetime | None = None
    tenant: str | None = None
    meeting: str | None = None
    dry_run: bool = False
    force: bool = False


@dataclass
class ReplayCounts:
    """What a replay did."""

    scanned: int = 0
    matched: int = 0
    published: int = 0
    skipped: int = 0
    generations: dict[str, int] = field(default_factory=dict)


def base_topic(infra: InfraSettings, topic: str) -> str:
    """``topic`` without the configured prefix (names are accepted with or without it)."""
    prefix = infra.kafka_topic_prefix
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def decode(infra: InfraSettings, topic: str, value: bytes) -> tuple[str, bytes, dict[str, Any]]:
    """(destination base topic, message body, parsed body) for one retained message."""
    name = base_topic(infra, topic)
    if name.endswith(".dlq"):
        letter = DeadLetter.model_validate_json(value)
        body = letter.payload.encode("utf-8")
        return base_topic(infra, letter.source_topic), body, json.loads(body)
    return name, value, json.loads(value)


def unfiltered(request: ReplayRequest) -> bool:
    """True when ``request`` selects every retained event of its topic (no tenant, meeting or time bound)."""
    return not (request.tenant or request.meeting or request.since or request.until)


def matches(request: ReplayRequest, data: dict[str, Any]) -> bool:
    """True when the event passes the tenant and meeting filters."""
    if request.tenant and data.get("tenant") != request.tenant:
        return False
    return not (request.meeting and data.get("meeting_uuid") != request.meeting)


async def bump_generation(mongo: Mongo, tenant: str, meeting_uuid: str) -> int:
    """Atomically increment and return the meeting's generation (a forced replay's new generation).

    A meeting never stored yet gets a document with its key and generation only (no stage).
    """
    doc = await guarded(
        mongo.db[MEETINGS].find_one_and_update(
            meeting_key(tenant, meeting_uuid),
            {"$inc": {"generation": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    )
    return Meeting.from_document(doc).generation if doc else 1


def regenerate(event: Event, generation: int) -> Event:
    """``event`` under a new generation, with a new deterministic event id."""
    update: dict[str, Any] = {
        "generation": generation,
        "event_id": stable_id(event.event_id, "generation", str(generation)),
    }
    if "source" in type(event).model_fields:
        update["source"] = "replay"
    return event.model_copy(update=update)


async def retained(infra: InfraSettings, topic: str, request: ReplayRequest) -> AsyncIterator[tuple[str, bytes]]:
    """Every retained message of ``topic`` between ``since`` and ``until`` (end offsets fixed at start)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False, **client_options(infra)
    )
    await start_client(consumer)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        if not partitions:
            return
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await _start_offsets(consumer, partitions, request.since)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        until_ms = int(request.until.timestamp() * 1000) if request.until else None
        remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        remaining.discard(tp)
                        break
                    if (until_ms is None or record.timestamp <= until_ms) and record.value is not None:
                        yield topic, record.value
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    """Where reading starts on each partition: the first offset at or after ``since`` (or the beginning)."""
    begins = await consumer.beginning_offsets(partitions)
    if since is None:
        return {tp: int(begins[tp]) for tp in partitions}
    ends = await consumer.end_offsets(partitions)
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
    return {tp: int(found[tp].offset) if found.get(tp) else int(ends[tp]) for tp in partitions}


async def replay(infra: InfraSettings, mongo: Mongo | None, request: ReplayRequest) -> ReplayCounts:
    """Re-publish the retained events that ``request`` selects; returns the counts."""
    counts = ReplayCounts()
    topic = infra.kafka_topic_prefix + base_topic(infra, request.topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, **client_options(infra)
    )
    await start_client(producer)
    published: set[tuple[str, str]] = set()
    try:
        async for source, value in retained(infra, topic, request):
            counts.scanned += 1
            destination, body, data = decode(infra, source, value)
            if not matches(request, data):
                continue
            counts.matched += 1
            if request.dry_run:
                continue
            body, key, event_id = await _prepare(infra, mongo, request, destination, body, counts)
            if event_id is not None and (destination, event_id) in published:
                counts.skipped += 1  # the same event retained twice (a duplicate, or an earlier replay)
                continue
            if event_id is not None:
                published.add((destination, event_id))
            await producer.send_and_wait(infra.kafka_topic_prefix + destination, body, key=key)
            counts.published += 1
    finally:
        await producer.stop()
    return counts


async def _prepare(
    infra: InfraSettings,
    mongo: Mongo | None,
    request: ReplayRequest,
    destination: str,
    body: bytes,
    counts: ReplayCounts,
) -> tuple[bytes, bytes | None, str | None]:
    """The body and key to publish, and the event id (None for a topic without an event model)."""
    model = EVENTS_BY_TOPIC.get(destination)
    if model is None:
        return body, None, None
    event = model.model_validate_json(body)
    if request.force:
        if mongo is None:
            raise ValueError("--force needs MongoDB to bump the meeting's generation")
        meeting = f"{event.tenant}/{event.meeting_uuid}"
        if meeting not in counts.generations:
            counts.generations[meeting] = await bump_generation(mongo, event.tenant, event.meeting_uuid)
        event = regenerate(event, counts.generations[meeting])
    return event.model_dump_json().encode(), event_key(event), event.event_id


async def reset_group(infra: InfraSettings, group: str, topic: str, since: datetime | None) -> dict[int, int]:
    """Move consumer group ``group`` on ``topic`` to ``since`` (or the beginning); the group must be idle."""
    full = infra.kafka_topic_prefix + base_topic(infra, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, group_id=group, enable_auto_commit=False, **client_options(infra)
    )
    await start_client(consumer)
    try:
        partitions = [TopicPartition(full, p) for p in sorted(await _partitions(consumer, full))]
        consumer.assign(partitions)
        positions = await _start_offsets(consumer, partitions, since)
        await consumer.commit({tp: OffsetAndMetadata(offset, "zoomsymbl replay") for tp, offset in positions.items()})
        return {tp.partition: offset for tp, offset in positions.items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of ``topic`` (empty when it does not exist), after a metadata refresh."""
    for _ in range(10):
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.3)
    return set()
