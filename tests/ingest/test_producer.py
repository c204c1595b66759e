"""The background-connecting producer: fast refusals while Kafka is away, durable publishes once it is there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from zoomsymbl_common.errors import ConfigError, KafkaUnavailable
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.kafka import event_key, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.producer import Producer

from tests.ingest.support import free_port, read_events

EVENT = RecordingCompleted(event_id="e-1", tenant="acme", meeting_uuid="abc//def==")


async def test_a_publish_cut_short_by_the_callers_deadline_still_replaces_a_producer_whose_sender_ended() -> None:
    """A webhook's deadline can end the wait before the publish's own timeout (a slow token write first, or a
    publish timeout set above the deadline). Before, such a publish never replaced the producer, so while every
    publish was cut that way, nothing did: 503 for good."""
    producer = Producer(InfraSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    dead = AIOKafkaProducer(bootstrap_servers=producer.infra.kafka_bootstrap)

    async def died() -> None:
        raise KafkaError("Unexpected error during batch delivery")

    async def queued_for_ever(*_args: Any, **_kwargs: Any) -> None:  # what a send to a producer without sender does
        await asyncio.Event().wait()

    sender = asyncio.create_task(died())
    await asyncio.gather(sender, return_exceptions=True)
    dead._sender._sender_task = sender
    dead.send_and_wait = queued_for_ever
    producer._client = dead
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):  # the request's deadline, far shorter than the publish timeout
            await producer.publish(EVENT, timeout=30.0)
    assert not producer.connected  # replaced: a new producer is connecting in the background
    await producer.close()
    assert dead._closed


async def test_an_unexpected_error_while_connecting_is_retried_not_the_end_of_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, anything but KafkaUnavailable (TLS files unreadable when a renewal read them again) ended the
    background task and nothing started another: not connected, every webhook 503, for good."""
    producer = Producer(InfraSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    attempts: list[int] = []

    async def connect() -> AIOKafkaProducer:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConfigError("cannot use ZOOMSYMBL_KAFKA_SSL_CA_FILE='/tls/ca.pem': No such file or directory")
        return AIOKafkaProducer(bootstrap_servers=producer.infra.kafka_bootstrap)

    monkeypatch.setattr(producer, "_connect", connect)
    await producer.wait_connected(timeout=10.0)
    assert producer.connected
    assert len(attempts) == 2
    await producer.close()


async def test_an_unconnected_producer_refuses_at_once_and_closes_cleanly() -> None:
    infra = InfraSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    producer = Producer(infra)
    producer.start()
    with pytest.raises(KafkaUnavailable):
        await producer.publish(EVENT, timeout=1.0)
    with pytest.raises(KafkaUnavailable):
        await producer.check()
    with pytest.raises(KafkaUnavailable):
        await producer.wait_connected(timeout=0.3)
    await producer.close()
    assert not producer.connected


@pytest.mark.integration
async def test_it_connects_in_the_background_and_publishes(infra: InfraSettings) -> None:
    producer = Producer(infra)
    await producer.wait_connected(timeout=20.0)
    try:
        await producer.check()
        await producer.publish(EVENT, timeout=10.0)
    finally:
        await producer.close()
    assert await read_events(infra, expect=1, quiet=0.5) == [EVENT]
    with pytest.raises(KafkaUnavailable):  # after close: refused, not hung
        await producer.publish(EVENT, timeout=1.0)
    with pytest.raises(KafkaUnavailable):
        await producer.check()


@pytest.mark.integration
async def test_a_webhooks_publish_carries_its_trace_key_and_ids_and_nothing_else(infra: InfraSettings) -> None:
    """The consumers continue the webhook's trace from ``traceparent`` and partition by meeting."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first test to need spans installs the SDK
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    producer = Producer(infra)
    await producer.wait_connected(timeout=20.0)
    try:
        with provider.get_tracer("test").start_as_current_span("POST /webhooks/zoom") as span:
            await producer.publish(EVENT, timeout=10.0)
        await producer.publish(EVENT.model_copy(update={"event_id": "e-2"}), timeout=10.0)  # outside any span
    finally:
        await producer.close()
    topic = topic_name(infra, RecordingCompleted.topic)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        records = [await consumer.getone(), await consumer.getone()]
    finally:
        await consumer.stop()
    first, second = (dict(r.headers) for r in records)
    assert set(first) == {"event_id", "event_type", "traceparent"}
    assert first["event_id"] == b"e-1"
    assert first["event_type"] == b"RecordingCompleted"
    webhook = span.get_span_context()
    _, trace_id, parent_id, _ = first["traceparent"].decode().split("-")
    assert (trace_id, parent_id) == (format(webhook.trace_id, "032x"), format(webhook.span_id, "016x"))
    assert records[0].key == event_key(EVENT)
    _, other_trace, _, _ = second["traceparent"].decode().split("-")
    assert other_trace != trace_id  # the backfill's publish starts a trace of its own


def lose_sequence(client: AIOKafkaProducer) -> None:
    """What a broker restart can leave behind (aio-libs/aiokafka#1017): the producer's sequence numbers ahead of
    what the broker holds for it, so the real broker answers OutOfOrderSequenceNumber to every later send."""
    manager = client._txn_manager
    assert manager is not None
    for partition in list(manager._sequence_numbers):
        manager.increment_sequence_number(partition, 7)


@pytest.mark.integration
async def test_a_producer_that_lost_its_sequence_is_replaced(infra: InfraSettings) -> None:
    """Before, every later webhook was answered 503 until ingest restarted (the reliability suite's Kafka outage)."""
    producer = Producer(infra)
    await producer.wait_connected(timeout=20.0)
    try:
        await producer.publish(EVENT, timeout=10.0)
        lost = producer._client
        assert lost is not None
        lose_sequence(lost)
        with pytest.raises(KafkaUnavailable, match="OutOfOrderSequenceNumber"):
            await producer.publish(EVENT.model_copy(update={"event_id": "e-2"}), timeout=10.0)
        await producer.wait_connected(timeout=20.0)
        await producer.publish(EVENT.model_copy(update={"event_id": "e-3"}), timeout=10.0)
    finally:
        await producer.close()
    assert lost._closed
    assert [e.event_id for e in await read_events(infra, expect=2, quiet=0.5)] == ["e-1", "e-3"]
