"""Every transcript path is bounded the same way, AssemblyAI's summary times never crash the meeting, and
Symbl's summary page is e-mailed only when it is a plain https link."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.providers import whisper, zoom_transcript
from zoomsymbl_common.providers.assemblyai_understanding import action_items, summary_topics
from zoomsymbl_common.providers.base import (
    MAX_MESSAGES,
    MAX_NAME,
    MAX_TRANSCRIPT_BYTES,
    SubmittedJob,
    TranscriptMessage,
    bound_transcript,
    finite_number,
)
from zoomsymbl_common.providers.symbl import SymblProvider
from zoomsymbl_common.providers.symbl_insights import bound_transcript as symbl_bound_transcript
from zoomsymbl_common.providers.symbl_insights import finite_number as symbl_finite_number
from zoomsymbl_common.providers.symbl_summary_page import MAX_SUMMARY_URL, summary_page_url

HUGE = "1" + "0" * 400  # a JSON integer no float holds
SYMBL_PAGE = "https://meetinginsights.symbl.ai/meeting/#/eyJzZXNzaW9uSWQiOiI1ODE1MTcwNjkzNTk1MTM2In0="
ASTRAL = "\U0001f600"  # 4 UTF-8 bytes a character
Reader = Callable[[Document], tuple[TranscriptMessage, ...]]
READERS = pytest.mark.parametrize(
    "read", [whisper.messages_from, zoom_transcript.messages_from], ids=["whisper", "zoom"]
)


def _utf8(messages: tuple[TranscriptMessage, ...]) -> int:
    return sum(len(m.text.encode()) + len(m.speaker.encode()) + len((m.email or "").encode()) for m in messages)


def _understanding(summary: str, actions: str) -> object:
    # Parsed from text as the answer arrives: Python's parser reads 1e999 as inf and a long integer exactly.
    sections = f'"summarization": {{"summary": {summary}}}, "action_items": {{"action_items": {actions}}}'
    return json.loads(f'{{"response": {{{sections}}}}}')


def test_summary_times_no_float_holds_are_absent_not_a_crash() -> None:
    understanding = _understanding(
        f'[{{"headline": "Hostile", "text": "t", "start": {HUGE}, "end": 1e999}},'
        ' {"headline": "Pricing", "text": "p", "start": 60000, "end": 120000},'
        ' {"headline": "NaN", "text": "n", "start": NaN, "end": -Infinity}]',
        f'[{{"text": "Send the recap", "start": {HUGE}}}, {{"text": "Book a room", "start": 1e999}}]',
    )
    topics, why = summary_topics(understanding)
    assert why is None
    assert [(t.headline, t.start_seconds, t.end_seconds) for t in topics] == [
        ("Pricing", 60.0, 120.0),
        ("Hostile", None, None),
        ("NaN", None, None),
    ]
    items, why = action_items(understanding)
    assert why is None
    assert [(i.text, i.start_seconds) for i in items] == [("Send the recap", None), ("Book a room", None)]


def _doc(count: int, text: str, speaker: str | None = None) -> Document:
    # Newest first: what is kept must be the start of the meeting whatever order the document holds.
    rows = [
        {"channel": 1 + i % 2, "start": float(i), "end": i + 0.5, "text": text, "speaker": speaker}
        for i in reversed(range(count))
    ]
    return {"utterances": rows}


@READERS
def test_100000_utterances_keep_the_earliest_within_the_count_bound(read: Reader) -> None:
    messages = read(_doc(100_000, "ok"))
    assert len(messages) == MAX_MESSAGES
    assert [m.start_seconds for m in messages] == [float(i) for i in range(MAX_MESSAGES)]


@READERS
def test_long_texts_and_names_keep_the_earliest_within_the_byte_bound(read: Reader) -> None:
    # 2,000 utterances of 5,000 four-byte characters (each cut at 5,000 already): 40 MB before the bound.
    messages = read(_doc(2_000, ASTRAL * 5_000, speaker="s" * 256))
    assert 0 < len(messages) < 2_000
    assert _utf8(messages) <= MAX_TRANSCRIPT_BYTES
    assert all(len(m.speaker) <= MAX_NAME for m in messages)
    assert [m.start_seconds for m in messages] == [float(i) for i in range(len(messages))]
    assert all(set(m.text) <= {ASTRAL} for m in messages)  # a cut text is cut between characters


@READERS
def test_a_long_real_meeting_is_kept_whole(read: Reader) -> None:
    # 10 hours at 180 words a minute in 15-word utterances: 7,200 utterances.
    words = " ".join(["release"] * 15)
    messages = read(_doc(7_200, words, speaker="Elisa L"))
    assert len(messages) == 7_200
    assert all(m.text == words for m in messages)


def test_the_bounds_stay_importable_where_they_were() -> None:
    assert symbl_bound_transcript is bound_transcript
    assert symbl_finite_number is finite_number


@pytest.mark.parametrize(
    "url",
    [
        SYMBL_PAGE,
        "https://symbl.ai/" + "p" * (MAX_SUMMARY_URL - 17),
        "HTTPS://meetinginsights.symbl.ai/s",
        "https://MeetingInsights.Symbl.AI./s",
    ],
)
def test_a_plain_https_summary_page_on_symbls_domain_is_kept(url: str) -> None:
    assert summary_page_url(url) == url


@pytest.mark.parametrize(
    "url", ["https://evil.example/meeting/1", "https://symbl.ai.evil.example/m", "https://notsymbl.ai/m"]
)
def test_a_summary_page_on_another_host_is_none_unless_it_is_the_configured_apis(url: str) -> None:
    # Any https host was e-mailed as "the summary page": a hostile or hijacked answer chose where hosts go.
    assert summary_page_url(url) is None
    host = url.split("/")[2]
    assert summary_page_url(url, hosts=(host,)) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://meetinginsights.symbl.ai/meeting/1",
        "javascript:alert(1)",
        "data:text/html,<b>hi</b>",
        "ftp://a.example/s",
        "https:a.example/s",
        "https://",
        "https:///path",
        "https://[::1",
        "https://symbl.ai/" + "p" * (MAX_SUMMARY_URL - 16),
        "https://a.example/a b",
        "https://a.example/a\r\nBcc: victim@example.com",
        "https://a.example/\x00",
        "https://a.example/\u202egpj.exe",
        "https://meetinginsights.symbl.ai@evil.example/login",
        "https://meetinginsights.symbl.ai:pw@evil.example/",
        "https://meetinginsights.symbl.ai\\@evil.example/",
        "https://meetinginsights.symbl.\u0430i/meeting/1",
        "",
        42,
        None,
    ],
)
def test_anything_else_is_no_summary_page(url: object) -> None:
    assert summary_page_url(url) is None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def _symbl(session: aiohttp.ClientSession, page: object, monkeypatch: pytest.MonkeyPatch) -> SymblProvider:
    """Symbl at its real host, answering every call in memory (the page URL as ``page``)."""
    provider = SymblProvider(session, app_id="id", app_secret=SecretStr("secret"), summary_delay=0.0)

    async def call(method: str, path: str, action: str, **_: Any) -> dict[str, Any]:
        if path.endswith("/experiences"):
            return {"name": "verbose-text-summary", "url": page}
        if path.endswith("/summary"):
            return {"summary": [{"text": "Elisa L spoke."}]}
        return {}

    monkeypatch.setattr(provider, "_call", call)
    return provider


@pytest.mark.parametrize(
    "page",
    [
        "http://meetinginsights.symbl.ai/meeting/1",
        "javascript:alert(1)",
        "https://a.example/" + "p" * 10_000,
        "https://a.example/a\nb",
        "https://phishing.example/meeting/1",
    ],
)
async def test_a_hostile_summary_page_is_not_emailed_and_the_summary_stays(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    insights = await _symbl(session, page, monkeypatch).fetch_insights(SubmittedJob("job", "conversation"))
    assert insights.summary_url is None
    assert insights.summary == ("Elisa L spoke.",)


async def test_symbl_s_own_summary_page_is_kept(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    insights = await _symbl(session, SYMBL_PAGE, monkeypatch).fetch_insights(SubmittedJob("job", "conversation"))
    assert insights.summary_url == SYMBL_PAGE


@READERS
@pytest.mark.parametrize("stored", [{"0": {"channel": 1, "start": 0.0, "end": 1.0, "text": "hi"}}, 7, "text", None])
def test_utterances_stored_as_no_list_read_as_none(read: Reader, stored: object) -> None:
    """Before, a mapping or a number there raised TypeError: the completion went down the consumer's unexpected-failure
    path and was retried to its dead letter, where one unreadable utterance already costs only itself."""
    assert read({"utterances": stored}) == ()
    assert [m.text for m in read({"utterances": [{"channel": 1}, *_doc(1, "kept")["utterances"]]})] == ["kept"]
