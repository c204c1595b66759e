"""A small OTLP/HTTP trace receiver (protobuf) for tests and the demo: stands in for Tempo/the collector.

``POST /v1/traces`` with an ``ExportTraceServiceRequest`` → the spans are kept in memory;
``GET /spans`` returns them as JSON (service, name, trace_id, span_id, parent_span_id, kind, attributes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else str(value)


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """Every span of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=int(span.kind),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                )
    return spans


SPANS = web.AppKey("spans", list[ReceivedSpan])


async def _receive(request: web.Request) -> web.Response:
    request.app[SPANS].extend(decode_spans(await request.read()))
    return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf")


async def _list(request: web.Request) -> web.Response:
    return web.json_response([asdict(span) for span in request.app[SPANS]])


def build_otlp_app() -> web.Application:
    """The receiver app."""
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[SPANS] = []
    app.router.add_post("/v1/traces", _receive)
    app.router.add_get("/spans", _list)
    return app
