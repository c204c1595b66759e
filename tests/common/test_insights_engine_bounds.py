"""The insights engine against hostile answers: too big, too deep, too many items across windows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from zoomsymbl_common.insights_engine import (
    ENGINE_ANSWER_BYTES,
    SECTIONS,
    EngineAnswer,
    EngineAnswerInvalid,
    EngineConfig,
    EngineTopic,
    InsightsEngine,
    People,
    estimate_tokens,
    merge_items,
    merge_summaries,
    parse_answer,
    windows,
)
from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS
from zoomsymbl_common.providers.base import InsightItem, TranscriptMessage

NESTED = "[" * 100_000 + "]" * 100_000
MEETING = (TranscriptMessage("Elisa L", "Can we ship on Friday?", 0.5, 4.0),)
PEOPLE = People({"Elisa L": "elisa@example.com"}, 60.0)


def completion(content: str) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    """An OpenAI-compatible endpoint that answers every chat completion with ``request.param``'s body."""
    body: bytes = request.param

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    running = TestServer(app)
    await running.start_server()
    yield running
    await running.close()


def engine(session: aiohttp.ClientSession, server: TestServer) -> InsightsEngine:
    config = EngineConfig(base_url=str(server.make_url("/v1")), model="m", backoff_seconds=0.0)
    return InsightsEngine(session, config, sleep=no_sleep)


def test_a_deeply_nested_answer_is_an_invalid_answer() -> None:
    with pytest.raises(EngineAnswerInvalid, match="not valid insights JSON"):
        parse_answer(completion(NESTED))


@pytest.mark.parametrize(
    ("server", "why"),
    [
        pytest.param(json.dumps(completion(NESTED)).encode(), "not valid insights JSON", id="nested content"),
        pytest.param(b'{"choices": ' + NESTED.encode() + b"}", "answered non-JSON", id="nested answer"),
        pytest.param(b" " * (ENGINE_ANSWER_BYTES + 1), "answered more than", id="oversized answer"),
    ],
    indirect=["server"],
)
async def test_a_hostile_answer_makes_the_sections_unavailable_and_raises_nothing(
    session: aiohttp.ClientSession, server: TestServer, why: str
) -> None:
    result = await engine(session, server).derive(MEETING, PEOPLE)
    assert set(result.unavailable) == {*SECTIONS, "summary", "topics"}
    assert result.questions == ()
    assert "insights engine failed for 1 of 1 parts" in result.unavailable["questions"]
    assert why in result.unavailable["questions"]


def test_items_merged_from_many_windows_are_bounded_and_the_earliest_kept() -> None:
    windows = [
        [InsightItem(text=f"question {w}-{i} " + "x" * 1_000, start_seconds=w * 100 + i) for i in range(100)]
        for w in range(200)
    ]
    merged = merge_items(windows)
    assert len(merged) == MAX_ITEMS
    assert [i.start_seconds for i in merged] == [float(s) for s in range(MAX_ITEMS)]


def test_the_summary_merged_from_many_windows_is_bounded() -> None:
    topic = EngineTopic(headline="h" * 200, text="t" * 2_000)
    answers = [EngineAnswer(summary=[topic] * 50) for _ in range(400)]
    summary = merge_summaries(answers, PEOPLE)
    assert len(summary) == MAX_ITEMS
    assert sum(len(t.headline) + len(t.text) for t in summary) <= MAX_ITEMS * 2_200


def test_an_answer_past_a_bound_keeps_everything_within_it() -> None:
    """A participant can make the model overrun a bound ("list a hundred action items"): before, one item of
    501 characters, a 31st topic or a time of NaN threw the whole window's answer away."""
    answer = {
        "questions": [{"text": "q" * 501, "speaker": "Elisa L", "time": float("nan")}, {"text": ""}, "not an item"],
        "action_items": [{"text": f"task {i}", "time": 2.0} for i in range(150)],
        "topics": [f"topic {i}" for i in range(31)],
        "summary": [{"headline": "h" * 300, "text": "t", "start": -1, "end": float("inf")}],
        "decisions": "not a list",
    }
    parsed = parse_answer(completion(json.dumps(answer)))
    assert [(len(q.text), q.time) for q in parsed.questions] == [(500, None)]
    assert len(parsed.action_items) == 100 and parsed.action_items[0].text == "task 0"
    assert len(parsed.topics) == 30 and parsed.decisions == []
    assert [(len(t.headline), t.start, t.end) for t in parsed.summary] == [(200, None, None)]
    with pytest.raises(EngineAnswerInvalid):
        parse_answer(completion(json.dumps([answer])))  # not an object at all: asked again


async def test_the_windows_the_engines_deadline_leaves_no_time_for_are_reported_unavailable(
    session: aiohttp.ClientSession,
) -> None:
    """Each window may take 3 attempts of 300 s: a long meeting's 40 windows took hours, past the notifier's
    Kafka poll interval (another consumer then handled the same job again)."""
    now = [0.0]
    calls = []

    async def slow(_: web.Request) -> web.Response:
        calls.append(now[0])
        now[0] += 600.0  # each answer takes ten minutes of the clock
        return web.json_response(completion(json.dumps({"questions": [{"text": f"q{len(calls)}"}]})))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", slow)
    running = TestServer(app)
    await running.start_server()
    try:
        config = EngineConfig(base_url=str(running.make_url("/v1")), model="m", context_tokens=4_600 + 700)
        lines = tuple(TranscriptMessage("Elisa L", "word " * 1_000, float(i), i + 1.0) for i in range(6))
        result = await InsightsEngine(session, config, sleep=no_sleep, clock=lambda: now[0]).derive(lines, PEOPLE)
    finally:
        await running.close()
    assert len(calls) == 2, "the third window starts after the 900 s deadline: not asked"
    assert [q.text for q in result.questions] == ["q1", "q2"]
    assert "not asked: the parts before took the engine's 900 s" in result.unavailable["questions"]


def test_text_in_other_scripts_is_counted_a_token_a_character() -> None:
    """Counted as Latin (3.5 characters a token), 100,000 characters of Japanese went into one window of a 32K
    context; the model's tokenizer makes at least one token of each."""
    assert estimate_tokens("会議の議事録" * 1_000) >= 6_000
    assert estimate_tokens("minutes of the meeting " * 100) < 700
    messages = tuple(TranscriptMessage("Aiko", "会議" * 1_250, float(i), i + 1.0) for i in range(20))
    parts = windows(messages, 27_400)  # 50,000 characters: one window of "14,300 tokens" before
    assert len(parts) == 2 and all(sum(estimate_tokens(m.text) for m in part) <= 27_400 for part in parts)
