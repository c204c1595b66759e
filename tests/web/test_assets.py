"""The page's script in headless Chromium: the transcript search highlights what it found, whatever the letters."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import Insights, TranscriptMessage

from tests.support.webdriver import browser_paths, chromium, search_highlights
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
