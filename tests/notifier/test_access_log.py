"""Requests are logged by route template, so the callback token in the path never reaches a log."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.access_log import RouteAccessLogger

from tests.support.http_servers import raw_request


async def test_access_log_names_the_route_not_the_path(caplog: pytest.LogCaptureFixture) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhooks/symbl/{token}", ok)
    server = TestServer(app)
    await server.start_server(access_log_class=RouteAccessLogger, access_log=logging.getLogger("test.access"))
    with caplog.at_level(logging.INFO, logger="test.access"):
        async with TestClient(server) as client:
            assert (await client.post("/webhooks/symbl/secret-token-value")).status == 200
            assert (await client.get("/nowhere/secret-token-value")).status == 404
    records = [r for r in caplog.records if r.name == "test.access"]
    assert [(r.route, r.status) for r in records] == [("/webhooks/symbl/{token}", 200), ("(unmatched)", 404)]  # type: ignore[attr-defined]
    assert all("secret-token-value" not in r.getMessage() + str(vars(r)) for r in records)


async def test_a_request_aiohttp_cannot_parse_is_logged_once_by_route(caplog: pytest.LogCaptureFixture) -> None:
    app = web.Application()
    server = TestServer(app)
    await server.start_server(access_log_class=RouteAccessLogger, access_log=logging.getLogger("test.access"))
    try:
        with caplog.at_level(logging.INFO, logger="test.access"):
            status, _ = await raw_request(server.host, server.port or 0, "GET /webhooks/symbl/x\x01 HTTP/1.1")
    finally:
        await server.close()
    assert status.endswith(" 400 Bad Request")
    records = [r for r in caplog.records if r.name == "test.access"]
    # Before: no access line for it at all; route_of raised an AssertionError (logged by aiohttp as an error).
    assert [(r.getMessage(), r.levelname, getattr(r, "route", None)) for r in records] == [
        ("http request", "INFO", "(unmatched)")
    ]
