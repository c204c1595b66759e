"""The audio route against an S3 address that answers what minio cannot read as S3: a defined answer, no crash."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_web.audio import s3_reader

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
