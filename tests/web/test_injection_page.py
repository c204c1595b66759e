"""Hostile outside text in headless Chromium: the page parses it as text everywhere, and searching it too.

The CSP would block an injected inline script anyway, so a script that does not run proves little: the test
asserts on the parsed DOM (no element the payloads name, every payload back as text) and a clean console.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.meeting import Lookup, MeetingPages, MeetingView
from zoomsymbl_web.routes import PAGE_DEPS, PageDeps, PageMetrics, add_page_routes
from zoomsymbl_web.settings import Settings
from zoomsymbl_web.timeline import Speaker

from tests.support.webdriver import browser_paths, chromium, search_highlights

ROOT = Path(__file__).resolve().parents[2]
KEY = "web-injection-browser-key-0123456789"
PAYLOADS = (
    '<img src=x onerror="window.pwned=1">',
    "</title><script>window.pwned=2</script>",
    "<svg><script>window.pwned=3</script></svg>",
    "<style>body{display:none}</style><!--",
    '" autofocus onfocus="window.pwned=4" x="',
    "' onmouseover='window.pwned=5",
    "javascript:window.pwned=6",
    "</script><iframe src=//example.test></iframe>\u2028\u2029",
    "<a href=javascript:window.pwned=7>x</a><math><mtext><table><mglyph><style><img src=x onerror=alert(8)>",
)
EVIL = " ".join(PAYLOADS)
FOREIGN = "img, iframe, a:not(nav.downloads a), math, input:not(#search), style:not([nonce]), script:not([nonce])"


class _Pages(MeetingPages):
    def __init__(self, view: MeetingView) -> None:
        self.view = view

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        return self.view if (tenant, meeting_uuid) == ("acme", "evil==") else None


def _view() -> MeetingView:
    item = InsightItem(EVIL, assignee=EVIL, assignee_email=EVIL, speaker=EVIL, due=EVIL, start_seconds=5.0)
    return MeetingView(
        tenant="acme",
        meeting_uuid="evil==",
        topic=EVIL,
        host=EVIL,
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=60.0,
        source=EVIL,
        insights=Insights(
            messages=tuple(TranscriptMessage(p, p, float(i), i + 0.5, channel=1) for i, p in enumerate(PAYLOADS)),
            summary_topics=(SummaryTopic(EVIL, EVIL, 0.0, 30.0),),
            action_items=(item,),
            questions=(item,),
            follow_ups=(item,),
            decisions=(item,),
            topics=(item,),
        ),
        speakers=(Speaker(EVIL, 1, 4.0),),
        audio=StoredObject(bucket=InfraSettings().s3_bucket, key="mixed/acme/evil.flac", size=0),
    )


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=InfraSettings()),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=_Pages(_view()),
        presign=None,
        media="'self'",
        metrics=PageMetrics(CollectorRegistry()),
    )
    add_page_routes(app)
    server = TestServer(app, host="127.0.0.1", port=_port())
    await server.start_server()
    try:
        yield str(server.make_url(f"/m/{make_page_token(KEY, 'acme', 'evil==')}"))
    finally:
        await server.close()


async def test_hostile_text_is_text_in_the_browser_and_in_the_search(page_url: str) -> None:
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    async with chromium(ROOT / ".cache" / "browser" / "chromedriver-injection.log") as browser:
        await browser.go(page_url)
        assert await browser.run("return document.title") == EVIL
        assert await browser.run("return document.querySelector('h1').textContent") == EVIL
        assert await browser.run("return document.querySelectorAll(arguments[0]).length", FOREIGN) == 0
        handlers = await browser.run(
            "return Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes))"
            ".filter(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value)).map(a => a.name)"
        )
        assert handlers == []
        lines = await browser.run("return Array.from(document.querySelectorAll('#lines .x'), x => x.textContent)")
        assert lines == list(PAYLOADS)

        # The search rebuilds each matching line; the payloads must come back as text there too.
        marks = await search_highlights(browser, "pwned", "the search's highlights")
        assert set(marks) == {"pwned"}
        assert await browser.run("return document.querySelectorAll(arguments[0]).length", FOREIGN) == 0
        assert await browser.run("return Array.from(document.querySelectorAll('#lines .x'), x => x.textContent)") == (
            list(PAYLOADS)
        )
        assert await browser.run("return window.pwned === undefined")
        refused = [e for e in await browser.console() if "Content Security Policy" in str(e.get("message"))]
        assert refused == []
