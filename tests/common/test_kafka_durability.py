"""Nothing is acknowledged before it is durable, and nothing that was never durable is acted on (real Kafka).

An aborted transaction's records stay in the log until retention deletes them; a reader in
``read_uncommitted`` returns them as if they had been written. Dead letters carry the meeting's key, as
every other message of the meeting does, so a meeting's dead letters keep their order on a ``.dlq``
topic of several partitions.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from zoomsymbl_common.consumer import Consumer, RetryPolicy
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import DeadLetter, RecordingCompleted, stable_id
from zoomsymbl_common.kafka import event_key, make_broker, start_broker, topic_name
from zoomsymbl_common.ops.replay import ReplayRequest, replay
from zoomsymbl_common.settings import InfraSettings

from tests.common.test_kafka_integration import first_record

pytestmark = pytest.mark.integration
TOPIC = RecordingCompleted.topic


def _event(meeting: str) -> RecordingCompleted:
    return RecordingCompleted(event_id=stable_id("acme", meeting), tenant="acme", meeting_uuid=meeting)


async def _in_transaction(infra: InfraSettings, events: list[RecordingCompleted], *, commit: bool) -> None:
    """Write ``events`` to ``TOPIC`` in one transaction, then commit or abort it."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, transactional_id=f"{infra.kafka_topic_prefix}{commit}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for event in events:
            await producer.send_and_wait(
                topic_name(infra, TOPIC), event.model_dump_json().encode(), key=event_key(event), partition=0
            )
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


async def _settled(infra: InfraSettings) -> None:
    """Wait until a committed reader sees partition 0 to its end: the broker writes a transaction's markers after
    it answered the commit, so the last stable offset may lag the high watermark for a moment (under load, long
    enough for the replay to read an end offset before the committed event)."""
    tp = TopicPartition(topic_name(infra, TOPIC), 0)
    readers = [
        AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, isolation_level=i)
        for i in ("read_committed", "read_uncommitted")
    ]
    for reader in readers:
        await reader.start()
    try:
        async with asyncio.timeout(30):
            while True:
                stable, high = [(await r.end_offsets([tp]))[tp] for r in readers]
                if stable == high:
                    return
                await asyncio.sleep(0.05)
    finally:
        for reader in readers:
            await reader.stop()


async def test_replay_does_not_republish_an_aborted_transactions_records(infra: InfraSettings) -> None:
    """The aborted event was never acknowledged to anyone: replaying it would start a meeting nobody sent."""
    await _in_transaction(infra, [_event("aborted")], commit=False)
    await _in_transaction(infra, [_event("committed")], commit=True)
    await _settled(infra)

    async with asyncio.timeout(60):
        counts = await replay(infra, None, ReplayRequest(topic=TOPIC, dry_run=True))

    assert counts.matched == 1, f"only the committed event is replayable, got {counts}"


async def _first_record(infra: InfraSettings, topic: str) -> tuple[bytes | None, bytes]:
    record = await first_record(infra, topic)
    assert record.value is not None
    return record.key, record.value


async def test_a_dead_letter_is_keyed_by_its_meeting(infra: InfraSettings) -> None:
    source = topic_name(infra, TOPIC)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(DeadLetter.topic_for(source), 4, 1)])
    finally:
        await admin.close()
    broker = make_broker(infra, "test")
    await start_broker(broker)
    event = _event("m-dlq")

    async def poison(_: RecordingCompleted) -> None:
        raise PoisonInputError("corrupt audio", stage="mix")

    try:
        consumer = Consumer(broker, infra, "test", RetryPolicy(max_attempts=1))
        await consumer.consume(source, event.model_dump_json().encode(), RecordingCompleted, poison)
    finally:
        await broker.stop()

    key, body = await _first_record(infra, DeadLetter.topic_for(source))
    assert DeadLetter.model_validate_json(body).event_id == event.event_id
    assert key == event_key(event), "a meeting's dead letters share its partition, like its events"
