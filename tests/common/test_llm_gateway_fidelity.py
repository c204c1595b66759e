"""The LLM sandbox in the LLM Gateway's dialect refuses and answers as AssemblyAI's published pages say, and the
insights engine works against it with the tenant default (``claude-sonnet-4-6``, raw key).

- https://www.assemblyai.com/docs/llm-gateway/chat-completions: roles user/assistant/system/tool, ``temperature``
  in [0, 2], ``max_tokens`` in [1, context length); answer ``request_id``, ``choices``, ``usage.input_tokens``;
  errors ``{"error": {"code": <status>, "message", "metadata"}}``.
- https://www.assemblyai.com/docs/llm-gateway/structured-outputs: ``response_format`` is ``json_schema`` only;
  its "Supported models" table: Claude (4.5+) yes, gpt-oss no (an earlier version said no for every Claude model).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import EngineConfig, EngineResult, InsightsEngine, People, request_body
from zoomsymbl_common.providers.base import TranscriptMessage
from zoomsymbl_sandbox.llm import LLM_STATE

from tests.support.providers import ProviderSandboxes

KEY = "gateway-key"
MEETING = (
    TranscriptMessage("Elisa L", "Can we ship the release on Friday?", 0.5, 3.0),
    TranscriptMessage("Bob K", "I will send the release notes tomorrow.", 3.5, 6.0),
)
PEOPLE = People({"Elisa L": "elisa@example.com", "Bob K": "bob@example.com"})
SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}


async def _gateway(sandboxes: ProviderSandboxes) -> TestServer:
    return await sandboxes.llm(
        api_key=KEY, auth="raw", models=("claude-sonnet-4-6", "claude-sonnet-4-20250514", "gpt-5", "gpt-oss-120b")
    )


async def _post(session: aiohttp.ClientSession, server: TestServer, **body: Any) -> tuple[int, dict[str, Any]]:
    request = {"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100} | body
    async with session.post(
        str(server.make_url("/v1/chat/completions")), json=request, headers={"Authorization": KEY}
    ) as resp:
        answer: dict[str, Any] = await resp.json()
        return resp.status, answer


async def test_structured_outputs_are_refused_for_gpt_oss_and_claude_before_4_5(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _gateway(sandboxes)
    for model in ("claude-sonnet-4-20250514", "gpt-oss-120b"):
        status, answer = await _post(session, server, model=model, response_format=SCHEMA)
        assert status == 400, model
        assert "structured outputs" in answer["error"]["message"]
    assert (await _post(session, server, response_format=SCHEMA))[0] == 200
    assert (await _post(session, server, model="claude-sonnet-4-6", response_format=SCHEMA))[0] == 200
    assert (await _post(session, server, response_format={"type": "json_object"}))[0] == 400


async def test_out_of_range_values_and_unknown_roles_are_refused(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _gateway(sandboxes)
    for bad in (
        {"temperature": 2.5},
        {"temperature": -0.1},
        {"max_tokens": 0},
        {"max_tokens": 128_000},
        {"messages": [{"role": "developer", "content": "Hi"}]},
    ):
        assert (await _post(session, server, **bad))[0] == 400, bad


async def test_answers_and_errors_have_the_gateways_shape(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _gateway(sandboxes)
    status, answer = await _post(session, server)
    assert status == 200
    assert {"request_id", "choices", "usage"} <= answer.keys()
    assert set(answer["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    status, error = await _post(session, server, model="no-such-model")
    assert status == 404
    assert error == {"error": {"code": 404, "message": "The model 'no-such-model' does not exist", "metadata": {}}}


def test_no_response_format_is_sent_to_models_without_structured_outputs() -> None:
    lines = ["[0.5] Elisa L: Hello"]
    for model in ("claude-sonnet-4-6", "gpt-oss-120b"):
        assert "response_format" not in request_body(EngineConfig(base_url="http://x/v1", model=model), lines)
    assert "response_format" in request_body(EngineConfig(base_url="http://x/v1", model="gpt-5"), lines)


async def _derive(sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, model: str) -> EngineResult:
    """The insights engine's answer for the test meeting from the Gateway sandbox, asking ``model``."""
    server = await _gateway(sandboxes)
    config = EngineConfig(base_url=str(server.make_url("/v1")), model=model, api_key=SecretStr(KEY), auth_scheme="raw")
    return await InsightsEngine(session, config).derive(MEETING, PEOPLE)


async def test_the_engine_gets_insights_from_the_gateway_with_the_default_model(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    result = await _derive(sandboxes, session, "claude-sonnet-4-6")
    assert result.unavailable == {}
    assert [q.text for q in result.questions] == ["Can we ship the release on Friday?"]


async def test_a_gateway_error_is_reported_by_its_message(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    result = await _derive(sandboxes, session, "gpt-4o-mini")
    reason = result.unavailable["questions"]
    assert "The model 'gpt-4o-mini' does not exist" in reason
    assert "metadata" not in reason and KEY not in reason


async def test_the_engine_waits_out_the_gateways_rate_limit_instead_of_giving_up(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    """The Gateway counts requests per model in a 60-second window and answers 429 past the limit, naming no wait
    (https://www.assemblyai.com/docs/llm-gateway/rate-limits). Before, a 429 spent one of the three attempts with
    waits of 2 and 4 s: the second meeting of a minute had every section unavailable. Now the engine waits (8 s,
    doubling) without spending an attempt, and gets its answer once the window has room."""
    server = await sandboxes.llm(
        api_key=KEY, auth="raw", models=("claude-sonnet-4-6",), requests_per_minute_per_model=1
    )
    now = [1000.0]
    server.app[LLM_STATE].window.clock = lambda: now[0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the sandbox's minute passes as the engine waits
        waits.append(seconds)
        now[0] += seconds

    config = EngineConfig(
        base_url=str(server.make_url("/v1")), model="claude-sonnet-4-6", api_key=SecretStr(KEY), auth_scheme="raw",
        attempts=1,
    )  # fmt: skip
    engine = InsightsEngine(session, config, sleep=sleep)
    first, second = await engine.derive(MEETING, PEOPLE), await engine.derive(MEETING, PEOPLE)
    assert first.unavailable == {} and second.unavailable == {}
    assert [q.text for q in second.questions] == ["Can we ship the release on Friday?"]
    assert waits == [8.0, 16.0, 32.0, 60.0], "doubling from 8 s until the sandbox's minute had passed"
    assert server.app[LLM_STATE].refused.get("rate") == 4


async def test_a_rate_limit_that_never_lifts_makes_the_window_unavailable_after_five_waits(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    """A 429 that never ends (a spent quota) must not hold the job-status consumer for the engine's whole deadline:
    five waits (the Gateway's minute twice over), then the sections are unavailable saying 429."""
    limit = {"requests_per_minute_per_model": 1}
    server = await sandboxes.llm(api_key=KEY, auth="raw", models=("claude-sonnet-4-6",), **limit)
    server.app[LLM_STATE].window.clock = lambda: 1000.0  # the minute never passes
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    config = EngineConfig(
        base_url=str(server.make_url("/v1")), model="claude-sonnet-4-6", api_key=SecretStr(KEY), auth_scheme="raw"
    )
    engine = InsightsEngine(session, config, sleep=sleep)
    assert (await engine.derive(MEETING, PEOPLE)).unavailable == {}
    result = await engine.derive(MEETING, PEOPLE)
    assert waits == [8.0, 16.0, 32.0, 60.0, 60.0]
    assert "429" in result.unavailable["questions"] and KEY not in result.unavailable["questions"]
    assert server.app[LLM_STATE].refused.get("rate") == 6
