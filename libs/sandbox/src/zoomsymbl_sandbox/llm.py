"""SANDBOX OpenAI-compatible chat completions (an LLM that is not one), for tests and ``make demo``.

Imitates ``POST /v1/chat/completions`` as documented by AssemblyAI's LLM Gateway (``dialect="llm-gateway"``, the
default with ``auth="raw"``; https://www.assemblyai.com/docs/llm-gateway/chat-completions and the API reference
https://www.assemblyai.com/docs/api-reference/llm-gateway/create-chat-completion: raw API key in ``Authorization``,
models such as ``claude-sonnet-4-6``, roles user/assistant/system/tool (a tool message with its ``tool_call_id``),
``temperature`` in [0, 2], ``max_tokens`` in [1, context length) defaulting to 1000, ``stream`` a boolean and
"supported on OpenAI models only" (refused here for the others), answers with ``request_id``, ``choices``,
``request``, ``usage`` ``{input_tokens, output_tokens, total_tokens}``, ``http_status_code``, ``response_time`` and
``llm_status_code``, errors ``{"error": {"code": <HTTP status>, "message", "metadata"}}``;
https://www.assemblyai.com/docs/llm-gateway/structured-outputs: ``response_format`` is ``json_schema`` only, with a
``json_schema.name`` and ``.schema``; its "Supported models" table says yes for OpenAI (GPT-4.1, GPT-5.x), Gemini,
Claude (4.5+), Qwen and Kimi and no for gpt-oss, so gpt-oss and the Claude models before 4.5 are refused with 400)
and by OpenAI-style servers (``dialect="openai"``; https://platform.openai.com/docs/api-reference/chat/create, vLLM's
and llama.cpp's OpenAI-compatible servers: ``Authorization: Bearer <key>``, roles system/developer/user/assistant/
tool/function, ``response_format`` text/json_object/json_schema with a ``json_schema.name`` of at most 64 letters,
digits, underscores or dashes, ``max_completion_tokens`` taken in place of ``max_tokens``, errors
``{"error": {"message", "type", "param", "code"}}``; OpenAI's reasoning models refuse what OpenAI refuses, see
:func:`~zoomsymbl_sandbox.llm_dialects._openai_reasoning_check`; the Gateway's pages say nothing of either for its
GPT-5 models, so its dialect takes ``max_tokens`` and ``temperature`` in [0, 2] for every model; the checks of both
dialects are in :mod:`zoomsymbl_sandbox.llm_dialects`). Both: ``model`` must be one the server serves, ``messages``
a non-empty list, ``"stream": true`` answers server-sent events, a prompt longer than the context window minus
``max_tokens`` is refused with ``context_length_exceeded``; with ``truncates_to_context`` it is cut instead, as
Ollama does (https://docs.ollama.com/context-length: its window is 4K to 256K by the GPU's memory unless
``OLLAMA_CONTEXT_LENGTH`` sets it, and a longer prompt is cut without an error, keeping its first tokens and its
end), and ``usage.prompt_tokens`` is the count read (Ollama's ``prompt_eval_count``: ollama/openai/openai.go,
``ToUsage``).

The answer is deterministic, schema-valid JSON derived from the transcript lines (``[seconds] Name: words``)
in the prompt by :mod:`zoomsymbl_sandbox.provider_understanding` (:mod:`zoomsymbl_sandbox.llm_content`), so tests
can assert content. With ``cuts_at_max_tokens``, as every real server does, an answer longer than ``max_tokens``
(4 characters a token here) is cut there with ``finish_reason: "length"``
(https://platform.openai.com/docs/api-reference/chat/object: "the maximum number of tokens specified in the request
was reached"). ``follows_instructions`` makes it the gullible small model: a line "… add an action item: X" makes X
an action item, said by and owned by the first speaker of the prompt. ``/_sandbox/faults`` makes the next answers
(``*_next`` counts each):

- ``invalid_json_next``: prose with broken JSON; ``fail_next``: HTTP ``fail_status``.
- ``wrapped_next``: the JSON after "Sure! Here is the JSON:" in a markdown fence with a sign-off, as small models
  on llama.cpp's server (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md, without a
  ``response_format`` grammar) and Ollama (https://docs.ollama.com/api/openai-compatibility) answer, and the
  Gateway's models asked without a ``response_format`` (gpt-oss takes none).
- ``reasoning_only_next``: ``content: null`` with the text in ``reasoning_content`` and ``reasoning`` and
  ``finish_reason: "length"``: a reasoning model that spent ``max_tokens`` thinking, on vLLM with a reasoning
  parser (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/: ``reasoning_content`` is now ``reasoning``)
  or llama.cpp's server with ``--reasoning-format``.
- ``error_200_next``: HTTP 200 with an OpenAI error object and no ``choices``, as proxies in front of a server send.
- ``stream_next``: server-sent events (``text/event-stream``, ``data: {chunk}`` lines, ``data: [DONE]``) although
  the request says ``"stream": false``, as a server or proxy that streams by default does.

The Gateway dialect keeps the Gateway's per-model rate limit (``requests_per_minute_per_model``, 30 as for a paid
account: https://www.assemblyai.com/docs/llm-gateway/rate-limits; :mod:`zoomsymbl_sandbox.llm_rate`), answering 429.
``/_sandbox/stats`` counts calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from zoomsymbl_sandbox.llm_content import (
    CHARS_PER_TOKEN,
    answer_for,
    obeyed,
    prompt_tokens,
    transcript_lines,
    truncated,
)
from zoomsymbl_sandbox.llm_dialects import Refusal, check_request
from zoomsymbl_sandbox.llm_rate import PerModelWindow, rate_limited

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class LLMConfig:
    """Settings of the LLM sandbox."""

    api_key: str = "sandbox-llm-key"
    auth: Literal["raw", "bearer", "none"] = "bearer"
    models: tuple[str, ...] = ("claude-sonnet-4-6", "sandbox-model")
    context_tokens: int = 128_000
    dialect: Literal["llm-gateway", "openai"] | None = None
    """Whose request checks and answer shapes; None: the LLM Gateway's with ``auth="raw"``, else OpenAI's."""
    follows_instructions: bool = False
    """Do what a transcript line says ("add an action item: X"), as a small model may."""
    cuts_at_max_tokens: bool = False
    """Cut an answer longer than ``max_tokens`` there (``finish_reason: "length"``); off, answers are whole."""
    truncates_to_context: bool = False
    """Cut a prompt longer than ``context_tokens`` to it without an error (Ollama), instead of refusing it."""
    requests_per_minute_per_model: int | None = 30
    """The Gateway's rate limit (its dialect only): 30 a model a minute for a paid account, then 429 (``llm_rate``)."""

    @property
    def gateway(self) -> bool:
        return self.dialect == "llm-gateway" if self.dialect is not None else self.auth == "raw"


@dataclass
class LLMState:
    """Faults to inject and what was asked."""

    config: LLMConfig
    invalid_json_next: int = 0
    wrapped_next: int = 0
    reasoning_only_next: int = 0
    error_200_next: int = 0
    stream_next: int = 0
    fail_next: int = 0
    fail_status: int = 503
    calls: int = 0
    answered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    max_prompt_tokens: int = 0
    truncated: int = 0
    prompts: list[str] = field(default_factory=list)
    window: PerModelWindow = field(init=False)

    def __post_init__(self) -> None:
        self.window = PerModelWindow(self.config.requests_per_minute_per_model)


LLM_STATE = web.AppKey("llm_state", LLMState)


def _error(
    status: int,
    message: str,
    code: str,
    kind: str = "invalid_request_error",
    *,
    gateway: bool = False,
    param: str | None = None,
) -> web.Response:
    if gateway:
        return web.json_response({"error": {"code": status, "message": message, "metadata": {}}}, status=status)
    error = {"message": message, "type": kind, "param": param, "code": code}
    return web.json_response({"error": error}, status=status)


def _authorised(request: web.Request, config: LLMConfig) -> bool:
    if config.auth == "none":
        return True
    given = request.headers.get("Authorization", "")
    expected = config.api_key if config.auth == "raw" else f"Bearer {config.api_key}"
    return given == expected


def _refuse(state: LLMState, code: str, response: web.Response) -> web.Response:
    state.refused[code] = state.refused.get(code, 0) + 1
    return response


def _answer(state: LLMState, body: dict[str, Any], content: str, tokens: int, max_tokens: int) -> dict[str, Any]:
    """The completion in the dialect's shape (the Gateway's ``request_id``/``request``/``usage.input_tokens``),
    cut at ``max_tokens`` with ``finish_reason: "length"`` as real servers do."""
    finish = "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if state.config.cuts_at_max_tokens and len(content) > max_tokens * CHARS_PER_TOKEN:
        content, finish = content[: max_tokens * CHARS_PER_TOKEN], "length"
        message["content"] = content
    if state.reasoning_only_next > 0:
        state.reasoning_only_next -= 1
        thought = ("Let me go through the transcript line by line. " * max_tokens)[: max_tokens * CHARS_PER_TOKEN]
        message = {"role": "assistant", "content": None, "reasoning_content": thought, "reasoning": thought}
        finish = "length"
    output_tokens = len(content) // CHARS_PER_TOKEN
    if state.config.gateway:
        return {
            "request_id": f"sandbox-{state.calls}",
            "choices": [{"message": message, "finish_reason": finish}],
            "request": {k: v for k, v in body.items() if k not in ("messages", "prompt")},
            "usage": {"input_tokens": tokens, "output_tokens": output_tokens, "total_tokens": tokens + output_tokens},
            "http_status_code": 200,
            "response_time": 1_000_000,
            "llm_status_code": 200,
        }
    return {
        "id": f"chatcmpl-sandbox-{state.calls}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": tokens, "completion_tokens": output_tokens, "total_tokens": tokens + output_tokens},
    }


def _streamed(answer: dict[str, Any]) -> web.Response:
    """``answer`` as server-sent events: one chunk with the whole content, then ``[DONE]``."""
    choice = answer["choices"][0]
    chunk = {k: v for k, v in answer.items() if k != "choices"} | {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": choice["message"], "finish_reason": choice["finish_reason"]}],
    }
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
    return web.Response(body=body.encode(), content_type="text/event-stream")


async def chat_completions(request: web.Request) -> web.Response:
    """``POST /v1/chat/completions`` (https://www.assemblyai.com/docs/llm-gateway/chat-completions,
    https://www.assemblyai.com/docs/api-reference/llm-gateway/create-chat-completion and
    https://www.assemblyai.com/docs/llm-gateway/structured-outputs, its per-model rate limit from
    https://www.assemblyai.com/docs/llm-gateway/rate-limits; https://platform.openai.com/docs/api-reference/chat/create
    and, for its reasoning models, https://platform.openai.com/docs/guides/latest-model and
    https://platform.openai.com/docs/guides/reasoning)."""
    state = request.app[LLM_STATE]
    gateway = state.config.gateway
    state.calls += 1
    if not _authorised(request, state.config):
        return _refuse(
            state, "auth", _error(401, "Invalid API key", "invalid_api_key", "authentication_error", gateway=gateway)
        )
    try:
        body = await request.json()
    except ValueError:
        return _refuse(state, "json", _error(400, "request body must be JSON", "invalid_json", gateway=gateway))
    model = body.get("model") if isinstance(body, dict) else None
    if gateway and isinstance(model, str) and not state.window.admit(model):
        return _refuse(state, "rate", rate_limited(model, state.window.limit or 0))
    checked = check_request(body, state.config)
    if isinstance(checked, Refusal):
        refusal = _error(checked.status, checked.message, checked.code, gateway=gateway, param=checked.param)
        return _refuse(state, "request", refusal)
    prompt, max_tokens = checked
    tokens = prompt_tokens(prompt)
    state.max_prompt_tokens = max(state.max_prompt_tokens, tokens)
    if state.config.truncates_to_context and tokens > state.config.context_tokens:
        prompt, tokens = truncated(prompt, state.config.context_tokens), state.config.context_tokens
        state.truncated += 1
    elif tokens + max_tokens > state.config.context_tokens:
        message = f"maximum context length is {state.config.context_tokens} tokens, requested {tokens + max_tokens}"
        return _refuse(state, "context", _error(400, message, "context_length_exceeded", gateway=gateway))
    if state.fail_next > 0:
        state.fail_next -= 1
        fault = _error(state.fail_status, "Injected sandbox fault", "server_error", "api_error", gateway=gateway)
        return _refuse(state, "fault", fault)
    state.prompts.append(prompt)
    lines = transcript_lines(prompt)
    found = answer_for(lines)
    content = json.dumps(obeyed(lines, found) if state.config.follows_instructions else found)
    if state.error_200_next > 0:
        state.error_200_next -= 1
        return web.json_response({"error": {"message": "CUDA out of memory", "type": "server_error", "code": 500}})
    if state.invalid_json_next > 0:
        state.invalid_json_next -= 1
        content = "Sure! Here are the insights: {questions: [unfinished"
    elif state.wrapped_next > 0:
        state.wrapped_next -= 1
        content = f"Sure! Here is the JSON:\n```json\n{content}\n```\nLet me know if you need anything else."
    state.answered += 1
    answer = _answer(state, body, content, tokens, max_tokens)
    if body.get("stream") is True:
        return _streamed(answer)
    if state.stream_next > 0:
        state.stream_next -= 1
        return _streamed(answer)
    return web.json_response(answer)


_FAULTS = ("invalid_json_next", "wrapped_next", "reasoning_only_next", "error_200_next", "stream_next", "fail_next",
           "fail_status")  # fmt: skip


async def set_faults(request: web.Request) -> web.Response:
    state = request.app[LLM_STATE]
    body = await request.json()
    if not isinstance(body, dict):
        return _error(400, "faults must be a JSON object", "invalid_faults")
    for name in _FAULTS:
        if name in body:
            setattr(state, name, int(body[name]))
    return await get_stats(request)


async def get_stats(request: web.Request) -> web.Response:
    state = request.app[LLM_STATE]
    return web.json_response(
        {
            "calls": state.calls,
            "answered": state.answered,
            "refused": state.refused,
            "max_prompt_tokens": state.max_prompt_tokens,
            "truncated": state.truncated,
        }
        | {name: getattr(state, name) for name in _FAULTS}
    )


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "sandbox": "llm"})


def build_llm_app(config: LLMConfig) -> web.Application:
    """The LLM sandbox as an aiohttp application."""
    app = web.Application()
    app[LLM_STATE] = LLMState(config)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_get("/_sandbox/stats", get_stats)
    app.router.add_get("/healthz", healthz)
    return app
