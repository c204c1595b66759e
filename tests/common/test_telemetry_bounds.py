"""Span attributes taken from outside are bounded, as queued for export and as exported.

Whoever can write to a topic chooses a message's key and its ``correlation_id`` header, and FastStream's
telemetry middleware (every service's broker has it) copies both onto the spans of the publish and the
consume. The SDK sets no length limit of its own, and its batch processor holds up to 2048 ended spans
until they are exported.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from zoomsymbl_common import telemetry
from zoomsymbl_common.kafka import make_broker
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.telemetry import setup_tracing, tracer

HUGE = 500_000
BOUND = 4096
API_KEY = "llm-api-key-registered-at-start-up-9876543210"


class Spans:
    """The spans ``setup_tracing``'s exporter receives, and the same spans as they waited in the export queue."""

    def __init__(self, exported: InMemorySpanExporter, queued: list[ReadableSpan]) -> None:
        self.exported, self.queued = exported, queued

    def finished(self) -> list[ReadableSpan]:
        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
        return list(self.exported.get_finished_spans())


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spans]:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    queued: list[ReadableSpan] = []
    scrubbed = telemetry.scrubbed_span

    def spy(span: ReadableSpan) -> ReadableSpan:
        queued.append(span)  # the exporter's input: what the batch processor held until the export
        return scrubbed(span)

    monkeypatch.setattr(telemetry, "scrubbed_span", spy)
    exported = InMemorySpanExporter()
    stop = setup_tracing("zoomsymbl-test", exporter=exported)
    yield Spans(exported, queued)
    stop()


def _longest(found: list[ReadableSpan]) -> int:
    return max(
        len(value) for span in found for value in (span.attributes or {}).values() if isinstance(value, str | bytes)
    )


async def test_a_kafka_messages_key_and_correlation_id_of_any_size_are_bounded_on_its_spans(spans: Spans) -> None:
    broker = make_broker(InfraSettings(), "test")
    seen: list[bytes] = []

    @broker.subscriber("bounds.test.v1")
    async def handle(msg: KafkaMessage) -> None:
        seen.append(msg.body)

    async with TestKafkaBroker(broker):
        await broker.publish(b"{}", topic="bounds.test.v1", key=b"k" * HUGE, correlation_id="c" * HUGE)
    assert seen == [b"{}"]

    exported = spans.finished()
    assert {"bounds.test.v1 publish", "bounds.test.v1 process"} <= {span.name for span in exported}
    assert _longest(exported) <= BOUND
    assert _longest(spans.queued) <= BOUND
    assert _longest(spans.queued) > 100  # cut, not dropped: the start of the value still tells what it was


async def test_a_value_cut_to_the_bound_never_keeps_part_of_a_secret(spans: Spans) -> None:
    register_secret(API_KEY)
    with tracer().start_as_current_span("note") as span:
        # A cut inside the secret would leave a prefix the scrubber no longer recognises.
        for shift in range(0, len(API_KEY), 7):
            span.set_attribute(f"zoomsymbl.note{shift}", "x" * (BOUND - shift) + f" {API_KEY}" + "y" * HUGE)
    [done] = spans.finished()
    for found in (done, *spans.queued):
        for value in (found.attributes or {}).values():
            assert API_KEY[:12] not in str(value)
            assert len(str(value)) <= BOUND
