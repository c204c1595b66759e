"""Hostile outside text in headless Chromium: the page parses it as text everywhere, and searching it too.

The CSP would block an injected inline script anyway, so a script that does not run proves little: the test
asserts on the parsed DOM (no element the payloads name, every payload back as text) and a clean console.
Bidi controls in every field must not change how the page reads: the test measures where each character is drawn.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.records import StoredObject
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig, Tenants
from zoomsymbl_web.meeting import Lookup, MeetingPages, MeetingView
from zoomsymbl_web.page_deps import PAGE_DEPS, PageDeps, PageMetrics
from zoomsymbl_web.render import reason
from zoomsymbl_web.routes import add_page_routes
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


# A PDI first (it would end the page's own isolation early), then an override; each field a different word.
BIDI = "\u2069\u202e{}\u200f\u2067"
# Each Latin letter and digit of these, in document order, must be drawn right of the one before: the page reads
# as stored. (Hebrew is drawn right to left, as it should; it is not counted.)
IN_ORDER = """
const counted = /[A-Za-z0-9]/;
const late = [];
fields: for (const el of document.querySelectorAll(arguments[0])) {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let last = -Infinity;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      if (!counted.test(node.data[i])) { continue; }
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width === 0) { continue; }
      if (box.left < last - 0.5) { late.push(el.textContent); continue fields; }
      last = box.left;
    }
  }
}
return late;
"""
FIELDS = "h1, dd, #incomplete, #timeline th, ul.items li, #lines li"
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


class _Pages(MeetingPages):
    def __init__(self, views: dict[str, MeetingView]) -> None:
        self.views = views

    async def lookup(self, tenant: str, meeting_uuid: str) -> Lookup:
        return self.views.get(meeting_uuid) if tenant == "acme" else None


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
            unavailable={"action_items": EVIL},
            extra={INCOMPLETE: EVIL},
        ),
        speakers=(Speaker(EVIL, 1, 4.0),),
        audio=StoredObject(bucket=InfraSettings().s3_bucket, key="mixed/acme/evil.flac", size=0),
    )


def _bidi_view() -> MeetingView:
    """Every outside field a word of its own wrapped in bidi controls (:data:`BIDI`)."""
    item = InsightItem(
        BIDI.format("item"),
        assignee=BIDI.format("owner"),
        assignee_email=BIDI.format("mail"),
        speaker=BIDI.format("speaker"),
        due=BIDI.format("due"),
        start_seconds=5.0,
    )
    return MeetingView(
        tenant="acme",
        meeting_uuid="bidi==",
        topic=BIDI.format("topic"),
        host=BIDI.format("host"),
        start_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        duration_seconds=60.0,
        source=BIDI.format("source"),
        insights=Insights(
            messages=(
                *(
                    TranscriptMessage(BIDI.format(f"name{i}"), BIDI.format(f"said{i}"), float(i), i + 0.5, channel=1)
                    for i in range(3)
                ),
                # No control at all: a right-to-left name must not draw the numbers after it backwards ("20 10").
                TranscriptMessage("\u05d3\u05e0\u05d9", "10 20 ok", 4.0, 5.0, channel=2),
            ),
            summary_topics=(SummaryTopic(BIDI.format("headline"), BIDI.format("summary"), 0.0, 30.0),),
            action_items=(item,),
            questions=(item,),
            decisions=(item,),
            topics=(item,),
            unavailable={"follow_ups": BIDI.format("reason"), "action_items": BIDI.format("partial")},
            extra={INCOMPLETE: BIDI.format("why")},
        ),
        speakers=(Speaker(BIDI.format("participant"), 1, 4.0),),
        audio=None,
    )


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[PAGE_DEPS] = PageDeps(
        settings=Settings(page_key=SecretStr(KEY), infra=InfraSettings()),
        tenants=Tenants([TenantConfig(id="acme", zoom_webhook_secret="s" * 20)]),
        pages=_Pages({"evil==": _view(), "bidi==": _bidi_view()}),
        presign=None,
        media="'self'",
        metrics=PageMetrics(CollectorRegistry()),
    )
    add_page_routes(app)
    server = TestServer(app, host="127.0.0.1", port=_port())
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def page_url(server: TestServer) -> str:
    return str(server.make_url(f"/m/{make_page_token(KEY, 'acme', 'evil==')}"))


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
        reasons = await browser.run(
            "return Array.from(document.querySelectorAll('#incomplete bdi, .note bdi'), b => b.textContent)"
        )
        assert reasons == [reason(EVIL)] * 2  # the notice's and the section's, as text, cut to their bound

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


async def test_bidi_controls_in_a_field_reorder_nothing_around_it(server: TestServer) -> None:
    """A participant named "\\u202eevil" would draw the rest of its line backwards, and a PDI in a name ends
    Chromium's own isolation of the field; every character on the page must be drawn in the order it is stored."""
    if browser_paths() is None:
        pytest.skip("chromium and chromium-driver are not installed (make system-deps)")
    async with chromium(ROOT / ".cache" / "browser" / "chromedriver-bidi.log") as browser:
        await browser.go(str(server.make_url(f"/m/{make_page_token(KEY, 'acme', 'bidi==')}")))
        assert await browser.run("return document.querySelectorAll(arguments[0]).length", FIELDS) > 10
        assert await browser.run(IN_ORDER, FIELDS) == []
        lines = await browser.run("return Array.from(document.querySelectorAll('#lines .x'), x => x.textContent)")
        assert lines == [*(f"said{i}\u200f" for i in range(3)), "10 20 ok"]  # a mark stays inside its field

        # Titles and attributes cannot be isolated: no bidi control is left in them.
        title = await browser.run("return document.title")
        labels = await browser.run(
            "return Array.from(document.querySelectorAll('[aria-label]'), e => e.getAttribute('aria-label'))"
        )
        assert title == "topic" and "participant speaking" in labels
        assert not BIDI_CONTROLS.search(title + "".join(labels))

        # The search rebuilds the lines it highlights; they still read in order.
        assert await search_highlights(browser, "said", "the search's highlights") == ["said"] * 3
        assert await browser.run(IN_ORDER, "#lines li") == []
