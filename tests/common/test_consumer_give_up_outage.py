"""A give-up that an outage of our own servers stops (the hook's publish, the dead letter past the outage wait) leaves
consume, so the message comes again; the attempt it ended is given back, as any outage's is.

Before, that attempt stayed spent: a message that ran out of attempts came again as attempt budget + 1 and was
dead-lettered as "the last was cut short (the service stopped)", error type ``Interrupted``, its meeting failed with
that reason instead of its real error; each further outage at the give-up added one to the attempts it named.
"""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker
from zoomsymbl_common.attempts import MemoryAttempts
from zoomsymbl_common.errors import KafkaUnavailable, PoisonInputError, RetryableError
from zoomsymbl_common.events import DeadLetter, Event, RecordingCompleted
from zoomsymbl_common.kafka import Consumer

from tests.common.test_consumer_refunds import BODY, INFRA, POLICY, TOPIC, _no_sleep, letters

__all__ = ["letters"]  # the fixture: its broker collects the dead letters of TOPIC


@pytest.mark.parametrize(
    ("error", "reason", "error_type"),
    [
        (RetryableError("zoom answered 502"), "gave up after 3 attempts: zoom answered 502", "RetryableError"),
        (PoisonInputError("not audio", stage="verify"), "not audio", "PoisonInputError"),
    ],
    ids=["budget-spent", "poison-on-the-last-attempt"],
)
async def test_a_redelivery_after_an_outage_at_the_give_up_dead_letters_the_real_reason(
    letters: tuple[KafkaBroker, list[DeadLetter]], error: Exception, reason: str, error_type: str
) -> None:
    broker, found = letters
    store = MemoryAttempts()  # kept across the redeliveries, as MongoAttempts keeps it
    consumer = Consumer(broker, INFRA, "svc", POLICY, sleep=_no_sleep, attempts=store)
    outages = [2]  # the hook's publish fails at the first two give-ups, as Kafka is away
    announced: list[str] = []

    async def hook(event: Event | None, stage: str, why: str) -> None:
        announced.append(why)
        if outages[0]:
            outages[0] -= 1
            raise KafkaUnavailable("publish not acknowledged")

    calls = [0]

    async def handler(event: RecordingCompleted) -> None:  # two retryable failures, then ``error`` every time
        calls[0] += 1
        raise RetryableError("zoom answered 502") if calls[0] < 3 else error

    for _ in range(2):  # the offset is not committed: the message comes again
        with pytest.raises(KafkaUnavailable):
            await consumer.consume(TOPIC, BODY, RecordingCompleted, handler, hook)
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler, hook)
    [letter] = found
    assert (letter.reason, letter.error_type, letter.attempts) == (reason, error_type, 3)
    assert announced == [reason] * 3
