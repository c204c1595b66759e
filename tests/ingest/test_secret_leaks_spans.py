"""The webhook's server span, as exported: an exception that escapes it carries no download token.

``start_as_current_span`` records an escaping exception's message and stack trace on the span; the
redactor of the log lines never sees that text, so the exporter must scrub it (``ScrubbingExporter``).
"""

from __future__ import annotations

from bson.errors import InvalidDocument
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.common.test_secret_leaks_telemetry import exported  # noqa: F401 (the fixture)
from tests.ingest.support import DOWNLOAD_TOKEN, RecordingPublisher, recording_body
from tests.ingest.test_handlers import serve


async def test_an_unanticipated_store_failure_quoting_the_token_leaves_no_token_on_the_span(
    exported: InMemorySpanExporter,  # noqa: F811 (the imported fixture)
) -> None:
    # A tenant without OAuth: the token is written before the answer, so the store's failure escapes the span.
    running = await serve(RecordingPublisher())
    # bson's own wording when a document cannot be encoded; not a PyMongoError, so nothing on the way catches it.
    running.tokens.error = InvalidDocument(f"cannot encode object: {DOWNLOAD_TOKEN!r}, of type: <class 'str'>")
    try:
        response = await running.post(recording_body())
        assert response.status == 500
    finally:
        await running.client.close()
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    [span] = [s for s in exported.get_finished_spans() if s.name == "POST /webhooks/zoom"]
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes is not None
    assert "InvalidDocument" in str(event.attributes["exception.type"])  # the failure is still told
    texts = [str(v) for v in event.attributes.values()] + [span.status.description or ""]
    assert all(DOWNLOAD_TOKEN not in text for text in texts)
