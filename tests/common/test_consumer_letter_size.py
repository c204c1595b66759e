"""A dead letter always fits in one Kafka message, whatever the message it carries (real Kafka).

The letter quotes the message as JSON text: a byte that is not UTF-8 becomes U+FFFD (three bytes), a control
character ``\\u0000`` (six). A message of a few hundred kilobytes (another producer's Avro or protobuf on our
topic, a hostile writer) then made a letter over the producer's 1 MiB request limit, refused at every try: the
consumer waited it out as a Kafka outage, left ``consume`` (offset not committed), and the redelivered message
did the same again, for good, holding up every meeting behind it on its partition.
"""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.consumer import Consumer, RetryPolicy
from zoomsymbl_common.dead_letters import DEAD_LETTER_MAX_BYTES, fitted
from zoomsymbl_common.events import DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import make_broker, start_broker, topic_name
from zoomsymbl_common.settings import InfraSettings

from tests.common.test_kafka_integration import first_record

GARBAGE = bytes(range(128, 256)) * 3000  # 384,000 bytes that are not UTF-8: 1.15 MB as a letter's JSON
CONTROLS = b"\x01" * 200_000  # 200 kB of a control character: 1.2 MB as a letter's JSON
POLICY = RetryPolicy(max_attempts=1, base_delay=0.001, max_delay=0.002, max_outage_wait=0.01)


async def _no_sleep(_: float) -> None:
    return None


async def _never(_: RecordingCompleted) -> None:
    raise AssertionError("an unparsable message is never handled")


def _letter(payload: str) -> DeadLetter:
    return DeadLetter(source_topic="t", service="svc", reason="why", error_type="E", attempts=1, payload=payload)


@pytest.mark.parametrize("payload", ["\x00" * 300_000, "\ufffd" * 500_000, "\\" * 600_000, "a" * 2_000_000])
def test_a_letter_over_the_limit_keeps_the_longest_start_of_its_payload_that_fits(payload: str) -> None:
    letter = fitted(_letter(payload))
    size = len(letter.model_dump_json().encode())
    assert size <= DEAD_LETTER_MAX_BYTES
    assert payload.startswith(letter.payload) and len(letter.payload) > 0
    assert size > DEAD_LETTER_MAX_BYTES - 6, "no character more would fit (one is six bytes at most)"
    assert letter.reason == (
        f"why; payload cut to its first {len(letter.payload)} of {len(payload)} characters to fit a Kafka message"
    )


def test_a_letter_that_fits_is_left_whole() -> None:
    letter = _letter("\x00" * 1000)
    assert fitted(letter) is letter


@pytest.mark.parametrize("body", [GARBAGE, CONTROLS], ids=["not-utf8", "controls"])
async def test_every_letter_the_consumer_writes_fits_in_a_kafka_message(body: bytes) -> None:
    infra = InfraSettings(kafka_topic_prefix="unit-letter-size-")
    source = topic_name(infra, RecordingCompleted.topic)
    broker = KafkaBroker()
    sizes: list[int] = []

    @broker.subscriber(DeadLetter.topic_for(source))
    async def dead(message: KafkaMessage) -> None:
        sizes.append(len(message.body))

    async with TestKafkaBroker(broker):
        await Consumer(broker, infra, "svc", POLICY, sleep=_no_sleep).consume(source, body, RecordingCompleted, _never)
    assert len(sizes) == 1 and sizes[0] <= DEAD_LETTER_MAX_BYTES, sizes


@pytest.mark.integration
@pytest.mark.parametrize("body", [GARBAGE, CONTROLS], ids=["not-utf8", "controls"])
async def test_a_message_of_a_few_hundred_kilobytes_is_dead_lettered_not_redelivered_for_ever(
    infra: InfraSettings, body: bytes
) -> None:
    source = topic_name(infra, RecordingCompleted.topic)
    broker = make_broker(infra, "test")
    await start_broker(broker)
    try:
        consumer = Consumer(broker, infra, "test", POLICY, sleep=_no_sleep)
        # Before: KafkaUnavailable (MessageSizeTooLargeError) left consume, at every redelivery.
        await consumer.consume(source, body, RecordingCompleted, _never)
    finally:
        await broker.stop()

    record = await first_record(infra, DeadLetter.topic_for(source))
    assert record.value is not None
    letter = DeadLetter.model_validate_json(record.value)
    original = body.decode("utf-8", errors="replace")
    assert letter.error_type == "ValidationError" and letter.event_id is None
    assert 0 < len(letter.payload) < len(original) and original.startswith(letter.payload)
    assert letter.reason.endswith(f"of {len(original)} characters to fit a Kafka message")
