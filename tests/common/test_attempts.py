"""Attempt counts in MongoDB: shared by every process of a service, gone when the message is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.attempts import AttemptKey, MongoAttempts
from zoomsymbl_common.events import DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import ATTEMPT_TTL_SECONDS, Mongo, make_mongo, purge_expired
from zoomsymbl_common.records import CONSUMER_ATTEMPTS
from zoomsymbl_common.settings import InfraSettings

pytestmark = pytest.mark.integration
KEY = AttemptKey("mixer", "zoom.recording-completed.v1", "evt-" + "x" * 300)


async def test_begin_counts_and_forget_drops_the_count(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo)
    # One after another, as one partition's owner handles one message: the local FerretDB does not
    # isolate concurrent $inc (MongoDB does), and no two consumers ever count one message at once.
    numbers = [(await attempts.begin(KEY)).number for _ in range(10)]
    assert numbers == list(range(1, 11))
    await attempts.refund(KEY)
    await attempts.failed(KEY, "zoom answered 502")
    attempt = await attempts.begin(KEY)
    assert (attempt.number, attempt.last_error) == (10, "zoom answered 502")
    other = await attempts.begin(AttemptKey("submitter", KEY.topic, KEY.event_id))
    assert other.number == 1, "each consumer group counts on its own"
    await attempts.forget(KEY)
    assert (await attempts.begin(KEY)).number == 1


async def test_a_count_left_behind_expires(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo)
    await attempts.begin(KEY)
    old = datetime.now(tz=UTC) - timedelta(seconds=ATTEMPT_TTL_SECONDS + 60)
    await mongo.db[CONSUMER_ATTEMPTS].update_one({"_id": KEY.doc_id}, {"$set": {"updated_at": old}})
    assert await purge_expired(mongo) == 1
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0
    names = [index["name"] async for index in await mongo.db[CONSUMER_ATTEMPTS].list_indexes()]
    assert "attempt_ttl" in names


@pytest.fixture
async def letters(infra: InfraSettings) -> AsyncIterator[tuple[KafkaBroker, list[DeadLetter]]]:
    broker = KafkaBroker()
    found: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(topic_name(infra, RecordingCompleted.topic)))
    async def dead(message: KafkaMessage) -> None:
        found.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker):
        yield broker, found


async def test_a_redelivery_after_a_crash_continues_the_count_in_a_new_process(
    infra: InfraSettings, mongo: Mongo, letters: tuple[KafkaBroker, list[DeadLetter]]
) -> None:
    broker, found = letters
    topic = topic_name(infra, RecordingCompleted.topic)
    body = RecordingCompleted(event_id="evt-crash", tenant="acme", meeting_uuid="m==").model_dump_json().encode()
    policy = RetryPolicy(max_attempts=3)
    runs = 0

    async def evicted(event: RecordingCompleted) -> None:
        nonlocal runs
        runs += 1
        started.set()
        await asyncio.Event().wait()  # the disk fills up; the pod is evicted

    for _ in range(3):  # each 'process' has its own MongoDB client and consumer: nothing shared in memory
        client = make_mongo(infra)
        consumer = Consumer(broker, infra, "mixer", policy, attempts=MongoAttempts(client))
        started = asyncio.Event()
        task = asyncio.create_task(consumer.consume(topic, body, RecordingCompleted, evicted))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
    assert (runs, found) == (3, [])
    client = make_mongo(infra)
    try:
        consumer = Consumer(broker, infra, "mixer", policy, attempts=MongoAttempts(client))
        await consumer.consume(topic, body, RecordingCompleted, evicted)
    finally:
        await client.close()
    assert runs == 3, "a fourth run would be evicted again"
    [letter] = found
    assert (letter.error_type, letter.attempts, letter.event_id) == ("Interrupted", 3, "evt-crash")
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0, "dropped once dead-lettered"
