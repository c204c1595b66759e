"""Our Kafka wrapper against the real local broker."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import RecordingCompleted, stable_id
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker, topic_name
from zoomsymbl_common.service import ServiceSettings, service_broker
from zoomsymbl_common.settings import InfraSettings

pytestmark = pytest.mark.integration


async def first_record(infra: InfraSettings, topic: str) -> ConsumerRecord[bytes, bytes]:
    """The first record of ``topic`` (waited for up to 30 s), with a value."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert record.value is not None
    return record


async def _read_one(infra: InfraSettings, topic: str) -> tuple[bytes, dict[str, bytes]]:
    record = await first_record(infra, topic)
    assert record.value is not None
    return record.value, dict(record.headers)


async def test_typed_event_with_trace_headers_round_trips(infra: InfraSettings) -> None:
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    event = RecordingCompleted(
        event_id=stable_id("acme", "abc//def==", "f1"), tenant="acme", meeting_uuid="abc//def==", topic_text="Sync"
    )
    broker = make_broker(infra, "test")
    await start_broker(broker)
    try:
        with provider.get_tracer("test").start_as_current_span("webhook") as span:
            await publish_event(broker, infra, event, timeout=20)
    finally:
        await broker.stop()
    body, headers = await _read_one(infra, topic_name(infra, RecordingCompleted.topic))
    assert RecordingCompleted.model_validate_json(body) == event
    assert headers["event_id"].decode() == event.event_id
    traceparent = headers["traceparent"].decode()
    assert traceparent.split("-")[1] == format(span.get_span_context().trace_id, "032x")


async def test_publish_to_an_unreachable_broker_raises_a_typed_error_quickly(infra: InfraSettings) -> None:
    dead = infra.model_copy(update={"kafka_bootstrap": "127.0.0.1:1", "kafka_request_timeout_ms": 1000})
    broker = make_broker(dead, "test")

    started = time.monotonic()
    with pytest.raises(KafkaUnavailable):
        await start_broker(broker, timeout=2)
    assert time.monotonic() - started < 30, "must not hang"


async def test_publish_without_acknowledgement_raises_a_typed_error(infra: InfraSettings) -> None:
    broker = make_broker(infra, "test")
    await start_broker(broker)
    event = RecordingCompleted(event_id="e2", tenant="acme", meeting_uuid="m2")
    try:
        with pytest.raises(KafkaUnavailable):
            # A topic name Kafka rejects can never be acknowledged.
            await publish_event(broker, infra, event, timeout=1.5, topic="bad topic name!")
    finally:
        await broker.stop()


@pytest.mark.parametrize("released", [False, True], ids=["cut-short", "finishes"])
async def test_a_stopping_service_gives_the_message_in_hand_its_own_shutdown_timeout(
    infra: InfraSettings, released: bool
) -> None:
    """The broker of a service waits ``shutdown_timeout_seconds`` for its consumers' work, not a fixed 30 s
    (the chart's termination grace is made of that setting; a mixer promised 60 s got 30)."""
    settings = ServiceSettings(infra=infra, shutdown_timeout_seconds=0.5 if not released else 60)
    broker = service_broker(settings, "test")
    topic = topic_name(infra, RecordingCompleted.topic)
    started, release = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    @broker.subscriber(topic, group_id=f"{infra.kafka_topic_prefix}grace", auto_offset_reset="earliest")
    async def handle(message: KafkaMessage) -> None:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")

    await start_broker(broker)
    try:
        await broker.publish(b"{}", topic=topic)
        await asyncio.wait_for(started.wait(), timeout=60)
    finally:
        stopping = asyncio.create_task(broker.stop())
        if released:
            release.set()
        async with asyncio.timeout(20):  # a fixed 30 s grace hung here until the handler was cancelled
            await stopping
    assert outcome == (["finished"] if released else ["cancelled"])
