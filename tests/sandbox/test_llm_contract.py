"""The LLM sandbox refuses what the services it imitates refuse, and answers in their shapes.

- LLM Gateway (https://www.assemblyai.com/docs/api-reference/llm-gateway/create-chat-completion): a tool message
  needs its ``tool_call_id``; ``stream`` is a boolean, "supported on OpenAI models only"; ``max_tokens`` defaults to
  1000; the answer carries ``http_status_code``, ``response_time`` and ``llm_status_code``.
- LLM Gateway rate limits (https://www.assemblyai.com/docs/llm-gateway/rate-limits): per model, requests within a
  60-second window, 30 for a paid account, then 429.
- OpenAI (https://platform.openai.com/docs/api-reference/chat/create): roles system/developer/user/assistant/tool/
  function; ``response_format`` text/json_object/json_schema, a json_schema with a ``name`` of 1 to 64 letters,
  digits, underscores or dashes; ``"stream": true`` answers server-sent events.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import aiohttp
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import EngineConfig, InsightsEngine, People, request_body
from zoomsymbl_common.providers.base import TranscriptMessage

from tests.support.providers import ProviderSandboxes

KEY = "llm-key"
HI = [{"role": "user", "content": "Hi"}]


async def _post(
    session: aiohttp.ClientSession, server: TestServer, auth: str, **body: Any
) -> tuple[int, str, dict[str, Any] | str]:
    # OpenAI's gpt-5 takes max_completion_tokens only; the Gateway documents max_tokens.
    budget = "max_completion_tokens" if auth.startswith("Bearer ") else "max_tokens"
    request = {"model": "gpt-5", "messages": HI, budget: 100} | body
    url = str(server.make_url("/v1/chat/completions"))
    async with session.post(url, json=request, headers={"Authorization": auth}) as resp:
        if resp.content_type == "application/json":
            return resp.status, resp.content_type, await resp.json()
        return resp.status, resp.content_type, await resp.text()


async def _gateway(sandboxes: ProviderSandboxes, **config: Any) -> TestServer:
    return await sandboxes.llm(api_key=KEY, auth="raw", models=("claude-sonnet-4-6", "gpt-5"), **config)


async def _openai(sandboxes: ProviderSandboxes) -> TestServer:
    return await sandboxes.llm(api_key=KEY, auth="bearer", models=("gpt-5",))


async def test_the_gateway_refuses_a_tool_message_without_its_call_id_and_a_stream_off_openai(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _gateway(sandboxes)
    tool = [*HI, {"role": "tool", "content": "42"}]
    status, _, answer = await _post(session, server, KEY, messages=tool)
    assert status == 400 and isinstance(answer, dict)
    assert "tool_call_id" in answer["error"]["message"]
    answered = [*HI, {"role": "tool", "content": "42", "tool_call_id": "call_1"}]
    assert (await _post(session, server, KEY, messages=answered))[0] == 200
    status, _, answer = await _post(session, server, KEY, model="claude-sonnet-4-6", stream=True)
    assert status == 400 and isinstance(answer, dict)
    assert "stream" in answer["error"]["message"]
    assert (await _post(session, server, KEY, stream="yes"))[0] == 400


async def test_a_stream_asked_for_is_streamed(sandboxes: ProviderSandboxes, session: aiohttp.ClientSession) -> None:
    for server, auth in ((await _gateway(sandboxes), KEY), (await _openai(sandboxes), f"Bearer {KEY}")):
        status, kind, text = await _post(session, server, auth, stream=True)
        assert (status, kind) == (200, "text/event-stream")
        assert isinstance(text, str) and text.rstrip().endswith("data: [DONE]")
        chunk = json.loads(text.split("\n", 1)[0].removeprefix("data: "))
        assert chunk["object"] == "chat.completion.chunk"
        assert (await _post(session, server, auth, stream=False))[1] == "application/json"


async def test_the_gateway_answers_in_its_shape_with_its_default_max_tokens(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    # 1,189 tokens of prompt (4 characters a token) fit a 2,200-token window with the Gateway's default
    # max_tokens of 1000, not with 1024.
    server = await _gateway(sandboxes, context_tokens=2_200)
    body: dict[str, Any] = {"model": "gpt-5", "messages": [{"role": "user", "content": "word " * 951}]}
    url = str(server.make_url("/v1/chat/completions"))
    async with session.post(url, json=body, headers={"Authorization": KEY}) as resp:
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
    assert {"request_id", "choices", "request", "usage"} <= answer.keys()
    assert (answer["http_status_code"], answer["llm_status_code"]) == (200, 200)
    assert isinstance(answer["response_time"], int)


async def test_openai_style_servers_refuse_unknown_roles_and_unnamed_schemas(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _openai(sandboxes)
    auth = f"Bearer {KEY}"
    assert (await _post(session, server, auth, messages=[{"role": "narrator", "content": "Hi"}]))[0] == 400
    assert (await _post(session, server, auth, messages=[{"role": "developer", "content": "Hi"}]))[0] == 200
    schema = {"type": "object"}
    for refused in (
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"schema": schema}},
        {"type": "json_schema", "json_schema": {"name": "meeting insights", "schema": schema}},
        {"type": "json_schema", "json_schema": {"name": "x" * 65, "schema": schema}},
        {"type": "xml"},
    ):
        assert (await _post(session, server, auth, response_format=refused))[0] == 400, refused
    for accepted in (
        {"type": "text"},
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "meeting_insights", "schema": schema}},
    ):
        assert (await _post(session, server, auth, response_format=accepted))[0] == 200, accepted


async def test_the_engine_request_passes_both_dialects(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    meeting = (TranscriptMessage("Elisa L", "Can we ship the release on Friday?", 0.5, 3.0),)
    schemes: tuple[tuple[TestServer, Literal["raw", "bearer"]], ...] = (
        (await _gateway(sandboxes), "raw"),
        (await _openai(sandboxes), "bearer"),
    )
    for server, scheme in schemes:
        config = EngineConfig(
            base_url=str(server.make_url("/v1")), model="gpt-5", api_key=SecretStr(KEY), auth_scheme=scheme
        )
        assert "response_format" in request_body(config, ["[0.5] Elisa L: Hello"])
        result = await InsightsEngine(session, config).derive(meeting, People({"Elisa L": None}))
        assert result.unavailable == {}, scheme
        assert [q.text for q in result.questions] == ["Can we ship the release on Friday?"]


async def test_the_gateway_answers_429_past_30_requests_a_minute_for_one_model(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await _gateway(sandboxes)
    statuses = [(await _post(session, server, KEY))[0] for _ in range(31)]
    assert statuses == [200] * 30 + [429]
    status, _, answer = await _post(session, server, KEY)
    assert status == 429 and isinstance(answer, dict)
    assert answer["error"]["code"] == 429, "the Gateway's error shape"
    assert (await _post(session, server, KEY, model="claude-sonnet-4-6"))[0] == 200, "each model has its own limit"
    unlimited = await _openai(sandboxes)
    assert {(await _post(session, unlimited, f"Bearer {KEY}"))[0] for _ in range(31)} == {200}, "the Gateway's only"
