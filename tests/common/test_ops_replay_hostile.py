"""`zoomsymbl replay` reading what anyone who can write to Kafka left there, and a Kafka that stops serving.

Replay re-publishes retained messages, so they are outside input: garbage, a JSON list, another
event's body, a dead letter naming a topic of its attacker's choice. And its reader must finish
whatever the log does under it: a transaction marker at the end, retention deleting what it reads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaTimeoutError
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import AudioMixed, DeadLetter, RecordingCompleted, stable_id
from zoomsymbl_common.ops import replay_source
from zoomsymbl_common.ops.command import UsageError
from zoomsymbl_common.ops.replay import ReplayRequest, ReplayStopped, replay
from zoomsymbl_common.settings import InfraSettings

pytestmark = pytest.mark.integration
TOPIC = RecordingCompleted.topic
DLQ = DeadLetter.topic_for(TOPIC)
# What anyone who can write to the topic may leave there, none of it a RecordingCompleted.
GARBAGE = (
    b"not json",
    b"[1, 2]",
    b"null",
    b'"acme"',
    b"\xff\xfe\x00",
    b'{"tenant": "acme", "meeting_uuid": "m1"}',
    b'{"event_id": "e", "tenant": "ACME!", "meeting_uuid": "m1"}',
)


def _event(tenant: str, meeting: str) -> RecordingCompleted:
    return RecordingCompleted(event_id=stable_id(tenant, meeting), tenant=tenant, meeting_uuid=meeting)


def _letter(source_topic: str, payload: str) -> bytes:
    letter = DeadLetter(
        source_topic=source_topic, service="mixer", reason="s3 down", error_type="X", attempts=5, payload=payload
    )
    return letter.model_dump_json().encode()


async def _produce(infra: InfraSettings, topic: str, bodies: list[bytes], **send: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(infra.kafka_topic_prefix + topic, body, **send)
    finally:
        await producer.stop()


async def _retained(infra: InfraSettings, topic: str) -> list[bytes]:
    """Every message retained on ``topic`` (none when the topic does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        full = infra.kafka_topic_prefix + topic
        partitions = [TopicPartition(full, p) for p in consumer.partitions_for_topic(full) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[bytes] = []
        async with asyncio.timeout(30):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [r.value or b"" for r in records]
        return found
    finally:
        await consumer.stop()


async def test_messages_that_are_not_the_topics_event_are_counted_and_skipped(infra: InfraSettings) -> None:
    good = [_event("acme", "m1"), _event("acme", "m2")]
    other = json.dumps({**_event("acme", "m3").model_dump(mode="json"), "object_key": "k"}).encode()  # not this event
    bodies = [good[0].model_dump_json().encode(), *GARBAGE, other]
    await _produce(infra, TOPIC, [*bodies, good[1].model_dump_json().encode()], partition=0)

    dry = await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))
    assert (dry.scanned, dry.matched, dry.invalid, dry.published) == (len(GARBAGE) + 3, 2, len(GARBAGE) + 1, 0)
    counts = await replay(infra, None, ReplayRequest(topic=TOPIC, tenant="acme"))
    assert (counts.matched, counts.published, counts.invalid) == (2, 2, len(GARBAGE) + 1)
    retained = await _retained(infra, TOPIC)
    assert retained.count(good[0].model_dump_json().encode()) == 2, "re-published, and the garbage was not"
    assert len(retained) == len(GARBAGE) + 5


async def test_dead_letters_go_back_only_to_the_topic_their_dead_letter_topic_belongs_to(
    infra: InfraSettings,
) -> None:
    prefix = infra.kafka_topic_prefix
    event = _event("acme", "m1")
    letters = [  # in this order on one partition: code that trusts letters publishes the second one raw
        _letter(prefix + TOPIC, event.model_dump_json()),
        _letter(prefix + "victim.v1", '{"tenant": "acme", "meeting_uuid": "m3"}'),  # a topic with no event model
        _letter(prefix + AudioMixed.topic, _event("acme", "m2").model_dump_json()),  # another pipeline topic
        _letter("__consumer_offsets", event.model_dump_json()),
        _letter(prefix + TOPIC, '["not", "the", "event"]'),
        b'{"source_topic": "victim.v1"}',
    ]
    await _produce(infra, DLQ, letters, partition=0)

    counts = await replay(infra, None, ReplayRequest(topic=DLQ))
    assert (counts.scanned, counts.matched, counts.published) == (6, 1, 1)
    assert (counts.misrouted, counts.invalid) == (3, 2)
    assert await _retained(infra, TOPIC) == [event.model_dump_json().encode()]
    assert await _retained(infra, AudioMixed.topic) == []
    assert await _retained(infra, "victim.v1") == []


async def test_a_topic_without_an_event_model_is_refused_before_reading(infra: InfraSettings) -> None:
    await _produce(infra, "victim.v1", [b'{"tenant": "acme", "meeting_uuid": "m1"}'])
    for topic in ("victim.v1", "victim.v1.dlq", DLQ + ".dlq", "__consumer_offsets"):
        with pytest.raises(UsageError, match="not an event topic"):
            await replay(infra, None, ReplayRequest(topic=topic, dry_run=True))


async def test_a_send_error_reports_what_was_done_before_it(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _produce(infra, TOPIC, [_event("acme", m).model_dump_json().encode() for m in ("m1", "m2", "m3")])
    send = AIOKafkaProducer.send_and_wait
    calls = 0

    async def send_once(self: AIOKafkaProducer, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise KafkaTimeoutError()
        return await send(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaProducer, "send_and_wait", send_once)
    with pytest.raises(ReplayStopped) as stopped:
        await replay(infra, None, ReplayRequest(topic=TOPIC))
    assert (stopped.value.counts.matched, stopped.value.counts.published) == (2, 1)
    assert isinstance(stopped.value.cause, KafkaUnavailable)
    assert "published=1" in str(stopped.value)


async def test_a_transaction_marker_at_the_end_does_not_keep_the_reader_waiting(infra: InfraSettings) -> None:
    """The commit marker takes the last offset and is never returned as a record."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, transactional_id=infra.kafka_topic_prefix)
    await producer.start()
    try:
        async with producer.transaction():
            for meeting in ("m1", "m2"):
                await producer.send(
                    infra.kafka_topic_prefix + TOPIC, _event("acme", meeting).model_dump_json().encode()
                )
    finally:
        await producer.stop()
    async with asyncio.timeout(30):
        counts = await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))
    assert (counts.scanned, counts.matched) == (2, 2)


async def test_retention_deleting_records_while_they_are_read_does_not_keep_the_reader_waiting(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records deleted after the end offsets were read: reading goes on from what is still retained."""
    bodies = [_event("acme", m).model_dump_json().encode() for m in ("m1", "m2", "m3")]
    await _produce(infra, TOPIC, bodies, partition=0)
    start_offsets = replay_source._start_offsets

    async def then_delete(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: Any) -> Any:
        starts = await start_offsets(consumer, partitions, since)
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(infra.kafka_topic_prefix + TOPIC, 0): RecordsToDelete(2)})
        finally:
            await admin.close()
        return starts

    monkeypatch.setattr(replay_source, "_start_offsets", then_delete)
    async with asyncio.timeout(30):
        counts = await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))
    assert (counts.scanned, counts.matched) == (1, 1), "the one record still retained"


async def test_a_partition_that_gives_nothing_stops_the_replay_after_a_deadline(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _produce(infra, TOPIC, [_event("acme", "m1").model_dump_json().encode()])

    async def nothing(self: AIOKafkaConsumer, *partitions: TopicPartition, **kwargs: Any) -> dict[Any, Any]:
        await asyncio.sleep(0.05)
        return {}

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", nothing)
    monkeypatch.setattr(replay_source, "READ_IDLE_S", 1.0, raising=False)
    async with asyncio.timeout(30):
        with pytest.raises(ReplayStopped) as stopped:
            await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))
    assert isinstance(stopped.value.cause, KafkaUnavailable)
    assert "no record for 1 s" in str(stopped.value.cause)
    assert stopped.value.counts.scanned == 0
