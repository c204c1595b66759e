"""The background-connecting producer: fast refusals while Kafka is away, durable publishes once it is there."""

from __future__ import annotations

import pytest
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.kafka import kafka_check, make_broker
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.producer import Producer

from tests.ingest.support import free_port, read_events

EVENT = RecordingCompleted(event_id="e-1", tenant="acme", meeting_uuid="abc//def==")


async def test_an_unconnected_producer_refuses_at_once_and_closes_cleanly() -> None:
    infra = InfraSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    producer = Producer(make_broker(infra, "ingest"), infra)
    producer.start()
    with pytest.raises(KafkaUnavailable):
        await producer.publish(EVENT, timeout=1.0)
    with pytest.raises(KafkaUnavailable):
        await kafka_check(producer.broker)()
    with pytest.raises(KafkaUnavailable):
        await producer.wait_connected(timeout=0.3)
    await producer.close()
    assert not producer.connected


@pytest.mark.integration
async def test_it_connects_in_the_background_and_publishes(infra: InfraSettings) -> None:
    producer = Producer(make_broker(infra, "ingest"), infra)
    await producer.wait_connected(timeout=20.0)
    try:
        await kafka_check(producer.broker)()
        await producer.publish(EVENT, timeout=10.0)
    finally:
        await producer.close()
    assert await read_events(infra, expect=1, quiet=0.5) == [EVENT]
    with pytest.raises(KafkaUnavailable):  # after close: refused, not hung
        await producer.publish(EVENT, timeout=1.0)
