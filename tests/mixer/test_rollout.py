"""A rollout stopping the mixer during a meeting's mix spends an interruption, not one of the meeting's attempts.

Real Kafka and the MongoDB-wire server: the service's broker stops after its grace period and cancels the mix in hand
(as on SIGTERM), the meeting's message is not committed, and the next process mixes it with its attempts intact.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from faststream.kafka import KafkaBroker
from zoomsymbl_common.attempts import AttemptKey, MongoAttempts
from zoomsymbl_common.events import Event, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, make_broker, start_broker, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.poll_deadline import PollDeadline
from zoomsymbl_common.records import CONSUMER_ATTEMPTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.handlers import register_subscribers

pytestmark = pytest.mark.integration
EVENT = RecordingCompleted(event_id="evt-rollout", tenant="acme", meeting_uuid="rollout==")


@dataclass
class Mixes:
    """Each process's mix of the meeting: the first one's never ends."""

    runs: list[int] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def mix(self, event: RecordingCompleted, process: int) -> None:
        self.runs.append(process)
        self.started.set()
        if process == 0:
            await asyncio.Event().wait()  # the rollout comes first
        self.done.set()


async def _give_up(event: Event | None, stage: str, reason: str) -> None:
    raise AssertionError(f"unexpected give-up at {stage}: {reason}")


async def _process(
    infra: InfraSettings, mongo: Mongo, mixes: Mixes, number: int
) -> tuple[tuple[KafkaBroker, PollDeadline], MongoAttempts]:
    broker = make_broker(infra, "mixer", graceful_timeout=0.5)
    attempts = MongoAttempts(mongo)
    consumer = Consumer(broker, infra, "mixer", RetryPolicy(max_attempts=1), attempts=attempts)

    async def mix(event: RecordingCompleted) -> None:
        await mixes.mix(event, number)

    deadline = register_subscribers(broker, consumer, mix, _give_up)
    await start_broker(broker, timeout=30)
    return (broker, deadline), attempts


async def test_a_rollout_during_a_mix_spends_no_attempt_and_the_next_process_mixes(
    infra: InfraSettings, mongo: Mongo
) -> None:
    mixes = Mixes()
    key = AttemptKey("mixer", topic_name(infra, RecordingCompleted.topic), EVENT.event_id)
    (broker, deadline), attempts = await _process(infra, mongo, mixes, 0)
    try:
        await broker.publish(EVENT.model_dump_json().encode(), topic=key.topic, key=b"acme\x1frollout==")
        async with asyncio.timeout(60):  # the bound of the test
            await mixes.started.wait()
    finally:
        await broker.stop()  # SIGTERM: the grace period passes, the mix in hand is cancelled
        await deadline.close()
    doc = await mongo.db[CONSUMER_ATTEMPTS].find_one({"_id": key.doc_id})
    assert doc is not None and (doc["count"], doc.get("interruptions", 0)) == (0, 1)

    (broker, deadline), attempts = await _process(infra, mongo, mixes, 1)  # max_attempts=1: a spent one would end it
    try:
        async with asyncio.timeout(60):  # the bound of the test: the message comes back at the next poll
            await mixes.done.wait()
    finally:
        await broker.stop()
        await deadline.close()
        await attempts.close()
    assert mixes.runs == [0, 1]
    assert await mongo.db[CONSUMER_ATTEMPTS].count_documents({"_id": key.doc_id}) == 0, "done: its count dropped"
