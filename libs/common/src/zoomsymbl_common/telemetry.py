"""OpenTelemetry setup: OTLP/HTTP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, off otherwise.

Trace context crosses Kafka in W3C ``traceparent`` headers (FastStream's telemetry middleware
injects and extracts them), so one trace runs from the Zoom webhook to the e-mail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
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

        exporter = OTLPSpanExporter(session=otlp_session())
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    def shutdown() -> None:
        provider.force_flush(timeout_millis=5000)
        provider.shutdown()

    return shutdown


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
