"""Traces to an https:// OTLP endpoint whose certificate a private CA signed (chart: ``otel.ca``).

The services build the SDK's ``OTLPSpanExporter()`` from the environment (``setup_tracing``); the chart
names the mounted bundle in ``OTEL_EXPORTER_OTLP_CERTIFICATE``. This checks that contract against an
HTTPS OTLP/HTTP receiver (aiohttp with Python's ``ssl``; certificate for 127.0.0.1 from a CA made with
openssl as the secured Kafka's is): the SDK we ship honours that variable, and refuses another CA.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from zoomsymbl_common.telemetry import otlp_session

from tests.support.tls import TlsMaterial, make_tls_material

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@dataclass
class Receiver:
    endpoint: str
    tls: TlsMaterial
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("otlp-tls"))


@pytest.fixture
async def receiver(tls_material: TlsMaterial) -> AsyncIterator[Receiver]:
    """``POST /v1/traces`` over HTTPS, keeping every body."""
    bodies: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_material.server_context())
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Receiver(f"https://127.0.0.1:{port}", tls_material, bodies)
    finally:
        await runner.cleanup()


def finished_span(name: str) -> ReadableSpan:
    provider = TracerProvider(resource=Resource.create({"service.name": "zoomsymbl-tls-test"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tls-test").start_as_current_span(name):
        pass
    (span,) = memory.get_finished_spans()
    return span


async def export(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, name: str, ca_file: Path | None, env_bundle: Path
) -> SpanExportResult:
    """Export one span as a service does: the chart's variables, the exporter as ``setup_tracing`` builds it.

    ``env_bundle`` is ``REQUESTS_CA_BUNDLE``, which many hosts and images set (this one does): requests would
    let it replace the OTLP bundle on every request.
    """
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    if ca_file is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_CERTIFICATE", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(ca_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(env_bundle))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")  # seconds: a refused export gives up soon
    exporter = OTLPSpanExporter(session=otlp_session())
    try:
        return await asyncio.to_thread(exporter.export, [finished_span(name)])
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]


async def test_spans_reach_an_https_endpoint_checked_against_the_private_ca(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, other = receiver.tls.ca_file, receiver.tls.other_ca_file
    result = await export(receiver, monkeypatch, "mixer.merge-over-tls", ca_file=ca, env_bundle=other)
    assert result is SpanExportResult.SUCCESS
    assert len(receiver.bodies) == 1
    assert b"mixer.merge-over-tls" in receiver.bodies[0]  # the span's name, as protobuf carries strings


async def test_an_endpoint_certificate_another_ca_signed_gets_no_span(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, other = receiver.tls.ca_file, receiver.tls.other_ca_file
    result = await export(receiver, monkeypatch, "never-sent", ca_file=other, env_bundle=ca)
    assert result is SpanExportResult.FAILURE
    assert receiver.bodies == []


async def test_without_an_otlp_bundle_the_environments_still_applies(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = receiver.tls.ca_file
    assert await export(receiver, monkeypatch, "env-bundle", ca_file=None, env_bundle=ca) is SpanExportResult.SUCCESS
    assert len(receiver.bodies) == 1
