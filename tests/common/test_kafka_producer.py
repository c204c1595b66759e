"""A FastStream broker whose idempotent producer lost its sequence with the broker gets a new one (real Kafka).

aiokafka never resets an idempotent producer's sequence numbers (aio-libs/aiokafka#1017): after a broker restart the
broker may refuse every later send with OutOfOrderSequenceNumber. The whole restart runs in
tests/reliability/test_kafka_restart.py; here the producer's sequence is put ahead of the broker's by hand, and the
real broker refuses it.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, OutOfOrderSequenceNumber
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import DeadLetter, RecordingCompleted, stable_id
from zoomsymbl_common.kafka import dead_letter, make_broker, publish_event, start_broker, topic_name
from zoomsymbl_common.kafka_producer import broker_producer, producer_lost
from zoomsymbl_common.settings import InfraSettings

from tests.ingest.test_producer import lose_sequence

TOPIC = RecordingCompleted.topic


def _event(meeting: str) -> RecordingCompleted:
    return RecordingCompleted(event_id=stable_id("acme", meeting), tenant="acme", meeting_uuid="same-meeting")


async def _ids(infra: InfraSettings, topic: str, expect: int) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = [await asyncio.wait_for(consumer.getone(), timeout=30) for _ in range(expect)]
    finally:
        await consumer.stop()
    return [dict(r.headers)["event_id"].decode() for r in records]


async def test_lost_sequence_answers_mean_a_lost_producer_and_kafka_away_does_not() -> None:
    assert producer_lost(OutOfOrderSequenceNumber(), None)
    assert not producer_lost(KafkaConnectionError(), None)  # Kafka away: the same producer reconnects
    assert not producer_lost(TimeoutError(), AIOKafkaProducer(bootstrap_servers="127.0.0.1:1"))  # never started


def test_a_renewed_producer_gets_the_brokers_security_options() -> None:
    """renew_broker_producer builds the new producer from the options FastStream built the first one with."""
    broker = make_broker(InfraSettings(kafka_security_protocol="SSL"), "test")
    options = broker._connection_kwargs
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"] is not None
    assert options["enable_idempotence"] is True and options["acks"] == "all"


async def test_a_dead_sender_task_is_a_lost_producer() -> None:
    client = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")

    async def died() -> None:
        raise OutOfOrderSequenceNumber()

    task = asyncio.create_task(died())
    await asyncio.gather(task, return_exceptions=True)
    client._sender._sender_task = task
    assert producer_lost(TimeoutError(), client)


@pytest.mark.integration
async def test_a_publish_before_the_start_or_after_the_stop_is_kafka_unavailable(infra: InfraSettings) -> None:
    """Work the service's stop has not cancelled yet publishing after the producer closed: before, FastStream's
    ``IncorrectState`` was a handler's unexpected failure, which spent one of the message's attempts."""
    broker = make_broker(infra, "test")
    with pytest.raises(KafkaUnavailable, match="not connected"):
        await publish_event(broker, infra, _event("before"))
    await start_broker(broker, timeout=30)
    await broker.stop()
    with pytest.raises(KafkaUnavailable, match="not connected"):
        await dead_letter(broker, infra, DeadLetter(source_topic=TOPIC, service="test", reason="r", error_type="E",
                                                    attempts=1, payload="{}"))  # fmt: skip


@pytest.mark.integration
async def test_publishing_goes_on_through_a_new_producer(
    infra: InfraSettings, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(infra, "test")
    await start_broker(broker)
    try:
        await publish_event(broker, infra, _event("before"), timeout=10.0)
        lost = broker_producer(broker)
        assert lost is not None
        lose_sequence(lost)
        caplog.set_level(logging.WARNING, logger="zoomsymbl.kafka")
        refused = await asyncio.gather(
            *(publish_event(broker, infra, _event(f"refused-{n}"), timeout=10.0) for n in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, KafkaUnavailable) and "OutOfOrderSequenceNumber" in str(r) for r in refused)
        assert [r.message for r in caplog.records].count(
            "kafka producer renewed after it lost its sequence with the broker"
        ) == 1
        await publish_event(broker, infra, _event("after"), timeout=10.0)
        renewed = broker_producer(broker)
        assert renewed is not None and renewed is not lost
        assert lost._closed
        # A dead letter goes the same way (the consumer policy's last step).
        letter = DeadLetter(
            source_topic=topic_name(infra, TOPIC),
            service="test",
            reason="test",
            error_type="PoisonInputError",
            attempts=1,
            payload="{}",
            event_id="dl-0",
        )
        await dead_letter(broker, infra, letter, key=b"same-meeting")
        lose_sequence(renewed)
        with pytest.raises(KafkaUnavailable, match=r"dead-letter to .* OutOfOrderSequenceNumber"):
            await dead_letter(broker, infra, letter.model_copy(update={"event_id": "dl-1"}), key=b"same-meeting")
        await dead_letter(broker, infra, letter.model_copy(update={"event_id": "dl-2"}), key=b"same-meeting")
    finally:
        await broker.stop()
    assert await _ids(infra, topic_name(infra, TOPIC), 2) == [_event("before").event_id, _event("after").event_id]
    assert await _ids(infra, DeadLetter.topic_for(topic_name(infra, TOPIC)), 2) == ["dl-0", "dl-2"]
