"""The meeting page's HTML: hostile names and texts stay text, times become data-t, sections are all there."""

from __future__ import annotations

import dataclasses
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
    assert re.search(r'<li data-t="61\.250" tabindex="0"><time>0:01:01</time><bdi>Send the deck</bdi>', page)
    assert "owner: <bdi>Bo</bdi>" in page and "due: <bdi>2026-12-09</bdi>" in page
    assert '<li data-t="3725.500" tabindex="0"><time>1:02:05</time><bdi class="who">Ana</bdi>' in page
    assert page.count('<tr class="speaker">') == 2
    assert 'src="http://s3.test:7070/b/k?X-Amz-Signature=abc&amp;x=1"' in page
    assert 'href="tok.1.sig/transcript.vtt"' in page and 'href="tok.1.sig/insights.json"' in page


def test_without_audio_the_page_says_so_and_limits_the_transcript() -> None:
    messages = tuple(TranscriptMessage("Ana", f"line {i}", float(i), i + 0.5) for i in range(5))
    view = _view(Insights(messages=messages))
    said = (Said(m.speaker, m.start_seconds, m.end_seconds) for m in messages)
    page = render.meeting_page(view, rows((), said, 10.0), token="t", audio_url=None, nonce="n", limit=3)
    assert "<audio" not in page and "audio is not available" in page
    assert page.count('<bdi class="x">') == 3 and "The first 3 of 5 lines" in page


def test_plain_page_escapes_and_has_no_script() -> None:
    page = render.plain_page(EVIL, EVIL)
    assert "<script>" not in page and "&lt;script&gt;" in page


# Each outside field: a PDI that would end the page's isolation early, an override, a mark, an unclosed isolate.
BIDI = "\u2069\u202eevil\u200f\u2067"
EXPLICIT = re.compile("[\u202a-\u202e\u2066-\u2069]")
ANY_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


class _Fields(HTMLParser):
    """Where each piece of text holding ``evil`` sits: its enclosing element, or the attribute it is in."""

    VOID = frozenset({"meta", "input", "br", "img", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.texts: list[tuple[str, str]] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [value for _, value in attrs if value and "evil" in value]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if "evil" in data:
            self.texts.append((self.open[-1] if self.open else "", data))


def test_every_outside_field_is_isolated_and_cannot_reorder_its_neighbours() -> None:
    """A name with U+202E would read the rest of its line backwards; each field is a <bdi>, without the controls
    that end an isolation early (Chromium ends a <bdi> at a PDI in its text); a title or attribute has none."""
    item = InsightItem(BIDI, assignee=BIDI, assignee_email=BIDI, speaker=BIDI, due=BIDI, start_seconds=5.0)
    insights = Insights(
        messages=(TranscriptMessage(BIDI, BIDI, 1.0, 2.0, channel=1),),
        action_items=(item,),
        questions=(item,),
        decisions=(item,),
        topics=(item,),
        summary_topics=(SummaryTopic(BIDI, BIDI, 0.0, 60.0),),
        unavailable={"follow_ups": BIDI},
    )
    view = _view(insights, (Speaker(BIDI, 1, 10.0), Speaker(BIDI, 2, 1.0)))
    view = dataclasses.replace(view, topic=BIDI, host=BIDI, source=BIDI)
    for page in (_page(view), render.plain_page(BIDI, "This meeting is still being processed.")):
        fields = _Fields()
        fields.feed(page)
        assert fields.texts and {tag for tag, _ in fields.texts} <= {"bdi", "title"}, fields.texts
        assert all(EXPLICIT.search(text) is None for _, text in fields.texts), fields.texts
        assert [text for tag, text in fields.texts if tag == "title"] == ["evil"]
        assert all(ANY_BIDI.search(value) is None for value in fields.attributes), fields.attributes
    # Inside its isolation a field keeps its marks: they order its own text and reach no further.
    assert '<bdi class="x">evil\u200f</bdi>' in _page(view)


def test_plain_summary_lines_are_isolated_too() -> None:
    page = _page(_view(Insights(summary=(BIDI,))))
    assert "<li><bdi>evil\u200f</bdi></li>" in page
