"""OpenTelemetry setup: OTLP/HTTP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, off otherwise.

Trace context crosses Kafka in W3C ``traceparent`` headers (FastStream's telemetry middleware
injects and extracts them), so one trace runs from the Zoom webhook to the e-mail.

Every span leaves the process through :class:`ScrubbingExporter`: its name, attributes, events (an
exception's message and stack trace, with the causes chained to it), links and status pass
:func:`~zoomsymbl_common.logs.scrub` first, as a log line passes the redactor. Before an ended span
waits for export, :class:`BoundingProcessor` cuts its attribute values to :data:`ATTRIBUTE_MAX`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AnyValue, Attributes

from zoomsymbl_common.logs import scrub

ATTRIBUTE_MAX = 4096
"""Longest span attribute value kept (characters of a text, bytes of bytes).

FastStream's telemetry middleware puts a Kafka message's key and its ``correlation_id`` header on the spans
of its publish and its consume, at whatever size the sender chose; the SDK sets no limit by default, and its
batch processor holds up to 2048 ended spans until they are exported.
"""


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> Callable[[], None]:
    """Install a tracer provider for ``service_name``; returns the function that flushes and stops it.

    Without ``exporter`` and without ``OTEL_EXPORTER_OTLP_ENDPOINT`` spans are still created (so
    trace ids appear in logs and Kafka headers) but exported nowhere.
    """
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if exporter is None and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(session=otlp_session())
    if exporter is not None:
        provider.add_span_processor(BoundingProcessor(BatchSpanProcessor(ScrubbingExporter(exporter))))
    trace.set_tracer_provider(provider)

    def shutdown() -> None:
        provider.force_flush(timeout_millis=5000)
        provider.shutdown()

    return shutdown


class ScrubbingExporter(SpanExporter):
    """Exports through ``inner`` each span with every text scrubbed (:func:`scrubbed_span`).

    ``start_as_current_span`` records any exception that leaves its block, and the SDK stores its
    message and its whole stack trace, the chained causes included (an aiohttp timeout quoting the
    URL it fetched, a pymongo error quoting a document): such text must not reach Jaeger/Tempo raw.
    """

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the scrubbed copies of ``spans``."""
        return self._inner.export([scrubbed_span(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis)


class BoundingProcessor(SpanProcessor):
    """Hands ``inner`` each ended span with its attribute values cut to :data:`ATTRIBUTE_MAX` (:func:`bounded_span`).

    Cut before ``inner`` (the batch processor) queues the span: its queue holds bounded copies, however big a
    value the sender of a Kafka message chose.
    """

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        """Pass the started span on."""
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Pass the ended span on, bounded."""
        self._inner.on_end(bounded_span(span))

    def shutdown(self) -> None:
        """Shut the inner processor down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner processor."""
        return self._inner.force_flush(timeout_millis)


def bounded_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` itself, or a copy whose attribute values longer than :data:`ATTRIBUTE_MAX` are cut to it.

    A text is scrubbed before it is cut (:func:`~zoomsymbl_common.logs.scrub`): a cut inside a registered
    secret would leave a prefix the exporter's scrubbing no longer recognises.
    """
    attributes = span.attributes or {}
    if not any(_oversized(value) for value in attributes.values()):
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={key: _bounded(value) for key, value in attributes.items()},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _oversized(value: AnyValue) -> bool:
    if isinstance(value, str | bytes):
        return len(value) > ATTRIBUTE_MAX
    return isinstance(value, Sequence) and any(_oversized(item) for item in value)


def _bounded(value: AnyValue) -> AnyValue:
    if isinstance(value, str):
        return scrub(value, ATTRIBUTE_MAX)
    if isinstance(value, bytes):
        return value[:ATTRIBUTE_MAX]
    if isinstance(value, Sequence):
        return [_bounded(item) for item in value]
    return value


def scrubbed_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` with its name, attribute values, events, links and status description scrubbed."""
    status = span.status
    if status.description:
        status = Status(status.status_code, _text(status.description))
    return ReadableSpan(
        name=_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes, ATTRIBUTE_MAX),
        events=[Event(e.name, _attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, _attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _text(value: str, limit: int = sys.maxsize) -> str:
    # Scrubbed, then cut: an exception event's stack trace is kept whole, a span attribute's value at
    # ATTRIBUTE_MAX (a redaction may lengthen what BoundingProcessor cut).
    return scrub(value, limit)


def _attributes(attributes: Attributes, limit: int = sys.maxsize) -> dict[str, AnyValue]:
    return {key: _value(value, limit) for key, value in (attributes or {}).items()}


def _value(value: AnyValue, limit: int) -> AnyValue:
    if isinstance(value, str):
        return _text(value, limit)
    if isinstance(value, Mapping):
        return {key: _value(item, limit) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [_value(item, limit) for item in value]
    return value


def otlp_session() -> Any:
    """The exporter's ``requests`` session: its CA bundle (the SDK's ``OTEL_EXPORTER_OTLP_CERTIFICATE``) holds.

    ``requests`` replaces a session's bundle on every request by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``
    when either is set (psf/requests#3829), so a private CA for the OTLP endpoint (chart: ``otel.ca``) would be
    ignored and every export refused on hosts that set them. Without a configured bundle the environment's
    still applies, as ``requests`` does it; proxies from the environment apply either way.
    """
    import requests

    class PinnedBundleSession(requests.Session):
        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and self.verify is not True:
                merged["verify"] = self.verify
            return merged

    return PinnedBundleSession()


def current_trace_id() -> str | None:
    """The active trace id as 32 hex digits, or None outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_traceparent() -> dict[str, str]:
    """The active trace context as W3C headers (``traceparent``/``tracestate``), to store beside a record.

    A provider's callback arrives as a new HTTP request with no trace context; the submitter stores
    this carrier on the job, and the notifier continues the meeting's trace from it.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str] | None) -> Context | None:
    """The trace context stored by :func:`current_traceparent` (None when nothing usable was stored)."""
    if not carrier or "traceparent" not in carrier:
        return None
    return propagate.extract(dict(carrier))


_TRACERS: dict[str, tuple[trace.TracerProvider, trace.Tracer]] = {}


def tracer(name: str = "zoomsymbl") -> trace.Tracer:
    """The tracer every zoomsymbl module uses, made once per tracer provider.

    ``trace.get_tracer`` builds a new tracer (and compares instrumentation scopes) on every call:
    6 % of ingest's CPU per webhook before it was kept here (issue 21).
    """
    provider = trace.get_tracer_provider()
    cached = _TRACERS.get(name)
    if cached is not None and cached[0] is provider:
        return cached[1]
    made = provider.get_tracer(name)
    _TRACERS[name] = (provider, made)
    return made
