"""Requests are logged by route template, so the callback token in the path never reaches a log."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.access_log import RouteAccessLogger


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
