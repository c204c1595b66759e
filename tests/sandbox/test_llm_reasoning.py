"""The LLM sandbox's OpenAI dialect refuses what OpenAI refuses of its reasoning models, in OpenAI's words and shape;
the Gateway dialect takes ``max_tokens`` and ``temperature`` 0 for its GPT-5 models, as its pages say nothing else.

- https://platform.openai.com/docs/api-reference/chat/create: ``max_tokens`` "is now deprecated in favor of
  ``max_completion_tokens``, and is not compatible with o-series models"; refused the same for the GPT-5 family
  (reports for gpt-5, gpt-5.1, gpt-5.4, o1, o3-mini).
- https://platform.openai.com/docs/guides/latest-model, parameter compatibility: ``temperature`` only at reasoning
  effort ``none`` (gpt-5.1's default); the older GPT-5 models and the o-series refuse any but 1.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support.providers import ProviderSandboxes

KEY = "llm-key"
HI = [{"role": "user", "content": "Hi"}]
MODELS = ("gpt-5", "gpt-5-mini", "gpt-5.1", "gpt-5-chat-latest", "o3-mini", "o4-mini", "gpt-4.1", "sandbox-model")
NO_MAX_TOKENS = {
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model."
    " Use 'max_completion_tokens' instead.",
    "type": "invalid_request_error",
    "param": "max_tokens",
    "code": "unsupported_parameter",
}


def no_temperature(value: str) -> dict[str, Any]:
    """OpenAI's refusal of ``temperature: value``."""
    return {
        "message": f"Unsupported value: 'temperature' does not support {value} with this model."
        " Only the default (1) value is supported.",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "unsupported_value",
    }


async def _post(session: aiohttp.ClientSession, server: TestServer, auth: str, **body: Any) -> tuple[int, Any]:
    request = {"messages": HI} | body
    url = str(server.make_url("/v1/chat/completions"))
    async with session.post(url, json=request, headers={"Authorization": auth}) as resp:
        return resp.status, await resp.json()


async def _openai(sandboxes: ProviderSandboxes, **config: Any) -> TestServer:
    return await sandboxes.llm(api_key=KEY, auth="bearer", models=MODELS, **config)


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "o3-mini", "o4-mini"])
async def test_openai_refuses_temperature_and_max_tokens_of_reasoning_models_as_openai_does(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, model: str
) -> None:
    server, auth = await _openai(sandboxes), f"Bearer {KEY}"
    status, answer = await _post(session, server, auth, model=model, temperature=0, max_completion_tokens=100)
    assert (status, answer) == (400, {"error": no_temperature("0")})
    status, answer = await _post(session, server, auth, model=model, temperature=0.2, max_completion_tokens=100)
    assert (status, answer) == (400, {"error": no_temperature("0.2")})
    status, answer = await _post(session, server, auth, model=model, max_tokens=100)
    assert (status, answer) == (400, {"error": NO_MAX_TOKENS})
    for accepted in ({"max_completion_tokens": 100}, {"max_completion_tokens": 100, "temperature": 1}, {}):
        status, answer = await _post(session, server, auth, model=model, **accepted)
        assert status == 200, (accepted, answer)
        assert answer["choices"][0]["message"]["role"] == "assistant"


async def test_gpt_5_1_takes_temperature_at_its_default_effort_none_but_never_max_tokens(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server, auth = await _openai(sandboxes), f"Bearer {KEY}"
    assert (await _post(session, server, auth, model="gpt-5.1", temperature=0, max_completion_tokens=100))[0] == 200
    status, answer = await _post(session, server, auth, model="gpt-5.1", temperature=0, max_tokens=100)
    assert (status, answer) == (400, {"error": NO_MAX_TOKENS})
    refused = {"temperature": 0, "max_completion_tokens": 100, "reasoning_effort": "low"}
    assert await _post(session, server, auth, model="gpt-5.1", **refused) == (400, {"error": no_temperature("0")})


@pytest.mark.parametrize("model", ["gpt-5-chat-latest", "gpt-4.1", "sandbox-model"])
async def test_models_that_do_not_reason_take_both(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession, model: str
) -> None:
    server, auth = await _openai(sandboxes), f"Bearer {KEY}"
    assert (await _post(session, server, auth, model=model, temperature=0, max_tokens=100))[0] == 200
    assert (await _post(session, server, auth, model=model, temperature=0, max_completion_tokens=100))[0] == 200


async def test_max_completion_tokens_bounds_the_answer_as_max_tokens_does(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server, auth = await _openai(sandboxes, cuts_at_max_tokens=True), f"Bearer {KEY}"
    transcript = [{"role": "user", "content": "[0.5] Elisa L: Can we ship the release on Friday?"}]
    status, answer = await _post(session, server, auth, model="gpt-5", messages=transcript, max_completion_tokens=5)
    assert status == 200
    assert answer["choices"][0]["finish_reason"] == "length"
    assert len(answer["choices"][0]["message"]["content"]) == 20
    status, answer = await _post(session, server, auth, model="gpt-5", max_completion_tokens=0)
    assert status == 400 and answer["error"]["param"] is None
    assert answer["error"]["message"].startswith("max_completion_tokens must be an integer")


async def test_every_openai_error_carries_param(sandboxes: ProviderSandboxes, session: aiohttp.ClientSession) -> None:
    server = await _openai(sandboxes)
    status, answer = await _post(session, server, f"Bearer {KEY}", model="gpt-9", max_completion_tokens=100)
    assert status == 404
    assert answer == {
        "error": {
            "message": "The model 'gpt-9' does not exist",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        }
    }


async def test_the_gateway_takes_max_tokens_and_temperature_0_for_its_gpt_5_models(
    sandboxes: ProviderSandboxes, session: aiohttp.ClientSession
) -> None:
    server = await sandboxes.llm(api_key=KEY, auth="raw", models=("gpt-5", "gpt-5-mini"))
    for model in ("gpt-5", "gpt-5-mini"):
        status, answer = await _post(session, server, KEY, model=model, temperature=0, max_tokens=100)
        assert status == 200, answer
        assert answer["request"]["max_tokens"] == 100
