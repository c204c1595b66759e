"""The meeting page's HTML: hostile names and texts stay text, times become data-t, sections are all there, and
what the report e-mail says is missing the page says too."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from zoomsymbl_common import stored_insights
from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.base import InsightItem, Insights, SummaryTopic, TranscriptMessage
from zoomsymbl_common.records import Meeting, StoredInsights
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.meetings import Speaker as MeasuredSpeaker
from zoomsymbl_notifier.report import meeting_report
from zoomsymbl_web import render
from zoomsymbl_web.meeting import SOURCE_MAX, MeetingView, source_of, view_of
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
        unavailable={"follow_ups": EVIL, "action_items": EVIL},
        extra={INCOMPLETE: EVIL},
    )
    page = _page(_view(insights, (Speaker(EVIL, 1, 10.0, 0.2, 0.05),)))
    assert page.count("Incomplete: <bdi>") == 1 and page.count("(incomplete: <bdi>") == 1
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
        unavailable={"follow_ups": BIDI, "action_items": BIDI},
        extra={INCOMPLETE: BIDI},
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


class _Text(HTMLParser):
    """The page's text as a visitor reads it: no script or style, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    HIDDEN = frozenset({"script", "style", "title"})
    SPACED = frozenset({"h1", "h2", "p", "li", "ul", "ol", "section", "tr", "td", "th", "dt", "dd", "time"})
    """Elements the page sets apart from their neighbours (blocks; a time has a margin)."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        self.parts.append(" " if tag in self.SPACED else "")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN
        self.parts.append(" " if tag in self.SPACED else "")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join("".join(parser.parts).split())


def _section(page: str, section: str) -> str:
    found = re.search(f'<section id="{section}">(.*?)</section>', page)
    assert found is not None, section
    return _text(found.group(1))


WINDOW_FAILED = "insights engine failed for 1 of 3 parts of the transcript: HTTP 503"
PART_FAILED = "insights engine failed for 1 of 1 parts of the transcript: timed out"


def incomplete_parts() -> tuple[Insights, Insights]:
    """A split meeting's two parts: part 1's engine answered for some windows of the transcript only (its action
    items, and ``insights_incomplete``), part 2's for none (its sections unavailable)."""
    first = Insights(
        messages=(TranscriptMessage("Ana", "I will send the deck", 5.0, 8.0, channel=1),),
        action_items=(InsightItem("Send the deck", assignee="Ana", start_seconds=5.0),),
        extra={INCOMPLETE: WINDOW_FAILED},
    )
    second = Insights(
        messages=(TranscriptMessage("Bo", "Who pays for it?", 3.0, 6.0, channel=2),),
        unavailable={"action_items": PART_FAILED, "questions": PART_FAILED},
    )
    return first, second


def _stored(index: int, offset: float, insights: Insights) -> StoredInsights:
    return StoredInsights(
        provider="assemblyai",
        conversation_id=f"conv-{index}",
        tenant="acme",
        meeting_uuid="u==",
        job_id=f"job-{index}",
        part_index=index,
        part_offset_seconds=offset,
        insights=stored_insights.encode(insights),
        stored_at=datetime.now(tz=UTC),
    )


def test_the_page_says_what_the_email_says_of_incomplete_insights() -> None:
    """A split meeting read as the page reads it: part 1's engine answered for some windows only, part 2's for none.
    The e-mail says the insights are incomplete, and which sections miss a part; a visitor must read the same, not
    part 1's action items as if they were all."""
    first, second = incomplete_parts()
    meeting = Meeting(tenant="acme", meeting_uuid="u==", stage="notified", topic="Weekly sync")
    view = view_of(meeting, None, [_stored(0, 0.0, first), _stored(1, 3600.0, second)])
    assert isinstance(view, MeetingView)
    page = _page(view)
    email = meeting_report(view.insights, MeetingFacts(topic="Weekly sync"), 0, []).text
    said = [
        line.strip(" -") for line in email.splitlines() if re.match(r"(  - )?\(?(incomplete|unavailable)", line, re.I)
    ]
    assert len(said) == 3, email  # the notice, action items incomplete, questions unavailable
    text = _text(page)
    for line in said:
        assert line in text, line
    notice = f"Incomplete: {WINDOW_FAILED}. The sections below miss what those parts hold; the transcript has it all."
    assert text.index(notice) < text.index("Summary") and text.index("Speakers") < text.index(notice)
    assert (
        _section(page, "action-items") == f"Action items 0:00:05 Send the deck owner: Ana (incomplete: {PART_FAILED})"
    )
    assert _section(page, "questions") == f"Questions (unavailable: {PART_FAILED})"
    assert _section(page, "decisions") == "Decisions (none)"


def test_a_complete_meeting_has_no_notice() -> None:
    page = _page(_view(Insights(action_items=(InsightItem("Ship it"),), extra={"source": "AssemblyAI"})))
    assert 'id="incomplete"' not in page and "ncomplete" not in _text(page)


@pytest.mark.parametrize(
    ("stored", "notice"),
    [
        ({}, None),  # written before the engine existed: no extra at all
        ({"extra": ["not", "a", "mapping"]}, None),
        ({"extra": {"source": "Zoom transcript"}}, None),
        ({"extra": {INCOMPLETE: 5}}, "Incomplete: 5."),
        ({"extra": {INCOMPLETE: " \n\t "}}, "Incomplete: no reason recorded."),
        ({"extra": {INCOMPLETE: None}}, "Incomplete: no reason recorded."),  # not "Incomplete: None."
        (
            {"extra": {INCOMPLETE: "windows\r\nfailed:\x1b[31m HTTP\u2028503 "}},
            "Incomplete: windows failed: [31m HTTP 503.",
        ),
    ],
)
def test_an_old_or_odd_stored_notice_still_renders(stored: dict[str, Any], notice: str | None) -> None:
    page = _page(_view(stored_insights.decode(stored)))
    text = _text(page)
    if notice is None:
        assert 'id="incomplete"' not in page and "Incomplete" not in text
    else:
        assert f"{notice} The sections below miss what those parts hold" in text


def test_a_stored_reason_is_one_bounded_line() -> None:
    """A reason is stored text: a megabyte of it, line breaks and all, shows as one line of 300 characters (the
    notice's, an incomplete section's, an unavailable one's)."""
    huge = "failed: " + "x\n" * 500_000
    unavailable = {"questions": huge, "decisions": huge}  # one section with lines (incomplete), one without
    decoded = stored_insights.decode(
        {"extra": {INCOMPLETE: huge}, "unavailable": unavailable, "questions": [{"text": "Who pays?"}]}
    )
    page = _page(_view(decoded))
    reasons = re.findall(r"(?:ncomplete|unavailable): <bdi>([^<]*)</bdi>", page)
    assert len(reasons) == 3
    for shown in reasons:
        assert len(shown) == render.REASON_MAX and shown.endswith("…") and "\n" not in shown
        assert shown.startswith("failed: x x x")
    assert len(page) < 20_000


def test_a_null_stored_reason_reads_no_reason_recorded_not_none() -> None:
    """A reason stored as null (a section's, the notice's) was read back as the text "None": the page said
    "(unavailable: None)". It reads "no reason recorded"; the section stays marked; a null source is no source."""
    decoded = stored_insights.decode(
        {
            "questions": [{"text": "Who pays?"}],
            "unavailable": {"questions": None, "decisions": None},
            "extra": {INCOMPLETE: None, "source": None, "summary": None},
        }
    )
    page = _page(_view(decoded))
    assert _section(page, "questions") == "Questions Who pays? (incomplete: no reason recorded)"
    assert _section(page, "decisions") == "Decisions (unavailable: no reason recorded)"
    assert _section(page, "summary") == "Summary (none)"
    assert "Incomplete: no reason recorded. The sections below" in _text(page)
    assert "None" not in _text(page)
    assert source_of(decoded, "assemblyai") == "AssemblyAI"


def test_a_summary_the_provider_had_not_finished_is_not_shown_as_none() -> None:
    """Symbl had not finished the summary when the meeting was processed: the e-mail says so; "(none)" would say the
    meeting had nothing to summarise."""
    insights = Insights(action_items=(InsightItem("Ship it"),), extra={"summary": "not ready"})
    summary = _section(_page(_view(insights)), "summary")
    assert summary == "Summary (not ready: the provider had not finished the summary yet)"
    email = meeting_report(insights, MeetingFacts(), 0, []).text
    assert "The provider had not finished the summary yet" in email


def test_the_stored_source_line_is_one_bounded_line() -> None:
    hostile = Insights(messages=(), extra={"source": "Zoom\r\ntranscript\x1b[31m " + "x" * 1_000_000})
    shown = source_of(hostile, "zoom")
    assert len(shown) == SOURCE_MAX and shown.startswith("Zoom transcript [31m x")
    assert source_of(Insights(messages=(), extra={"source": " \n "}), "assemblyai") == "AssemblyAI"


def test_the_speakers_shares_add_up_to_100_and_match_the_email() -> None:
    """``make demo``'s three speakers (38.6 %, 38.6 %, 22.8 %) read 39 % + 39 % + 23 % = 101 % on the page and in
    the e-mail: both now show the same whole percentages, adding up to 100."""
    talk = {"Ana": 1390.0, "Bo": 1390.0, "Cy": 820.0}
    speakers = tuple(Speaker(name, i + 1, seconds) for i, (name, seconds) in enumerate(talk.items()))
    page = _page(_view(Insights(messages=()), speakers))
    shares = re.findall(r'<tr class="speaker">.*?<td class=n>[^<]*</td><td class=n>(\d+)%</td>', page)
    assert [int(s) for s in shares] == [39, 38, 23]

    facts = MeetingFacts(speakers=tuple(MeasuredSpeaker(i + 1, n, s) for i, (n, s) in enumerate(talk.items())))
    email = meeting_report(Insights(messages=()), facts, 0, []).text
    assert re.findall(r"^  - \w+: \d:\d\d:\d\d \((\d+)%\)$", email, re.M) == shares


SECRET_KEY = "sk-reason-" + "7f3a9c2e41b86d05" * 2  # registered with the redactor, as a tenant's provider key is
PRESIGNED_REASON = "https://s3.example.com/b/k.wav?X-Amz-Signature=0d1e2f&X-Amz-Credential=AKIAEXAMPLE"


def test_a_secret_or_presigned_url_in_a_stored_reason_reaches_no_page() -> None:
    """The reasons are a provider's or the engine's words, stored as said: a key it echoed, a presigned URL it quoted
    is scrubbed on the page (notice, incomplete and unavailable section), as in the e-mail."""
    register_secret(SECRET_KEY)
    why = f"assemblyai summarization is 'denied for key {SECRET_KEY}' fetching {PRESIGNED_REASON}"
    decoded = stored_insights.decode(
        {"extra": {INCOMPLETE: why}, "unavailable": {"questions": why, "decisions": why}, "questions": [{"text": "?"}]}
    )
    page = _page(_view(decoded), audio=None)
    for leaked in (SECRET_KEY, SECRET_KEY[:16], "X-Amz-Signature", "AKIAEXAMPLE"):
        assert leaked not in page, leaked
    shown = "assemblyai summarization is 'denied for key [redacted]' fetching https://s3.example.com/…"
    assert _section(page, "questions") == f"Questions ? (incomplete: {shown})"
    assert _section(page, "decisions") == f"Decisions (unavailable: {shown})"
    assert f"Incomplete: {shown}." in _text(page)
    email = meeting_report(decoded, MeetingFacts(topic="Weekly sync"), 0, []).text
    assert f"(unavailable: {shown.replace('https://s3.example.com', 'https[:]//s3[.]example[.]com')})" in email


def test_a_secret_cut_at_the_read_bound_of_a_long_reason_shows_no_prefix() -> None:
    """Only the first 8 × REASON_MAX characters of a reason are read: a secret across that cut was a prefix the
    redactor did not know, shown once the whitespace before it collapsed."""
    register_secret(SECRET_KEY)
    why = "failed:" + " " * (render.REASON_MAX * 8 - 20) + SECRET_KEY + " and more"
    page = _page(_view(stored_insights.decode({"unavailable": {"decisions": why}})), audio=None)
    assert SECRET_KEY[:8] not in page
    assert _section(page, "decisions") == "Decisions (unavailable: failed:…)"
