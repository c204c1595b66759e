"""The insights engine against the OpenAI-compatible sandbox: content, windows, invalid answers, auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import (
    EngineConfig,
    InsightsEngine,
    People,
    estimate_tokens,
    parse_answer,
    request_body,
    transcript_line,
    windows,
)
from zoomsymbl_common.providers.base import TranscriptMessage
from zoomsymbl_common.providers.factory import ASSEMBLYAI_LLM_GATEWAY, engine_config
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_sandbox.llm import LLM_STATE

from tests.support.providers import ProviderSandboxes

KEY = "engine-test-key"
PEOPLE = People({"Elisa L": "elisa@example.com", "Jean-Luc Pérez": "jl@example.com", "Zoë 🎧 Ng": None}, 60.0)
MEETING = (
    TranscriptMessage("Elisa L", "Hello everyone. Can we ship the release on Friday?", 0.5, 4.0),
    TranscriptMessage("Jean-Luc Pérez", "The tests are green. We agreed to ship on Friday.", 8.5, 12.0),
    TranscriptMessage("Zoë 🎧 Ng", "Great. I will send the release notes tomorrow.", 16.5, 19.0),
)
Make = Callable[..., Any]


@pytest.fixture
def llm(sandboxes: ProviderSandboxes) -> Make:
    """Starts an LLM sandbox that accepts ``KEY``; keyword arguments override its config."""

    async def make(**config: Any) -> TestServer:
        return await sandboxes.llm(**({"api_key": KEY} | config))

    return make


def engine(session: aiohttp.ClientSession, server: TestServer, **overrides: Any) -> InsightsEngine:
    fields: dict[str, Any] = {
        "base_url": str(server.make_url("/v1")),
        "model": "sandbox-model",
        "api_key": SecretStr(KEY),
        "auth_scheme": "bearer",
        "backoff_seconds": 0.0,
    }

    async def no_sleep(_: float) -> None:
        return None

    return InsightsEngine(session, EngineConfig(**(fields | overrides)), sleep=no_sleep)


async def test_every_section_names_its_speaker_owner_and_time(session: aiohttp.ClientSession, llm: Make) -> None:
    result = await engine(session, await llm()).derive(MEETING, PEOPLE)
    assert [(q.text, q.speaker, q.start_seconds) for q in result.questions] == [
        ("Can we ship the release on Friday?", "Elisa L", 0.5)
    ]
    assert [(d.text, d.speaker) for d in result.decisions] == [("We agreed to ship on Friday.", "Jean-Luc Pérez")]
    [action] = result.action_items
    assert (action.text, action.assignee, action.start_seconds) == (
        "I will send the release notes tomorrow.",
        "Zoë 🎧 Ng",
        16.5,
    )
    assert action.assignee_email is None
    assert [f.assignee for f in result.follow_ups] == ["Zoë 🎧 Ng"]
    [topic] = result.summary_topics
    assert (topic.headline, topic.start_seconds) == ("Hello everyone.", 0.5)
    assert "Zoë 🎧 Ng: Great" in topic.text
    assert [t.text for t in result.topics] == ["Friday", "Release", "Agreed"]
    assert result.unavailable == {}


async def test_a_long_transcript_is_cut_into_windows_and_merged_without_duplicates(
    session: aiohttp.ClientSession, llm: Make
) -> None:
    repeated = [
        TranscriptMessage(
            "Elisa L", f"Item {i} is on track. Can we ship the release on Friday?", 10.0 * i, 10.0 * i + 5
        )
        for i in range(60)
    ]
    server = await llm(context_tokens=1_500)
    result = await engine(session, server, context_tokens=1_500, max_output_tokens=300).derive(repeated, PEOPLE)
    state = server.app[LLM_STATE]
    assert state.answered > 1, "the transcript must not fit one window"
    assert state.refused == {}, "no window may exceed the context"
    assert [q.text for q in result.questions] == ["Can we ship the release on Friday?"]
    assert result.questions[0].start_seconds == 0.0


def test_windows_keep_utterances_whole_and_in_order() -> None:
    messages = [TranscriptMessage("A", "word " * 50, float(i), float(i) + 1) for i in range(10)]
    budget = 3 * estimate_tokens(transcript_line(messages[0])) + 5
    parts = windows(messages, budget)
    assert [m for part in parts for m in part] == messages
    assert all(len(part) == 3 for part in parts[:-1])


async def test_one_invalid_answer_is_asked_again_and_two_make_the_sections_unavailable(
    session: aiohttp.ClientSession, llm: Make
) -> None:
    server = await llm()
    server.app[LLM_STATE].invalid_json_next = 1
    recovered = await engine(session, server).derive(MEETING, PEOPLE)
    assert recovered.questions
    assert recovered.unavailable == {}
    server.app[LLM_STATE].invalid_json_next = 2
    failed = await engine(session, server).derive(MEETING, PEOPLE)
    assert (failed.questions, failed.decisions) == ((), ())
    assert set(failed.unavailable) == {"questions", "action_items", "follow_ups", "decisions", "summary", "topics"}
    assert "not valid insights JSON" in failed.unavailable["questions"]


async def test_an_engine_that_keeps_failing_is_reported_not_raised(session: aiohttp.ClientSession, llm: Make) -> None:
    server = await llm()
    server.app[LLM_STATE].fail_next = 3
    result = await engine(session, server, attempts=3).derive(MEETING, PEOPLE)
    assert "HTTP 503" in result.unavailable["decisions"]
    assert server.app[LLM_STATE].calls == 3


async def test_a_refused_key_or_model_is_reported_and_the_key_never_appears(
    session: aiohttp.ClientSession, llm: Make
) -> None:
    server = await llm(auth="raw")
    wrong_scheme = await engine(session, server).derive(MEETING, PEOPLE)  # Bearer where the gateway wants the raw key
    assert "HTTP 401" in wrong_scheme.unavailable["questions"]
    assert KEY not in str(wrong_scheme)
    unknown = await engine(session, server, auth_scheme="raw", model="gpt-nonexistent").derive(MEETING, PEOPLE)
    assert "HTTP 404" in unknown.unavailable["questions"]
    right = await engine(session, server, auth_scheme="raw").derive(MEETING, PEOPLE)
    assert right.questions


def test_invented_people_and_impossible_times_are_dropped() -> None:
    content = {
        "action_items": [
            {"text": "Wire the money", "owner": "Mallory", "speaker": "Mallory", "time": 99999},
            {"text": "Review the plan", "owner": "elisa l", "time": 3},
        ]
    }
    answer = parse_answer(
        {"choices": [{"message": {"content": "```json\n" + str(content).replace("'", '"') + "\n```"}}]}
    )
    from zoomsymbl_common.insights_engine import to_items

    invented, real = to_items(answer, "action_items", PEOPLE)
    assert (invented.assignee, invented.speaker, invented.start_seconds) == (None, None, None)
    assert (real.assignee, real.assignee_email, real.start_seconds) == ("Elisa L", "elisa@example.com", 3)


def test_the_request_carries_the_schema_and_no_secret() -> None:
    config = EngineConfig(base_url="http://x/v1", model="m", api_key=SecretStr("k-secret"))
    body = request_body(config, [transcript_line(MEETING[0])])
    assert body["response_format"]["json_schema"]["schema"]["properties"].keys() >= {"questions", "decisions"}
    assert "k-secret" not in str(body)
    assert body["messages"][1]["content"].endswith("[0.5] Elisa L: Hello everyone. Can we ship the release on Friday?")


def test_assemblyai_tenants_default_to_the_gateway_with_the_raw_key_and_symbl_tenants_to_none() -> None:
    base = {"id": "t", "zoom_webhook_secret": SecretStr("w"), "assemblyai_api_key": SecretStr("aai-key")}
    gateway = engine_config(TenantConfig(**base))
    assert gateway is not None
    assert (gateway.base_url, gateway.auth_scheme, gateway.api_key.get_secret_value()) == (
        ASSEMBLYAI_LLM_GATEWAY,
        "raw",
        "aai-key",
    )
    own = engine_config(TenantConfig(**base, llm_base_url="http://llm.internal:8000/v1", llm_api_key=SecretStr("x")))
    assert own is not None
    assert (own.auth_scheme, own.api_key.get_secret_value()) == ("bearer", "x")
    assert engine_config(TenantConfig(**base, provider="symbl")) is None
    assert engine_config(TenantConfig(**base, llm_enabled=False)) is None
    assert TenantConfig(id="d", zoom_webhook_secret=SecretStr("w")).provider == "assemblyai"
