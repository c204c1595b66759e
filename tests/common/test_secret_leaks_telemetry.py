"""Spans as ``setup_tracing`` exports them: no URL capability, token or registered secret in any text.

The log redactor never sees a span: names, attributes, exception events (message and stack trace,
chained causes included) and status descriptions are scrubbed by the exporter wrapper instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.http import transport_errors
from zoomsymbl_common.telemetry import setup_tracing, tracer

SIGNATURE = "f3c1d2e4b5a6978812345678deadbeefcafe0123456789abcdef0123456789ab"
PRESIGNED = (
    "https://s3.example.com/audio/acme/m1.flac?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature={SIGNATURE}"
)
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.zoom-access-token-never-exported"
API_KEY = "llm-api-key-registered-at-start-up-0123456789"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans as ``setup_tracing`` hands them to its exporter (the global provider swapped for this test)."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    exporter = InMemorySpanExporter()
    stop = setup_tracing("zoomsymbl-test", exporter=exporter)
    yield exporter
    stop()


def _texts(span: ReadableSpan) -> list[str]:
    texts = [span.name, span.status.description or "", *map(str, (span.attributes or {}).values())]
    for event in span.events:
        texts += [event.name, *map(str, (event.attributes or {}).values())]
    return texts


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    [span] = exporter.get_finished_spans()  # the provider is this test's own
    return span


async def test_a_chained_aiohttp_timeout_quoting_a_tokened_url_is_scrubbed_from_the_exception_event(
    exported: InMemorySpanExporter,
) -> None:
    url = f"https://zoom.us/rec/download/abc?access_token={ACCESS_TOKEN}"
    with pytest.raises(RetryableError), tracer().start_as_current_span("download"):
        async with transport_errors("zoom", "download"):
            # aiohttp's own wording (client.py): the whole request URL, query included.
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}")
    span = _only(exported)
    [event] = span.events
    assert event.attributes is not None
    assert "zoom download timed out" in str(event.attributes["exception.message"])
    assert "ConnectionTimeoutError" in str(event.attributes["exception.stacktrace"])  # the cause is still told
    assert all(ACCESS_TOKEN not in text for text in _texts(span))


async def test_attributes_name_and_status_lose_presigned_urls_and_registered_secrets(
    exported: InMemorySpanExporter,
) -> None:
    register_secret(API_KEY)
    with tracer().start_as_current_span(f"GET {PRESIGNED}", attributes={"url.full": PRESIGNED}) as span:
        span.set_attribute("zoomsymbl.note", f"key {API_KEY}")
        span.set_attribute("zoomsymbl.urls", [PRESIGNED])
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"refused {PRESIGNED}"))
    done = _only(exported)
    texts = _texts(done)
    assert all(SIGNATURE not in text and "AKIAEXAMPLE" not in text and API_KEY not in text for text in texts)
    assert done.name == "GET https://s3.example.com/…"
    assert done.attributes is not None
    assert done.attributes["url.full"] == "https://s3.example.com/…"  # the host stays, for the trace to be useful
