"""The meeting page's HTML: hostile names and texts stay text, times become data-t, sections are all there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_web import render
from zoomsymbl_web.meeting import MeetingView
from zoomsymbl_web.timeline import Said, Speaker, rows

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def _view(insights: Insights, speakers: tuple[Speaker, ...] = ()) -> MeetingView:
    return MeetingView(
        tenant="acme",
        meeting_uuid="u==",
        topic=EVIL,
        host=EVIL,
        start_time=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        duration_seconds=3 * 3600.0,
        source=EVIL,
        insights=insights,
        speakers=speakers,
        audio=None,
    )


def _page(view: MeetingView, audio: str | None = "http://s3.test:7070/b/k?X-Amz-Signature=abc&x=1") -> str:
    said = (Said(m.speaker, m.start_seconds, m.end_seconds, m.channel) for m in view.insights.messages)
    timeline = rows(view.speakers, said, view.duration_seconds)
    return render.meeting_page(view, timeline, token="tok.1.sig", audio_url=audio, nonce="N0NCE", limit=1000)


def test_hostile_text_everywhere_stays_text() -> None:
    insights = Insights(
        messages=(TranscriptMessage(EVIL, EVIL, 1.0, 2.0, channel=1),),
        action_items=(InsightItem(EVIL, assignee=EVIL, assignee_email=EVIL, speaker=EVIL, start_seconds=5.0),),
        questions=(InsightItem(EVIL),),
        topics=(InsightItem(EVIL),),
        summary_topics=(SummaryTopic(EVIL, EVIL, 0.0, 60.0),),
        unavailable={"follow_ups": EVIL},
    )
    page = _page(_view(insights, (Speaker(EVIL, 1, 10.0, 0.2, 0.05),)))
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("script") == 1 and "img" not in parser.tags
    assert parser.handlers == []
    assert "<script>alert" not in page
    assert page.count('<script nonce="N0NCE">') == 1 and page.count('<style nonce="N0NCE">') == 1


def test_every_section_and_clickable_times() -> None:
    insights = Insights(
        messages=(TranscriptMessage("Ana", "hello there", 3725.5, 3727.0, channel=1),),
        action_items=(InsightItem("Send the deck", assignee="Bo", due="2026-12-09T00:00:00Z", start_seconds=61.25),),
        follow_ups=(InsightItem("Call the vendor", assignee="Ana"),),
        summary_topics=(SummaryTopic("Budget", "We agreed.", 0.0, 120.0),),
    )
    page = _page(_view(insights, (Speaker("Ana", 1, 2.0), Speaker("Bo", 2, 0.0))))
    for section in ("speakers", "summary", "action-items", "questions", "follow-ups", "decisions", "topics"):
        assert f'id="{section}"' in page
    assert re.search(r'<li data-t="61\.250" tabindex="0"><time>0:01:01</time>Send the deck', page)
    assert "owner: Bo" in page and "due: 2026-12-09" in page
    assert '<li data-t="3725.500" tabindex="0"><time>1:02:05</time><span class="who">Ana</span>' in page
    assert page.count('<tr class="speaker">') == 2
    assert 'src="http://s3.test:7070/b/k?X-Amz-Signature=abc&amp;x=1"' in page
    assert 'href="tok.1.sig/transcript.vtt"' in page and 'href="tok.1.sig/insights.json"' in page


def test_without_audio_the_page_says_so_and_limits_the_transcript() -> None:
    messages = tuple(TranscriptMessage("Ana", f"line {i}", float(i), i + 0.5) for i in range(5))
    view = _view(Insights(messages=messages))
    said = (Said(m.speaker, m.start_seconds, m.end_seconds) for m in messages)
    page = render.meeting_page(view, rows((), said, 10.0), token="t", audio_url=None, nonce="n", limit=3)
    assert "<audio" not in page and "audio is not available" in page
    assert page.count('<span class="x">') == 3 and "The first 3 of 5 lines" in page


def test_plain_page_escapes_and_has_no_script() -> None:
    page = render.plain_page(EVIL, EVIL)
    assert "<script>" not in page and "&lt;script&gt;" in page
