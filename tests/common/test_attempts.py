"""Attempt counts in MongoDB: shared by every process of a service, gone when the message is done.

Gone behind the message: a forgotten count is queued and deleted in batches (one command), not
on the message's path; begun again before that delete, it restarts at 1, never continues.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from pymongo import DeleteOne
from zoomsymbl_common.attempts import AttemptKey, MongoAttempts
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import ATTEMPT_TTL_SECONDS, Mongo, make_mongo, purge_expired
from zoomsymbl_common.records import CONSUMER_ATTEMPTS
from zoomsymbl_common.service import ATTEMPTS, mongo_context, new_app
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
    await attempts.close()


async def test_an_interruption_is_counted_apart_and_restarts_with_the_message(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo)
    key = AttemptKey("transcriber", KEY.topic, "evt-interrupted")
    for _ in range(3):  # three rollouts during the handler
        assert (await attempts.begin(key)).number == 1
        await attempts.interrupted(key)
    await attempts.failed(key, "zoom answered 502")  # noted on the count, as after a failed attempt
    attempt = await attempts.begin(key)
    assert (attempt.number, attempt.interruptions, attempt.last_error) == (1, 3, "zoom answered 502")
    await attempts.forget(key)
    again = await attempts.begin(key)  # a replay of the done message, its delete still queued
    assert (again.number, again.interruptions, again.last_error) == (1, 0, None)
    await attempts.close()


async def _count(mongo: Mongo, key: AttemptKey = KEY) -> int | None:
    doc = await mongo.db[CONSUMER_ATTEMPTS].find_one({"_id": key.doc_id})
    return None if doc is None else int(doc["count"])


@dataclass
class Deletes:
    """The collection's batched deletes (``bulk_write``), held at a gate or failed on request."""

    real: Any
    calls: list[list[str]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False
    bug: bool = False

    async def bulk_write(self, requests: list[DeleteOne], **options: Any) -> Any:
        self.calls.append([request._filter["_id"] for request in requests])
        self.sent.set()
        await self.gate.wait()
        if self.fail:
            raise MongoUnavailable("ServerSelectionTimeoutError")
        if self.bug:
            raise TypeError("a bug in the delete")
        return await self.real.bulk_write(requests, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _watched(attempts: MongoAttempts, *, open_gate: bool = True) -> Deletes:
    deletes = Deletes(attempts._collection)
    if open_gate:
        deletes.gate.set()
    attempts._collection = deletes  # type: ignore[assignment]
    return deletes


async def test_forgotten_counts_are_deleted_behind_in_one_batch_and_on_close(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo, linger=0.2)
    deletes = _watched(attempts)
    keys = [AttemptKey("notifier", KEY.topic, f"evt-{i}") for i in range(5)]
    for key in keys:
        await attempts.begin(key)
    for key in keys:
        await attempts.forget(key)
    assert deletes.calls == [], "forget returns before anything is deleted"
    assert [await _count(mongo, key) for key in keys] == [1] * 5
    await eventually_deleted(mongo, keys)
    assert deletes.calls == [[key.doc_id for key in keys]], "one command for all five"

    lazy = MongoAttempts(mongo, linger=3600)
    await lazy.begin(KEY)
    await lazy.forget(KEY)
    assert await _count(mongo) == 1 and lazy.pending == 1
    await lazy.close()
    assert await _count(mongo) is None, "close deletes what is queued"
    await lazy.begin(KEY)
    await lazy.forget(KEY)
    assert await _count(mongo) is None, "after close, forget deletes at once"
    await attempts.close()


async def eventually_deleted(mongo: Mongo, keys: list[AttemptKey]) -> None:
    for _ in range(100):
        if await mongo.db[CONSUMER_ATTEMPTS].count_documents({"_id": {"$in": [k.doc_id for k in keys]}}) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the forgotten counts were not deleted behind")


async def test_a_message_begun_again_before_its_delete_restarts_at_one(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo, linger=3600)
    for _ in range(3):
        await attempts.begin(KEY)
    await attempts.failed(KEY, "zoom answered 502")
    await attempts.begin(KEY)
    await attempts.forget(KEY)  # done at its 4th attempt; the delete is queued
    again = await attempts.begin(KEY)  # redelivered (an uncommitted offset, a replay) before the delete
    assert (again.number, again.last_error) == (1, None), "not 5: the done attempts are not counted again"
    assert attempts.pending == 0, "the queued delete is dropped: it would delete the new count"
    await attempts.flush()
    assert await _count(mongo) == 1, "the new attempt's count stays"
    assert (await attempts.begin(KEY)).number == 2
    await attempts.close()


async def test_a_message_begun_while_its_delete_is_in_flight_waits_for_it(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo, linger=3600)
    deletes = _watched(attempts, open_gate=False)
    for _ in range(3):
        await attempts.begin(KEY)
    await attempts.forget(KEY)
    flush = asyncio.create_task(attempts.flush())
    await deletes.sent.wait()
    begin = asyncio.create_task(attempts.begin(KEY))
    await asyncio.sleep(0.2)
    assert not begin.done(), "begin waits while the delete is in flight"
    deletes.gate.set()
    await flush
    assert (await begin).number == 1, "counted after the delete, from 1"
    assert await _count(mongo) == 1, "and the delete did not take the new count"
    await attempts.close()


async def test_a_delete_that_fails_is_queued_again_and_a_begin_meanwhile_restarts_at_one(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo, linger=3600)
    deletes = _watched(attempts)
    deletes.fail = True
    await attempts.begin(KEY)
    await attempts.begin(KEY)
    await attempts.forget(KEY)
    with pytest.raises(MongoUnavailable):
        await attempts.flush()
    assert attempts.pending == 1 and await _count(mongo) == 2, "not deleted, still queued"
    assert (await attempts.begin(KEY)).number == 1, "restarts at 1 all the same"
    deletes.fail = False
    other = AttemptKey("notifier", KEY.topic, "evt-other")
    await attempts.begin(other)
    await attempts.forget(other)
    await attempts.close()
    assert (await _count(mongo), await _count(mongo, other)) == (1, None)


async def _drained(attempts: MongoAttempts) -> None:
    for _ in range(1000):
        if not attempts.pending:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the queued counts were neither deleted nor given up")


async def test_a_delete_that_fails_for_another_reason_is_not_retried_its_counts_expire(
    mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = MongoAttempts(mongo, linger=0.01)
    deletes = _watched(attempts)
    deletes.bug = True
    await attempts.begin(KEY)
    with caplog.at_level(logging.ERROR, logger="zoomsymbl.attempts"):
        await attempts.forget(KEY)
        await asyncio.wait_for(deletes.sent.wait(), timeout=10)
        await _drained(attempts)  # given up, not retried every second
    assert len(deletes.calls) == 1 and await _count(mongo) == 1, "one try, the count left to its TTL"
    assert [r.getMessage() for r in caplog.records] == ["attempt counts left to expire"]
    await attempts.close()


async def test_the_queue_is_bounded_a_full_one_is_deleted_before_forget_returns(mongo: Mongo) -> None:
    attempts = MongoAttempts(mongo, linger=3600, max_pending=3, batch=2)
    deletes = _watched(attempts)
    keys = [AttemptKey("notifier", KEY.topic, f"evt-{i}") for i in range(3)]
    for key in keys:
        await attempts.begin(key)
        await attempts.forget(key)
    assert attempts.pending == 0 and deletes.calls == [[k.doc_id for k in keys[:2]], [keys[2].doc_id]]
    assert [await _count(mongo, key) for key in keys] == [None] * 3
    await attempts.close()


async def test_the_service_skeleton_deletes_what_is_queued_before_mongodb_closes(
    infra: InfraSettings, mongo: Mongo
) -> None:
    app = new_app("notifier", infra)
    context = mongo_context(indexes=False)(app)
    await anext(context)
    attempts = app[ATTEMPTS]
    await attempts.begin(KEY)
    await attempts.forget(KEY)
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    assert await _count(mongo) is None, "deleted on shutdown"


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


@dataclass
class Processes:
    """One message delivered to process after process, each with its own MongoDB client and consumer."""

    infra: InfraSettings
    broker: KafkaBroker
    policy: RetryPolicy
    runs: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def body(self) -> bytes:
        return RecordingCompleted(event_id="evt-crash", tenant="acme", meeting_uuid="m==").model_dump_json().encode()

    async def evicted(self, event: RecordingCompleted) -> None:
        self.runs += 1
        self.started.set()
        await asyncio.Event().wait()  # the disk fills up; the pod is evicted (or a rollout replaces it)

    async def stopped(self, *, killed: bool) -> None:
        """A process that starts on the message and is stopped in its handler: killed outright, or gracefully."""
        client = make_mongo(self.infra)
        consumer = Consumer(self.broker, self.infra, "mixer", self.policy, attempts=MongoAttempts(client))
        self.started = asyncio.Event()
        topic = topic_name(self.infra, RecordingCompleted.topic)
        task = asyncio.create_task(consumer.consume(topic, self.body, RecordingCompleted, self.evicted))
        waiter = asyncio.create_task(self.started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if killed:  # SIGKILL: nothing of this process's reaches MongoDB any more
            await client.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()

    async def last(self) -> None:
        """One more process, which runs to the end."""
        client = make_mongo(self.infra)
        attempts = MongoAttempts(client)
        try:
            consumer = Consumer(self.broker, self.infra, "mixer", self.policy, attempts=attempts)
            topic = topic_name(self.infra, RecordingCompleted.topic)
            await consumer.consume(topic, self.body, RecordingCompleted, self.evicted)
            await attempts.close()
        finally:
            await client.close()


async def test_a_redelivery_after_a_crash_continues_the_count_in_a_new_process(
    infra: InfraSettings, mongo: Mongo, letters: tuple[KafkaBroker, list[DeadLetter]]
) -> None:
    broker, found = letters
    processes = Processes(infra, broker, RetryPolicy(max_attempts=3))
    for _ in range(3):  # each 'process' has its own MongoDB client and consumer: nothing shared in memory
        await processes.stopped(killed=True)
    assert (processes.runs, found) == (3, [])
    await processes.last()
    assert processes.runs == 3, "a fourth run would be killed again"
    [letter] = found
    assert (letter.error_type, letter.attempts, letter.event_id) == ("Interrupted", 3, "evt-crash")
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0, "dropped once dead-lettered"


async def test_graceful_stops_spend_the_interruption_budget_not_the_attempts(
    infra: InfraSettings, mongo: Mongo, letters: tuple[KafkaBroker, list[DeadLetter]]
) -> None:
    broker, found = letters
    processes = Processes(infra, broker, RetryPolicy(max_attempts=2, max_interruptions=4))
    for _ in range(4):  # four rollouts while the message is in hand: more stops than attempts
        await processes.stopped(killed=False)
    assert (processes.runs, found) == (4, [])
    await processes.last()
    assert processes.runs == 4, "a message that every process stops in is given up after the interruption budget"
    [letter] = found
    assert (letter.error_type, letter.attempts) == ("Interrupted", 4)
    assert letter.reason.startswith("gave up after 4 interruptions")
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({}) == 0
