"""The page's script and style in headless Chromium: the transcript search highlights what it found, whatever the
letters; long names and words fit the window."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from zoomsymbl_common.page_tokens import make_page_token
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_web.timeline import Speaker

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
