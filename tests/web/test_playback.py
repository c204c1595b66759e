"""The audio route against an S3 address that answers what minio cannot read as S3, and against the real local S3
holding fewer bytes than the meeting document says: a defined answer, no crash."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.audio import s3_reader
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings

from tests.web.test_routes import KEY, FakePages, _serve, _url, _view


@pytest.fixture
async def not_s3() -> AsyncIterator[TestServer]:
    """Where S3 should be, a proxy's own error page (an ingress or WAF in front of S3): HTML, not S3's XML."""

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(
            status=403, text="<html><body>Forbidden by the proxy</body></html>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", refuse)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_an_s3_answer_minio_cannot_read_is_a_plain_502_not_a_crash(
    not_s3: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """minio raises ``InvalidResponseError`` (neither an S3Error nor one our storage translates) for an error answer
    without S3's XML body: the audio route let it out, aiohttp's bare 500 with a traceback at ERROR per request."""
    infra = InfraSettings(s3_endpoint=f"127.0.0.1:{not_s3.port}", s3_secure=False)
    client = await _serve(FakePages({("acme", "ready=="): _view()}), read_audio=s3_reader(ObjectStore(infra)))
    caplog.set_level(logging.INFO)
    try:
        resp = await client.get(_url(make_page_token(KEY, "acme", "ready=="), "/audio"))
        body = await resp.text()
    finally:
        await client.close()
    assert resp.status == 502 and resp.content_type == "text/html", body
    assert "cannot be read right now" in body and "Forbidden by the proxy" not in body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["audio not read"] and not any(r.exc_info for r in errors)


@pytest.mark.integration
async def test_a_range_past_the_real_end_of_a_stored_size_too_large_is_416_with_the_real_size(
    infra: InfraSettings, store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The meeting document records 100 bytes, S3 holds 10. A seek to byte 50 was S3's 416 read as a failure: a 502
    and an ERROR line per request. Now it is answered as S3 would (416, ``Content-Range: bytes */10``), and the
    wrong record is said once, at WARNING, however often the player asks."""
    await asyncio.to_thread(
        store.client.put_object, infra.s3_bucket, "mixed/acme/short.flac", io.BytesIO(b"0123456789"), 10
    )
    stored = StoredObject(bucket=infra.s3_bucket, key="mixed/acme/short.flac", size=100)
    registry = CollectorRegistry()
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=infra),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=FakePages({("acme", "ready=="): dataclasses.replace(_view(), audio=stored)}),
        presign=None,
        media="'self'",
        metrics=PageMetrics(registry),
        read_audio=s3_reader(store),
    )
    add_page_routes(app)
    caplog.set_level(logging.INFO)
    path = _url(make_page_token(KEY, "acme", "ready=="), "/audio")
    async with TestClient(TestServer(app)) as client:
        past = [await client.get(path, headers={"Range": f"bytes={start}-"}) for start in (50, 60, 50)]
        within = await client.get(path, headers={"Range": "bytes=2-5"})
        assert within.status == 206 and await within.read() == b"2345"
    assert [(r.status, r.headers.get("Content-Range")) for r in past] == [(416, "bytes */10")] * 3
    warned = [r for r in caplog.records if r.getMessage() == "stored audio size larger than the object"]
    assert [(r.levelno, r.__dict__["stored_size"], r.__dict__["size"]) for r in warned] == [(logging.WARNING, 100, 10)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    outcome = {"kind": "audio", "outcome": "stored_size_wrong"}
    assert registry.get_sample_value("zoomsymbl_web_pages_total", outcome) == 3.0
