"""The page's routes in memory: the token decides (403 with no detail), headers, downloads, no token in logs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.access_log import RouteAccessLogger
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.meeting import Lookup, MeetingPages, MeetingView, NotReady
from zoomsymbl_web.routes import PAGE_DEPS, PageDeps, PageMetrics, add_page_routes
from zoomsymbl_web.settings import Settings
from zoomsymbl_web.timeline import Speaker

KEY = "web-test-page-key-0123456789"
MEDIA = "http://s3.example.test:7070"


class FakePages(MeetingPages):
    def __init__(self, found: dict[tuple[str, str], Lookup]) -> None:
        self.found = found

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        return self.found.get((tenant, meeting_uuid))


def _view() -> MeetingView:
    return MeetingView(
        tenant="acme",
        meeting_uuid="ready==",
        topic="Weekly <sync>",
        host="ana@example.test",
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=120.0,
        source="AssemblyAI",
        insights=Insights(
            messages=(TranscriptMessage("Ana", "hello", 1.0, 2.0, channel=1),),
            action_items=(InsightItem("Ship it", assignee="Bo", start_seconds=1.0),),
        ),
        speakers=(Speaker("Ana", 1, 1.0),),
        audio=StoredObject(bucket="b", key="mixed/acme/x.flac", size=10),
    )


@pytest.fixture
async def client(caplog: pytest.LogCaptureFixture) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings = Settings(page_key=SecretStr(KEY), infra=InfraSettings())
    pages = FakePages({("acme", "ready=="): _view(), ("acme", "busy=="): NotReady("Busy", "submitted", False)})
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=settings,
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=pages,
        presign=lambda obj, ttl: f"{MEDIA}/{obj.bucket}/{obj.key}?X-Amz-Expires={int(ttl.total_seconds())}&sig=1",
        media=MEDIA,
        metrics=PageMetrics(CollectorRegistry()),
    )
    add_page_routes(app)
    server = TestServer(app)
    await server.start_server(access_log_class=RouteAccessLogger, access_log=logging.getLogger("test.web.access"))
    caplog.set_level(logging.DEBUG)
    async with TestClient(server) as test_client:
        yield test_client


def _url(token: str, suffix: str = "") -> str:
    return f"/m/{token}{suffix}"


def _assert_private(headers: Mapping[str, str]) -> None:
    assert "no-store" in headers["Cache-Control"] and "private" in headers["Cache-Control"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_a_valid_token_opens_the_page_with_strict_headers(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    token = make_page_token(KEY, "acme", "ready==")
    resp = await client.get(_url(token))
    body = await resp.text()
    assert resp.status == 200, body
    _assert_private(resp.headers)
    csp = resp.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce is not None and f'<script nonce="{nonce.group(1)}">' in body
    assert f"media-src {MEDIA};" in csp and "unsafe-inline" not in csp
    assert "Weekly &lt;sync&gt;" in body and "X-Amz-Expires=900" in body
    second = await client.get(_url(token))
    assert second.headers["Content-Security-Policy"] != csp  # a fresh nonce per answer
    logged = "\n".join(r.getMessage() + str(vars(r)) for r in caplog.records)
    assert "/m/{token}" in logged and token not in logged


async def test_altered_expired_foreign_and_callback_tokens_get_the_same_plain_403(
    client: TestClient[web.Request, web.Application],
) -> None:
    good = make_page_token(KEY, "acme", "ready==")
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    expired = make_page_token(KEY, "acme", "ready==", ttl=timedelta(seconds=60), now=time.time() - 3600)
    other_key = make_page_token("another-key-0123456789abcdef", "acme", "ready==")
    gone_tenant = make_page_token(KEY, "gone", "ready==")
    callback = make_callback_token(SecretStr(KEY), "job-ref")
    bodies = set()
    for token in (altered, expired, other_key, gone_tenant, callback, "x" * 5000):
        for suffix in ("", "/transcript.vtt"):
            resp = await client.get(_url(token, suffix))
            assert resp.status == 403, token
            _assert_private(resp.headers)
            bodies.add(await resp.text())
    assert len(bodies) == 1 and "<script" not in bodies.pop()


async def test_unknown_and_unprocessed_meetings(client: TestClient[web.Request, web.Application]) -> None:
    missing = await client.get(_url(make_page_token(KEY, "acme", "nope==")))
    assert missing.status == 404
    busy = await client.get(_url(make_page_token(KEY, "acme", "busy==")))
    assert busy.status == 200 and "still being processed" in await busy.text()
    _assert_private(busy.headers)


async def test_downloads(client: TestClient[web.Request, web.Application]) -> None:
    token = make_page_token(KEY, "acme", "ready==")
    expected = {
        "transcript.vtt": ("text/vtt", "WEBVTT"),
        "transcript.srt": ("application/x-subrip", "1\n00:00:01,000 --> 00:00:02,000\nAna: hello"),
        "transcript.txt": ("text/plain", "[0:00:01] Ana: hello"),
        "insights.json": ("application/json", '"Ship it"'),
    }
    for name, (content_type, snippet) in expected.items():
        resp = await client.get(_url(token, f"/{name}"))
        assert resp.status == 200 and resp.content_type == content_type, name
        assert resp.headers["Content-Disposition"] == f'attachment; filename="meeting-{name}"'
        assert snippet in await resp.text()
        _assert_private(resp.headers)
    assert (await client.get(_url(token, "/audio.flac"))).status == 404
