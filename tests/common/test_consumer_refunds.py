"""An attempt that ends in an outage of MongoDB is given back, even though MongoDB is away when it ends.

The handler meets the outage first; the refund of its attempt goes to the same MongoDB right after and
fails too. Before, that refund was logged and dropped: each outage that began during an attempt spent it,
so a message meeting a few MongoDB outages (a flapping network, elections) was dead-lettered as "the last
was cut short (the service stopped)" and its meeting failed, though nothing stopped and the outage wait
(``max_outage_wait``) was far from spent; the real failures of a message got fewer tries too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.attempts import Attempt, AttemptKey, MemoryAttempts
from zoomsymbl_common.errors import MongoUnavailable, RateLimitedError, RetryableError
from zoomsymbl_common.events import DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings

INFRA = InfraSettings(kafka_topic_prefix="unit-refunds-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
EVENT = RecordingCompleted(event_id="evt-refund", tenant="acme", meeting_uuid="m1==")
BODY = EVENT.model_dump_json().encode()
KEY = AttemptKey("svc", TOPIC, EVENT.event_id)
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=0.001)


class FlakyMongo(MemoryAttempts):
    """Counts kept as MongoAttempts keeps them, on a server the handler can take down for the next ``n`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.down_for = 0
        self.begun: list[int] = []

    def _call(self) -> None:
        if self.down_for:
            self.down_for -= 1
            raise MongoUnavailable("ServerSelectionTimeoutError")

    async def begin(self, key: AttemptKey) -> Attempt:
        self._call()
        attempt = await super().begin(key)
        self.begun.append(attempt.number)
        return attempt

    async def failed(self, key: AttemptKey, reason: str) -> None:
        self._call()
        await super().failed(key, reason)

    async def refund(self, key: AttemptKey) -> None:
        self._call()
        await super().refund(key)

    async def forget(self, key: AttemptKey) -> None:
        self._call()
        await super().forget(key)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def letters() -> AsyncIterator[tuple[KafkaBroker, list[DeadLetter]]]:
    broker = KafkaBroker()
    found: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        found.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker):
        yield broker, found


@pytest.mark.parametrize("outage_calls", [1, 3], ids=["the-refund", "refund-and-next-begins"])
async def test_outages_that_begin_during_attempts_never_spend_the_budget(
    letters: tuple[KafkaBroker, list[DeadLetter]], outage_calls: int
) -> None:
    broker, found = letters
    store = FlakyMongo()
    calls = [0]

    async def handler(_: RecordingCompleted) -> None:
        calls[0] += 1
        if calls[0] <= 5:  # five outages, more than the budget of 3, each starting mid-attempt
            store.down_for = outage_calls
            raise MongoUnavailable("AutoReconnect")

    await Consumer(broker, INFRA, "svc", POLICY, sleep=_no_sleep, attempts=store).consume(
        TOPIC, BODY, RecordingCompleted, handler
    )
    assert found == [], "handled on the sixth try: no dead letter"
    assert calls == [6]
    assert store.begun == [1] * 6, "every attempt the outages ended was given back"
    assert (await store.begin(KEY)).number == 1, "the count was dropped once the message was handled"


async def test_a_429_whose_refund_failed_still_leaves_the_whole_budget_to_real_failures(
    letters: tuple[KafkaBroker, list[DeadLetter]],
) -> None:
    broker, found = letters
    store = FlakyMongo()
    calls = [0]

    async def handler(_: RecordingCompleted) -> None:
        calls[0] += 1
        if calls[0] <= 2:
            store.down_for = 1  # MongoDB away for the refund of this 429
            raise RateLimitedError("provider 429", retry_after=0.001)
        raise RetryableError("provider 503")

    await Consumer(broker, INFRA, "svc", POLICY, sleep=_no_sleep, attempts=store).consume(
        TOPIC, BODY, RecordingCompleted, handler
    )
    [letter] = found
    assert calls == [2 + 3], "two 429s, then the three tries of the budget"
    assert letter.attempts == 3 and letter.reason == "gave up after 3 attempts: provider 503"
