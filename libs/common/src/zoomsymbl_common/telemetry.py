"""OpenTelemetry setup: OTLP/HTTP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, off otherwise.

Trace context crosses Kafka in W3C ``traceparent`` headers (FastStream's telemetry middleware
injects and extracts them), so one trace runs from the Zoom webhook to the e-mail.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> Callable[[], None]:
    """Install a tracer provider for ``service_name``; returns the function that flushes and stops it.

    Without ``exporter`` and without ``OTEL_EXPORTER_OTLP_ENDPOINT`` spans are still created (so
    trace ids appear in logs and Kafka headers) but exported nowhere.
    """
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if exporter is None and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def shutdown() -> None:
        provider.force_flush(timeout_millis=5000)
        provider.shutdown()

    return shutdown


def current_trace_id() -> str | None:
    """The active trace id as 32 hex digits, or None outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
