"""A tenant whose ``llm_model`` is one of OpenAI's reasoning models (the GPT-5 family, the o-series) gets insights:
OpenAI refuses their ``max_tokens`` ("Use 'max_completion_tokens' instead") and any ``temperature`` but 1 with 400
(https://platform.openai.com/docs/api-reference/chat/create, https://platform.openai.com/docs/guides/latest-model).
The engine asks once more in the form the refusal asks for, keeps it for its later requests, and leaves self-hosted
servers and the LLM Gateway their documented ``max_tokens`` and ``temperature`` 0."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from zoomsymbl_common.insights_engine import EngineConfig, InsightsEngine, People, request_body
from zoomsymbl_common.providers.base import TranscriptMessage
from zoomsymbl_sandbox.llm import LLM_STATE
from zoomsymbl_sandbox.llm_content import answer_for, transcript_lines

from tests.support.providers import ProviderSandboxes

KEY = "reasoning-key"
PEOPLE = People({"Elisa L": "elisa@example.com", "Bob K": "bob@example.com"}, 60.0)
MEETING = (
    TranscriptMessage("Elisa L", "Can we ship the release on Friday?", 0.5, 3.0),
    TranscriptMessage("Bob K", "I will send the release notes tomorrow.", 3.5, 6.0),
)
LATER = (TranscriptMessage("Bob K", "Should we invite the design team?", 1.0, 3.0),)
TEMPERATURE_REFUSED = {
    "message": "Unsupported value: 'temperature' does not support 0 with this model."
    " Only the default (1) value is supported.",
    "type": "invalid_request_error",
    "param": "temperature",
    "code": "unsupported_value",
}
Refuse = Callable[[dict[str, Any]], dict[str, Any] | None]


async def no_sleep(_: float) -> None:
    return None


def engine(session: aiohttp.ClientSession, server: TestServer, model: str, scheme: str = "bearer") -> InsightsEngine:
    config = EngineConfig(
        base_url=str(server.make_url("/v1")),
        model=model,
        api_key=SecretStr(KEY),
        auth_scheme="raw" if scheme == "raw" else "bearer",
        backoff_seconds=0.0,
    )
    return InsightsEngine(session, config, sleep=no_sleep)


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "gpt-5.1", "o3-mini", "o4-mini"])
async def test_a_tenant_on_an_openai_reasoning_model_gets_insights(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, model: str
) -> None:
    server = await sandboxes.llm(api_key=KEY, auth="bearer", dialect="openai", models=(model,))
    asking = engine(session, server, model)
    result = await asking.derive(MEETING, PEOPLE)
    assert result.unavailable == {}
    assert [q.text for q in result.questions] == ["Can we ship the release on Friday?"]
    assert [(a.text, a.assignee) for a in result.action_items] == [("I will send the release notes tomorrow.", "Bob K")]
    state = server.app[LLM_STATE]
    assert state.refused == {"request": 1}  # the first request, refused as OpenAI refuses it, and no other
    later = await asking.derive(LATER, PEOPLE)
    assert [q.text for q in later.questions] == ["Should we invite the design team?"]
    assert (state.refused, state.answered) == ({"request": 1}, 2)  # the adjusted form is kept: not refused again


@pytest.fixture
async def endpoint() -> AsyncIterator[Callable[[Refuse], Any]]:
    """``make(refuse)``: an endpoint that records each request's body and answers ``{"error": refuse(body)}`` with
    400 when that is not None, else the sandbox's insights for the transcript asked about."""
    servers: list[TestServer] = []

    async def make(refuse: Refuse) -> tuple[TestServer, list[dict[str, Any]]]:
        bodies: list[dict[str, Any]] = []

        async def answer(request: web.Request) -> web.Response:
            body = await request.json()
            bodies.append(body)
            error = refuse(body)
            if error is not None:
                return web.json_response({"error": error}, status=400)
            content = json.dumps(answer_for(transcript_lines(body["messages"][-1]["content"])))
            choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            return web.json_response({"choices": [choice]})

        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return server, bodies

    yield make
    for server in servers:
        await server.close()


async def test_a_second_refusal_fails_the_window_after_one_adjusted_request(
    session: aiohttp.ClientSession, endpoint: Any
) -> None:
    server, bodies = await endpoint(lambda _: TEMPERATURE_REFUSED)
    result = await engine(session, server, "gpt-5").derive(MEETING, PEOPLE)
    assert len(bodies) == 2  # the request and one adjusted request: no loop, no retry of a 400 as such
    assert "temperature" in bodies[0] and "max_tokens" in bodies[0]
    assert "temperature" not in bodies[1] and bodies[1]["max_completion_tokens"] == 4_000
    assert "max_tokens" not in bodies[1]
    assert "'temperature' does not support 0 with this model" in result.unavailable["questions"]


async def test_a_refusal_in_the_gateways_shape_drops_the_temperature_and_keeps_max_tokens(
    session: aiohttp.ClientSession, endpoint: Any
) -> None:
    def refuse(body: dict[str, Any]) -> dict[str, Any] | None:
        message = "temperature: Unsupported value: 'temperature' does not support 0 with this model."
        return {"code": 400, "message": message, "metadata": {}} if "temperature" in body else None

    server, bodies = await endpoint(refuse)
    asking = engine(session, server, "gpt-5", scheme="raw")
    result = await asking.derive(MEETING, PEOPLE)
    assert result.unavailable == {}
    assert [q.text for q in result.questions] == ["Can we ship the release on Friday?"]
    assert [sorted(set(b) & {"temperature", "max_tokens", "max_completion_tokens"}) for b in bodies] == [
        ["max_tokens", "temperature"],
        ["max_tokens"],
    ]
    await asking.derive(LATER, PEOPLE)
    assert len(bodies) == 3 and "temperature" not in bodies[2]


async def test_a_400_that_names_no_refused_parameter_is_not_asked_again(
    session: aiohttp.ClientSession, endpoint: Any
) -> None:
    too_large = {
        "message": "max_tokens is too large: 4000. This model supports at most 2048 completion tokens.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": None,
    }
    server, bodies = await endpoint(lambda _: too_large)
    result = await engine(session, server, "gpt-4.1").derive(MEETING, PEOPLE)
    assert len(bodies) == 1
    assert "max_tokens is too large" in result.unavailable["decisions"]


def test_openai_gets_max_completion_tokens_and_self_hosted_servers_and_the_gateway_max_tokens() -> None:
    lines = ["[0.5] Elisa L: Hello"]
    for base in ("https://api.openai.com/v1", "https://eu.api.openai.com/v1"):
        body = request_body(EngineConfig(base_url=base, model="gpt-4.1", max_output_tokens=3_000), lines)
        assert (body["max_completion_tokens"], body["temperature"]) == (3_000, 0)
        assert "max_tokens" not in body
    for base in (
        "https://llm-gateway.assemblyai.com/v1",
        "http://vllm.internal:8000/v1",
        "http://localhost:11434/v1",
        "https://api.openai.com.evil.example/v1",
    ):
        body = request_body(EngineConfig(base_url=base, model="gpt-5", max_output_tokens=3_000), lines)
        assert (body["max_tokens"], body["temperature"]) == (3_000, 0)
        assert "max_completion_tokens" not in body


async def test_self_hosted_models_and_the_gateway_are_asked_once_as_before(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    for server, model, scheme in (
        (await sandboxes.llm(api_key=KEY, auth="bearer", models=("qwen2.5:7b",)), "qwen2.5:7b", "bearer"),
        (await sandboxes.llm(api_key=KEY, auth="raw", models=("gpt-5",)), "gpt-5", "raw"),
    ):
        result = await engine(session, server, model, scheme).derive(MEETING, PEOPLE)
        assert result.unavailable == {}, model
        assert (server.app[LLM_STATE].calls, server.app[LLM_STATE].refused) == (1, {}), model
