"""The page's routes in memory: the token decides (403 with no detail), headers, downloads, no token in logs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.access_log import RouteAccessLogger
from zoomsymbl_common.callback_tokens import make_callback_token
from zoomsymbl_common.errors import MongoUnavailable, ObjectNotFound, ObjectRejected, StorageUnavailable
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.records import MalformedRecord, StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.audio import s3_reader
from zoomsymbl_web.meeting import AudioLookup, Lookup, MeetingPages, MeetingView, NotReady, playable_of
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings
from zoomsymbl_web.timeline import Speaker

from tests.support.http_servers import raw_request

KEY = "web-test-page-key-0123456789"
MEDIA = "http://s3.example.test:7070"


class FakePages(MeetingPages):
    def __init__(self, found: dict[tuple[str, str], Lookup]) -> None:
        self.found = found

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        return self.found.get((tenant, meeting_uuid))

    async def audio_of(self, tenant: str, meeting_uuid: str) -> AudioLookup:
        return playable_of(await self.lookup(tenant, meeting_uuid))


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
        audio=StoredObject(bucket=InfraSettings().s3_bucket, key="mixed/acme/x.flac", size=10),
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
    assert headers["X-Robots-Tag"] == "noindex, nofollow, noarchive"


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
    # Expired longer ago than the tenant's page_link_renewal_days (365): no offer of a new link (test_renewal.py).
    expired = make_page_token(KEY, "acme", "ready==", ttl=timedelta(seconds=60), now=time.time() - 366 * 86400)
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


async def test_no_answer_under_a_page_link_may_be_indexed(client: TestClient[web.Request, web.Application]) -> None:
    """A leaked link (pasted into a public page) a crawler follows: the page, its downloads and every refusal say
    noindex, so the topic, summary and transcript do not reach a search engine's index or cache."""
    token = make_page_token(KEY, "acme", "ready==")
    answers = [
        await client.get(_url(token)),
        await client.head(_url(token)),
        await client.get(_url(token, "/transcript.txt")),
        await client.get(_url(token, "/nothing")),
        await client.get(_url(make_page_token(KEY, "acme", "nope=="))),
        await client.get(_url("not-a-token")),
        await client.post(_url(token)),
    ]
    assert [a.status for a in answers] == [200, 200, 200, 404, 404, 403, 405]
    for answer in answers:
        assert answer.headers.get("X-Robots-Tag") == "noindex, nofollow, noarchive", answer.url.path[-12:]


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


class DownPages(MeetingPages):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        raise self.error

    async def audio_of(self, tenant: str, meeting_uuid: str) -> AudioLookup:
        raise self.error


async def _serve(pages: MeetingPages, **deps: Any) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=InfraSettings()),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=pages,
        presign=deps.pop("presign", None),
        media="'self'",
        metrics=PageMetrics(CollectorRegistry()),
        **deps,
    )
    add_page_routes(app)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    return test_client


@pytest.mark.parametrize(
    ("error", "status"),
    [(MongoUnavailable("ServerSelectionTimeoutError"), 503), (MalformedRecord("Meeting", "stage: bad"), 500)],
)
async def test_an_unreachable_or_unreadable_archive_gets_a_plain_page_not_a_crash(
    error: Exception, status: int
) -> None:
    client = await _serve(DownPages(error))
    try:
        token = make_page_token(KEY, "acme", "ready==")
        for suffix in ("", "/transcript.vtt", "/audio"):
            resp = await client.get(_url(token, suffix))
            assert resp.status == status, suffix
            body = await resp.text()
            assert "Traceback" not in body and "<!doctype html>" in body.lower()
            _assert_private(resp.headers)
            if status == 503:
                assert resp.headers["Retry-After"] == "30"
    finally:
        await client.close()


async def test_a_failed_meetings_link_says_where_and_why_with_strict_headers() -> None:
    """The link in a failed meeting's notice opens a plain page with the notice's stage and reason (escaped), under
    the same private headers and script-less CSP; its downloads answer the same page."""
    where = "merging the participants' audio (mixer: merge)"
    failed = NotReady("Weekly <sync>", "failed", True, where=where, reason="ffmpeg exited 1: <b>no audio</b>")
    client = await _serve(FakePages({("acme", "failed=="): failed}))
    try:
        token = make_page_token(KEY, "acme", "failed==")
        for suffix in ("", "/transcript.vtt"):
            resp = await client.get(_url(token, suffix))
            body = await resp.text()
            assert resp.status == 200 and resp.content_type == "text/html", suffix
            assert "<p>This meeting could not be processed.</p>" in body
            assert "Stage: <bdi>merging the participants&#x27; audio (mixer: merge)</bdi>" in body
            assert "Reason: <bdi>ffmpeg exited 1: &lt;b&gt;no audio&lt;/b&gt;</bdi>" in body
            assert "<script" not in body and "script-src" not in resp.headers["Content-Security-Policy"]
            _assert_private(resp.headers)
    finally:
        await client.close()


async def test_audio_outside_our_bucket_is_neither_signed_nor_streamed() -> None:
    """The meeting document names the audio's bucket; only the configured one is ever read or signed."""
    view = _view()
    foreign = dataclasses.replace(view, audio=StoredObject(bucket="someone-else", key="x.flac", size=10))
    signed: list[str] = []
    reads: list[str] = []

    async def read(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
        reads.append(obj.bucket)
        yield b"x"

    def presign(obj: StoredObject, ttl: timedelta) -> str:
        signed.append(obj.bucket)
        return "https://s3.example.test/x"

    for deps in ({"presign": presign}, {"read_audio": read}):
        client = await _serve(FakePages({("acme", "ready=="): foreign}), **deps)
        try:
            token = make_page_token(KEY, "acme", "ready==")
            page = await client.get(_url(token))
            assert page.status == 200 and "<audio" not in await page.text()
            assert (await client.get(_url(token, "/audio"))).status == 404
        finally:
            await client.close()
    assert signed == [] and reads == []


async def test_a_key_the_signer_refuses_leaves_the_page_without_a_player() -> None:
    def presign(obj: StoredObject, ttl: timedelta) -> str:
        raise ValueError("object name cannot contain '..'")

    client = await _serve(FakePages({("acme", "ready=="): _view()}), presign=presign)
    try:
        page = await client.get(_url(make_page_token(KEY, "acme", "ready==")))
        body = await page.text()
        assert page.status == 200 and "Weekly &lt;sync&gt;" in body and "<audio" not in body
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ObjectNotFound("b", "mixed/acme/x.flac"), 404),
        (StorageUnavailable("ReadTimeoutError"), 503),
        (ObjectRejected("b", "mixed/acme/x.flac", "InvalidRange"), 502),
    ],
)
async def test_an_audio_object_that_cannot_be_opened_is_answered_before_any_200(error: Exception, status: int) -> None:
    async def read(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
        raise error
        yield b""  # an async generator, as the S3 reader is: it fails on its first chunk

    client = await _serve(FakePages({("acme", "ready=="): _view()}), read_audio=read)
    try:
        resp = await client.get(_url(make_page_token(KEY, "acme", "ready=="), "/audio"))
        assert resp.status == status and "audio" not in resp.content_type
    finally:
        await client.close()


async def test_a_head_request_for_the_audio_reads_nothing_and_sends_no_body() -> None:
    reads: list[tuple[int, int]] = []

    async def read(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
        reads.append((start, end))
        yield b"0123456789"[start : end + 1]

    client = await _serve(FakePages({("acme", "ready=="): _view()}), read_audio=read)
    try:
        url = _url(make_page_token(KEY, "acme", "ready=="), "/audio")
        head = await client.head(url, headers={"Range": "bytes=2-5"})
        assert head.status == 206 and head.headers["Content-Length"] == "4" and await head.read() == b""
        # The same connection goes on cleanly: no body bytes were left on it.
        after = await client.get(url, headers={"Range": "bytes=2-5"})
        assert after.status == 206 and await after.read() == b"2345"
        assert reads == [(2, 5)]
    finally:
        await client.close()


async def test_audio_shorter_than_announced_ends_the_connection_instead_of_hanging() -> None:
    """The stored size says 10 bytes; S3 has 4. The browser must see the cut, not wait for six more bytes."""

    async def read(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
        yield b"0123"

    client = await _serve(FakePages({("acme", "ready=="): _view()}), read_audio=read)
    try:
        resp = await client.get(_url(make_page_token(KEY, "acme", "ready=="), "/audio"))
        assert resp.status == 200
        async with asyncio.timeout(10):
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    finally:
        await client.close()


# Shaped like a page token and never registered with the log redactor: a web pod registers a token only once a page
# it served has checked it, so the first request a pod sees with a link is the case that matters.
UNREGISTERED = "YWNtZR9yZWFkeT09.1799999999.x7Rq2LmK9vWpT4sY6nB1cD3fG5hJ8kL0zX2aQ4eR6tU"


@pytest.mark.parametrize(
    "request_line",
    [
        f"GET /m/{UNREGISTERED}\x01 HTTP/1.1",  # a control character in the path
        f"GET /m/{UNREGISTERED}?utm_source={'x' * 9000} HTTP/1.1",  # past aiohttp's 8,190 bytes (a tracker's query)
    ],
)
async def test_a_request_aiohttp_cannot_parse_is_refused_without_its_page_link_in_the_log(request_line: str) -> None:
    """aiohttp answers such a request 400 before any route and logs its parser's error, which quotes the path."""
    client = await _serve(FakePages({}))
    try:
        status, logged = await raw_request(client.host, client.port or 0, request_line)
    finally:
        await client.close()
    assert status.endswith(" 400 Bad Request")
    assert any("/m/[redacted]" in line for line in logged), logged  # still logged, without the link
    assert not any(UNREGISTERED[:16] in line or UNREGISTERED[-16:] in line for line in logged), logged


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", ""),
        ("https://s3.example.test/", "https://s3.example.test"),
        ("http://s3.example.test:9000", "http://s3.example.test:9000"),
        ("https://s3.example.test/bucket", None),
        ("ftp://s3.example.test", None),
        ("https://key:secret@s3.example.test", None),  # would be published in every page's CSP header
    ],
)
def test_the_public_s3_address_is_a_bare_origin(value: str, accepted: str | None) -> None:
    if accepted is None:
        with pytest.raises(ValueError, match="audio_public_url"):
            Settings(page_key=SecretStr(KEY), infra=InfraSettings(), audio_public_url=value)
    else:
        assert (
            Settings(page_key=SecretStr(KEY), infra=InfraSettings(), audio_public_url=value).audio_public_url
            == accepted
        )


@pytest.mark.parametrize("key", ["mixed/acme/../x.flac", "mixed/./acme/x.flac"])
async def test_audio_at_a_key_s3_cannot_address_gets_no_player_and_a_plain_404(key: str) -> None:
    """minio refuses an object name with a ``.`` or ``..`` segment (ValueError) before any request. With a presigned
    URL the page already showed no player; streaming (the default) it showed one whose every request was an
    unhandled 500 with a traceback in the log."""
    stored = StoredObject(bucket=InfraSettings().s3_bucket, key=key, size=10)
    view = dataclasses.replace(_view(), audio=stored)
    client = await _serve(FakePages({("acme", "ready=="): view}), read_audio=s3_reader(ObjectStore(InfraSettings())))
    try:
        token = make_page_token(KEY, "acme", "ready==")
        page = await client.get(_url(token))
        body = await page.text()
        assert page.status == 200 and "Weekly &lt;sync&gt;" in body
        assert "<audio" not in body and "audio is not available" in body
        resp = await client.get(_url(token, "/audio"))
        assert resp.status == 404 and resp.content_type == "text/html"
        _assert_private(resp.headers)
    finally:
        await client.close()


async def test_a_listener_who_seeks_away_mid_stream_is_no_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser that seeks outside what it buffered, or closes the tab, drops the audio request it was reading.
    The next write raised ConnectionResetError out of the handler: aiohttp logged "Error handling request" at
    ERROR with a traceback, once per seek. Now: S3 is no longer read, the answer counts as aborted, no error."""
    go, handled = asyncio.Event(), asyncio.Event()
    reads: list[str] = []

    async def read(obj: StoredObject, start: int, end: int) -> AsyncGenerator[bytes, None]:
        try:
            yield b"a" * 1000
            await go.wait()
            while True:
                reads.append("chunk")
                yield b"b" * 1000
        finally:
            reads.append("closed")

    @web.middleware
    async def note_the_end(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            handled.set()

    big = _view().audio
    assert big is not None
    view = dataclasses.replace(_view(), audio=big.model_copy(update={"size": 50_000_000}))
    registry = CollectorRegistry()
    app = web.Application(middlewares=[note_the_end])
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=InfraSettings()),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=FakePages({("acme", "ready=="): view}),
        presign=None,
        media="'self'",
        metrics=PageMetrics(registry),
        read_audio=read,
    )
    add_page_routes(app)
    caplog.set_level(logging.INFO)
    # As web.run_app serves it: a handler is not cancelled when its client goes (aiohttp's TestServer cancels it).
    runner = web.AppRunner(app)
    await runner.setup()
    gone = asyncio.Event()
    assert runner.server is not None
    forget = runner.server.connection_lost

    def lost(handler: RequestHandler, exc: BaseException | None) -> None:
        forget(handler, exc)
        gone.set()

    monkeypatch.setattr(runner.server, "connection_lost", lost)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        reader, writer = await asyncio.open_connection(host, port)
        path = _url(make_page_token(KEY, "acme", "ready=="), "/audio")
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n".encode())
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 206 ")
            assert await reader.readexactly(1000) == b"a" * 1000
            writer.close()
            await gone.wait()  # the server saw the connection go
            go.set()
            await handled.wait()
    finally:
        await runner.cleanup()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert reads[-1] == "closed" and reads.count("chunk") <= 1
    outcome = {"kind": "audio", "outcome": "aborted"}
    assert registry.get_sample_value("zoomsymbl_web_pages_total", outcome) == 1.0
