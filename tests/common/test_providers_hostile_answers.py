"""Provider answers that are too big, too deep or too many: each has a defined outcome, and what is kept is bounded."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import bson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common import stored_insights
from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.providers.assemblyai import AssemblyAIProvider, parse_topics, parse_utterances
from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS, MAX_TEXT
from zoomsymbl_common.providers.base import Insights, SubmittedJob, SummaryTopic
from zoomsymbl_common.providers.http import MAX_ANSWER_BYTES, read_json
from zoomsymbl_common.providers.symbl_insights import (
    MAX_MESSAGES,
    MAX_TRANSCRIPT_BYTES,
    parse_items,
    parse_messages,
    parse_summary,
)

from tests.support.http_servers import Handler, Servers

NESTED = "[" * 100_000 + "]" * 100_000
MONGO_DOCUMENT_LIMIT = 16 * 1024 * 1024


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[TestServer]]]:
    """Starts a server answering every GET with ``handler``."""
    servers = Servers()
    yield servers.start
    await servers.close()


def streamed(status: int, size: int) -> Handler:
    """A ``size``-byte body sent chunked (no Content-Length to refuse it by)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * 65_536
        for _ in range(size // len(chunk) + 1):
            await response.write(chunk)
        await response.write_eof()
        return response

    return handler


def answering(text: str, status: int = 200) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=text, content_type="application/json")

    return handler


async def read(session: aiohttp.ClientSession, server: TestServer, **kwargs: Any) -> dict[str, Any]:
    async with session.get(server.make_url("/answer")) as response:
        return await read_json("assemblyai", "get transcript", response, "insights", **kwargs)


async def test_an_answer_past_the_byte_bound_is_poison_whether_streamed_or_declared(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[TestServer]]
) -> None:
    chunked = await serve(streamed(200, 2 * 1024 * 1024))
    with pytest.raises(PoisonInputError, match="answered more than 1048576 bytes") as caught:
        await read(session, chunked, max_bytes=1024 * 1024)
    assert caught.value.stage == "insights"
    declared = await serve(answering("[" + " " * (2 * 1024 * 1024) + "]"))
    with pytest.raises(PoisonInputError, match="more than"):
        await read(session, declared, max_bytes=1024 * 1024)


async def test_an_error_status_outranks_a_body_past_the_bound(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[TestServer]]
) -> None:
    server = await serve(streamed(503, 2 * 1024 * 1024))
    with pytest.raises(RetryableError, match=r"HTTP 503.*too large"):
        await read(session, server, max_bytes=1024 * 1024)


async def test_an_answer_within_the_bound_is_read_as_before(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[TestServer]]
) -> None:
    server = await serve(answering('{"status": "completed", "text": "' + "x" * 1_000_000 + '"}'))
    data = await read(session, server, max_bytes=1_000_100)
    assert data["status"] == "completed"
    assert len(data["text"]) == 1_000_000


def test_the_default_bound_exceeds_a_ten_hour_transcript_at_a_fast_300_words_a_minute() -> None:
    # ~240 bytes a word (every word twice, with times, confidence, speaker, channel): see MAX_ANSWER_BYTES.
    assert MAX_ANSWER_BYTES > 2 * (10 * 60 * 300 * 240)


async def test_deeply_nested_json_is_an_unusable_answer_not_a_crash(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[TestServer]]
) -> None:
    ok = await serve(answering(NESTED))
    with pytest.raises(RetryableError, match="non-JSON"):
        await read(session, ok)
    refused = await serve(answering('{"error": ' + NESTED + "}", status=400))
    with pytest.raises(PoisonInputError, match="HTTP 400"):
        await read(session, refused)


async def test_assemblyai_insights_of_a_nested_answer_are_retryable(
    session: aiohttp.ClientSession, serve: Callable[[Handler], Awaitable[TestServer]]
) -> None:
    server = await serve(answering(NESTED))
    provider = AssemblyAIProvider(session, api_key="k", api_base=str(server.make_url("")))
    with pytest.raises(RetryableError):
        await provider.fetch_insights(SubmittedJob(job_id="t1", conversation_id="t1"))


def _utf8(messages: Any) -> int:
    return sum(len(m.text.encode()) + len(m.speaker.encode()) + len((m.email or "").encode()) for m in messages)


def test_symbl_lists_of_20000_entries_of_1000_chars_are_bounded() -> None:
    items = parse_items([{"text": "q" * 1_000, "assignee": {"name": "n" * 5_000}} for _ in range(20_000)])
    assert len(items) == MAX_ITEMS
    assert all(len(i.assignee or "") <= 200 for i in items)
    long_items = parse_items([{"text": "t" * 50_000, "dueBy": "d" * 5_000}])
    assert len(long_items[0].text) == MAX_TEXT
    assert len(long_items[0].due or "") <= 64
    summary = parse_summary([{"text": "s" * 5_000} for _ in range(20_000)])
    assert len(summary) == MAX_ITEMS
    assert all(len(line) == MAX_TEXT for line in summary)
    assert len(parse_summary("w" * 10_000_000)[0]) < 100_000
    messages = parse_messages(
        [{"text": "m" * 1_000, "timeOffset": i, "from": {"name": "x" * 10_000}} for i in range(20_000)]
    )
    assert 0 < len(messages) <= MAX_MESSAGES
    assert _utf8(messages) <= MAX_TRANSCRIPT_BYTES
    assert [m.start_seconds for m in messages] == sorted(m.start_seconds for m in messages)
    assert messages[0].start_seconds == 0.0  # the start of the meeting is what is kept


def test_assemblyai_lists_of_20000_entries_of_1000_chars_are_bounded() -> None:
    utterances = parse_utterances(
        [{"text": "u" * 1_000, "start": i * 1_000, "end": i * 1_000 + 900, "speaker": "A"} for i in range(20_000)]
    )
    assert 0 < len(utterances) < 20_000
    assert _utf8(utterances) <= MAX_TRANSCRIPT_BYTES
    many = parse_utterances([{"text": "ok", "start": i, "end": i + 1} for i in range(MAX_MESSAGES + 10_000)])
    assert len(many) == MAX_MESSAGES
    topics = parse_topics({"summary": {f"A>B>{i}{'x' * 1_000}": i / 20_000 for i in range(20_000)}})
    assert len(topics) == MAX_ITEMS
    assert topics[0].score == pytest.approx(19_999 / 20_000)  # the most relevant are what is kept


def test_a_long_real_meeting_is_kept_whole() -> None:
    # 10 hours at 180 words a minute in 15-word utterances, two channels: 7,200 utterances.
    words = " ".join(["release"] * 15)
    raw = [
        {"text": words, "start": i * 5_000, "end": i * 5_000 + 4_500, "channel": str(1 + i % 2)} for i in range(7_200)
    ]
    messages = parse_utterances(raw)
    assert len(messages) == 7_200
    assert all(m.text == words for m in messages)


HUGE = 10**400  # a JSON integer no float holds


def test_numbers_no_float_holds_are_skipped_not_raised() -> None:
    utterances = parse_utterances([{"text": "a", "start": HUGE, "end": float("nan")}])
    assert (utterances[0].start_seconds, utterances[0].end_seconds) == (0.0, 0.0)
    assert [t.text for t in parse_topics({"summary": {"A": HUGE, "B": float("inf"), "C": 0.5}})] == ["C"]
    messages = parse_messages([{"text": "big", "timeOffset": HUGE, "duration": HUGE, "score": HUGE}])
    assert (messages[0].start_seconds, messages[0].end_seconds) == (0.0, 0.0)


def test_a_channel_that_only_looks_like_a_number_is_no_channel() -> None:
    assert parse_utterances([{"text": "a", "channel": "²"}])[0].channel is None


def test_times_with_and_without_a_zone_are_read_together() -> None:
    mixed = [
        {"text": "aware", "startTime": "2026-07-10T11:16:21Z", "endTime": "2026-07-10T11:16:22Z"},
        {"text": "naive", "startTime": "2026-07-10T11:16:31", "endTime": "2026-07-10T11:16:32"},
    ]
    messages = parse_messages(mixed)
    assert [(m.text, m.start_seconds, m.end_seconds) for m in messages] == [("aware", 0.0, 1.0), ("naive", 10.0, 11.0)]


def _junk(pool: str, i: int, size: int) -> str:
    start = (i * 7_919) % (len(pool) - size)
    return pool[start : start + size]


def test_a_hostile_answer_at_every_bound_still_fits_one_mongodb_document() -> None:
    rng = random.Random(7)
    # Code points spread over the astral planes: 4 UTF-8 bytes each, and close to incompressible.
    pool = "".join(chr(rng.randint(0x10000, 0x10FFFF)) for _ in range(200_000))
    utterances = [{"text": _junk(pool, i, 1_000), "start": i, "speaker": _junk(pool, i, 300)} for i in range(20_000)]
    messages = parse_utterances(utterances)
    entries = [{"text": _junk(pool, i, 3_000), "assignee": {"name": _junk(pool, i, 300)}} for i in range(300)]
    items = parse_items(entries)
    summary = parse_summary([{"text": _junk(pool, i, 3_000)} for i in range(300)])
    topics = tuple(SummaryTopic(_junk(pool, i, 200), _junk(pool, i + 1, 2_000)) for i in range(MAX_ITEMS))
    insights = Insights(
        messages=messages,
        topics=items,
        questions=items,
        action_items=items,
        follow_ups=items,
        decisions=items,
        summary=summary,
        summary_topics=topics,
    )
    assert len(bson.encode(stored_insights.encode(insights))) < MONGO_DOCUMENT_LIMIT
