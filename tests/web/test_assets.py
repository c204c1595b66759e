"""The page's script and style in headless Chromium: the transcript search highlights what it found, whatever the
letters; long names and words fit the window; an expired presigned audio URL is renewed where the player was; a
streamed player refused says so."""

from __future__ import annotations

import dataclasses
import io
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.errors import ObjectNotFound
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.headers import media_origin
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.routes import add_page_routes
from zoomsymbl_web.settings import Settings
from zoomsymbl_web.timeline import Speaker

from tests.support.eventually import eventually
from tests.support.webdriver import Browser, browser_paths, chromium, search_highlights
from tests.web.test_routes import KEY, FakePages, _serve, _url, _view

ROOT = Path(__file__).resolve().parents[2]
# "İ" (U+0130) lower-cases to two characters ("i" and U+0307): every match after one in its line was highlighted
# one character late per "İ" before it.
LINES = ("İlker and İpek review the budget", "the budget is approved", "İzmir office: budget İtem")


async def test_the_search_highlights_exactly_the_words_it_found() -> None:
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    messages = tuple(TranscriptMessage("İlker", text, float(i), i + 0.5) for i, text in enumerate(LINES))
    view = dataclasses.replace(_view(), insights=Insights(messages=messages), speakers=(), audio=None)
    client = await _serve(FakePages({("acme", "ready=="): view}))
    try:
        async with chromium(ROOT / ".cache" / "browser" / "chromedriver-search.log") as browser:
            await browser.go(str(client.make_url(_url(make_page_token(KEY, "acme", "ready==")))))
            assert await search_highlights(browser, "Budget", "the search's highlights") == ["budget"] * 3
            text = "return Array.from(document.querySelectorAll('#lines .x'), x => x.textContent)"
            assert await browser.run(text) == list(LINES)
            assert await browser.run("return document.getElementById('hits').textContent") == "3 matches"
    finally:
        await client.close()


# A Zoom Room's name, and a link read out into the transcript and an action item: no space to break them at.
ROOM = "Conference Room 4.12 - Zoom Rooms (Building West, Floor 4, Berlin Office)"
LINK = "https://docs.example.com/document/d/" + "1aB2cD3eF4gH5iJ6kL7mN8oP9" * 5 + "/edit"
HOST = "Maximilian.Hohenzollern-Sigmaringen@engineering.example-corporation.com"
# What the page measures in the window: how far it scrolls sideways, and the narrowest speaker track.
MEASURE = """
const page = document.documentElement;
const tracks = Array.from(document.querySelectorAll("svg.track"), t => t.getBoundingClientRect().width);
return [page.scrollWidth - page.clientWidth, Math.min(...tracks), document.body.clientWidth];
"""


async def test_long_names_and_words_fit_the_window_and_leave_the_timeline_its_width() -> None:
    """A participant's long name made the speakers table wider than the page: at 1280 px its tracks shrank to a fifth
    of the page, at 800 px to 75 px with the share and ratios off the screen; on a phone the table never fitted; an
    unbroken link in a line made every page scroll sideways, a long host address every narrow one. Now the page never
    does; a name wraps, the table scrolls in its own box where the window is too narrow, each track keeps 10rem."""
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    speakers = (Speaker("Ana", 1, 60.0, 0.5, 0.1), Speaker(ROOM, 2, 30.0, 0.6, 0.1), Speaker("Bo", 3, 10.0, 0.7, 0.0))
    messages = tuple(
        TranscriptMessage(s.name, f"see {LINK}" if i == 4 else "hello", i * 20.0, i * 20 + 15.0, channel=s.channel)
        for i, s in enumerate(speakers * 3)
    )
    insights = Insights(messages=messages, action_items=(InsightItem(f"read {LINK}", assignee=ROOM),))
    view = dataclasses.replace(
        _view(), host=HOST, insights=insights, speakers=speakers, duration_seconds=200.0, audio=None
    )
    client = await _serve(FakePages({("acme", "ready=="): view}))
    try:
        async with chromium(ROOT / ".cache" / "browser" / "chromedriver-layout.log") as browser:
            for width in (1280, 800, 390):
                await browser.call("POST", "/window/rect", {"width": width, "height": 900})
                await browser.go(str(client.make_url(_url(make_page_token(KEY, "acme", "ready==")))))
                sideways, track, body = await browser.run(MEASURE)
                assert sideways == 0, f"the page scrolls {sideways} px sideways at {width} px"
                assert track >= 160, f"a speaker's track is {track} px wide at {width} px"
                if width == 1280:
                    assert track >= 0.4 * body, f"a speaker's track is {track} px of the page's {body} px"
    finally:
        await client.close()


def _wav(seconds: int = 20, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of silence that Chromium plays."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(b"\0\0" * rate * seconds)
    return out.getvalue()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Signer:
    """Presigned URLs of the local S3 as the page hands them out; the first ``expired`` of them signed two hours ago
    for 15 minutes, as a page left open that long holds."""

    def __init__(self, store: ObjectStore, expired: int) -> None:
        self.store, self.expired, self.calls = store, expired, 0

    def __call__(self, obj: StoredObject, lifetime: timedelta) -> str:
        self.calls += 1
        signed_at = datetime.now(tz=UTC) - (timedelta(hours=2) if self.calls <= self.expired else timedelta())
        url: str = self.store.client.presigned_get_object(obj.bucket, obj.key, expires=lifetime, request_date=signed_at)
        return url


async def _presigning(infra: InfraSettings, store: ObjectStore, signer: Signer) -> TestServer:
    """The web service handing out ``signer``'s URLs (``audio_public_url``: the local S3, which the browser reaches)."""
    data = _wav()
    await store.put_stream("mixed/acme/renew.wav", _one(data), content_type="audio/wav")
    view = dataclasses.replace(
        _view(), audio=StoredObject(bucket=store.bucket, key="mixed/acme/renew.wav", size=len(data))
    )
    settings = Settings(page_key=SecretStr(KEY), infra=infra, audio_public_url=media_origin(infra))
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=settings,
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=FakePages({("acme", "ready=="): view}),
        presign=signer,
        media=media_origin(infra),
        metrics=PageMetrics(CollectorRegistry()),
    )
    add_page_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


PLAYER = "const a = document.getElementById('audio'); return [a.readyState, a.error && a.error.code, a.currentTime];"


async def _player(browser: Browser, what: str) -> list[float]:
    state: list[float] = await eventually(lambda: browser.run(PLAYER), lambda s: s[0] >= 1, timeout=20, what=what)
    return state


@pytest.mark.integration
async def test_an_expired_presigned_audio_url_is_renewed_where_the_player_was(
    infra: InfraSettings, store: ObjectStore
) -> None:
    """With ``audio_public_url`` the page's player reads a presigned S3 URL that lives ``audio_url_seconds`` (15
    minutes): S3 then refuses the player's every request, so a seek or a read past what it had buffered (a transcript
    line clicked after reading for a while) failed for good, until the visitor thought of reloading. The page loads
    itself again at the player's place for a new URL; from such a reload, a refusal within a minute is said."""
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    renewing, refusing = Signer(store, expired=1), Signer(store, expired=10)
    servers = [await _presigning(infra, store, renewing), await _presigning(infra, store, refusing)]
    token = make_page_token(KEY, "acme", "ready==")
    try:
        async with chromium(ROOT / ".cache" / "browser" / "chromedriver-renew.log") as browser:
            await browser.go(str(servers[0].make_url(_url(token))))
            _, error, _ = await _player(browser, "the player, with a renewed URL")
            assert error is None and renewing.calls == 2
            assert await browser.run("return location.hash") == ""

            # The reload's address: the player resumes at its place.
            await browser.go("about:blank")  # else only the fragment changes: the same page, its script not run again
            await browser.go(str(servers[0].make_url(_url(token) + "#t=12.500&at=0")))
            resumed = await eventually(
                lambda: browser.run(PLAYER), lambda s: s[2] > 0, timeout=20, what="the player at its place"
            )
            assert resumed[1] is None and resumed[2] == pytest.approx(12.5)
            assert await browser.run("return location.hash") == ""

            # S3 refusing every URL: one reload, then the page says so (no reload loop).
            await browser.go(str(servers[1].make_url(_url(token))))
            said = await eventually(
                lambda: browser.run("const n = document.getElementById('audio-failed'); return n && n.textContent"),
                bool,
                timeout=20,
                what="the note that the audio cannot be loaded",
            )
            assert "cannot be loaded" in said and refusing.calls == 2
    finally:
        for server in servers:
            await server.close()


@pytest.mark.integration
async def test_a_streamed_player_refused_says_so() -> None:
    """Streamed through the service (the chart's default), the player's requests carry the page's link: once it
    expired while the page was open (or the file cannot be read), each is refused and the player stopped silently.
    The page says the audio stopped loading and what a reload will show."""
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")

    async def gone(obj: StoredObject, start: int, end: int) -> AsyncIterator[bytes]:
        raise ObjectNotFound(obj.bucket, obj.key)  # as S3 answers for an object erased since the page was read
        yield b""

    client = await _serve(FakePages({("acme", "ready=="): _view()}), read_audio=gone)
    token = make_page_token(KEY, "acme", "ready==")
    try:
        async with chromium(ROOT / ".cache" / "browser" / "chromedriver-stalled.log") as browser:
            await browser.go(str(client.make_url(_url(token))))
            said = await eventually(
                lambda: browser.run("const n = document.getElementById('audio-failed'); return n && n.textContent"),
                bool,
                timeout=20,
                what="the note that the audio stopped loading",
            )
            assert "stopped loading" in said and "expired" in said
            assert await browser.run("return document.getElementById('audio').error.code") in (2, 4)
            assert await browser.run("return document.querySelectorAll('#audio-failed').length") == 1
    finally:
        await client.close()
