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
:func:`_openai_reasoning_check`; the Gateway's pages say nothing of either for its GPT-5 models, so its dialect takes
``max_tokens`` and ``temperature`` in [0, 2] for every model). Both: ``model`` must be one the
server serves, ``messages`` a non-empty list, ``"stream": true`` answers server-sent events, a prompt longer than the
context window minus ``max_tokens`` is refused with ``context_length_exceeded``; with ``truncates_to_context`` it is
cut instead, as Ollama does (https://docs.ollama.com/context-length: its window is 4K to 256K by the GPU's memory
unless ``OLLAMA_CONTEXT_LENGTH`` sets it, and a longer prompt is cut without an error, keeping its first tokens and
its end), and ``usage.prompt_tokens`` is the count read (Ollama's ``prompt_eval_count``: ollama/openai/openai.go,
``ToUsage``).

The answer is deterministic, schema-valid JSON derived from the transcript lines (``[seconds] Name: words``)
in the prompt by :mod:`zoomsymbl_sandbox.provider_understanding`, so tests can assert content. With
``cuts_at_max_tokens``, as every real server does, an answer longer than ``max_tokens`` (4 characters a token here)
is cut there with ``finish_reason: "length"`` (https://platform.openai.com/docs/api-reference/chat/object: "the
maximum number of tokens specified in the request was reached"). ``follows_instructions`` makes it the
gullible small model: a line "… add an action item: X" makes X an action item, said by and owned by the first
speaker of the prompt. ``/_sandbox/faults`` makes the next answers (``*_next`` counts each):

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

``/_sandbox/stats`` counts calls.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from zoomsymbl_sandbox.provider_understanding import Line, findings, headline, keywords, sentences, topic_groups

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)\] ([^:\n]{1,200}): (.*)$")
_CHARS_PER_TOKEN = 4
_OTHER_SCRIPTS = re.compile(r"[^\u0000-\u052f]")  # past Latin, Greek and Cyrillic: a token or more a character


def prompt_tokens(text: str) -> int:
    """Tokens of a prompt as a tokenizer counts them: about 4 characters a token in Latin, Greek and Cyrillic
    script, one a character in the others (Chinese, Japanese, Korean, Arabic, Hindi)."""
    other = len(_OTHER_SCRIPTS.findall(text))
    return (len(text) - other) // _CHARS_PER_TOKEN + other + 1


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


LLM_STATE = web.AppKey("llm_state", LLMState)


_GATEWAY_ROLES = ("user", "assistant", "system", "tool")
# OpenAI's Create chat completion: developer, system, user, assistant, tool and (deprecated) function messages.
_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# Structured Outputs, "Supported models": gpt-oss no; Claude "(4.5+)" yes, so the Claude models before 4.5
# (claude-3-*, claude-sonnet-4-20250514, claude-opus-4-20250514, claude-opus-4-1-*) no.
_GATEWAY_NO_SCHEMA = re.compile(r"^(gpt-oss|claude-3|claude-(sonnet|opus)-4-(2025\d{4}|1)\b)")
# OpenAI's json_schema.name: "a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 64".
_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_GATEWAY_MAX_TOKENS = 1000  # Create a chat completion: max_tokens "Default is 1000"
_OPENAI_MAX_TOKENS = 1024
# OpenAI's reasoning models on Chat Completions: the o-series (o1, o3, o3-mini, o4-mini, …) and the GPT-5 family but
# its chat models (gpt-5-chat-latest, gpt-5.1-chat-latest), which do not reason.
_OPENAI_REASONING = re.compile(r"^(o\d|gpt-5)(?!.*-chat)")
# Reasoning effort "none" by default, where temperature is taken: "gpt-5.1 defaults to none" (Create chat completion,
# reasoning_effort), as do the point releases after it (the latest-model guide: temperature "only supported" at
# effort none); "All models before gpt-5.1 default to medium", and their mini, nano, pro and codex models reason.
_EFFORT_NONE_BY_DEFAULT = re.compile(r"^gpt-5\.\d+(-\d{4}-\d{2}-\d{2})?$")


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


def transcript_lines(text: str) -> list[Line]:
    """The ``[seconds] Name: words`` lines of a prompt."""
    lines = []
    for raw in text.splitlines():
        match = _LINE.match(raw.strip())
        if match:
            start = float(match.group(1))
            lines.append(Line(match.group(2).strip(), start, start, match.group(3).strip()))
    return lines


def answer_for(lines: list[Line]) -> dict[str, list[Any]]:
    """The insights JSON for ``lines``: each classified sentence with its speaker, owner and time; a summary
    by topic (five-minute stretches headed by their first sentence) and the most frequent words as topics."""
    answer: dict[str, list[Any]] = {"questions": [], "action_items": [], "follow_ups": [], "decisions": []}
    answer["summary"] = [
        {
            "headline": headline(group) or "Discussion",
            "text": " ".join(f"{line.speaker}: {next(iter(sentences(line.text)), '')}" for line in group)[:2000],
            "start": group[0].start_s,
            "end": max(line.end_s for line in group),
        }
        for group in topic_groups(lines)
    ]
    answer["topics"] = [word.capitalize() for word, _ in keywords(lines)]
    section = {
        "question": "questions",
        "action_item": "action_items",
        "follow_up": "follow_ups",
        "decision": "decisions",
    }
    for found in findings(lines):
        item: dict[str, Any] = {"text": found.sentence, "speaker": found.line.speaker, "time": found.line.start_s}
        if found.kind in ("action_item", "follow_up"):
            item["owner"] = found.line.speaker
        answer[section[found.kind]].append(item)
    return answer


def obeyed(lines: list[Line], answer: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``answer`` with what the lines told the model to add: each "add an action item: X" becomes the first
    action item, owned and (the model claims) said by the first speaker, at the time of the line that said it."""
    for line in lines:
        _, found, task = line.text.partition("add an action item:")
        if found and lines and task.strip():
            host = lines[0].speaker
            item = {"text": task.strip(), "speaker": host, "owner": host, "time": line.start_s}
            answer["action_items"].insert(0, item)
    return answer


def _authorised(request: web.Request, config: LLMConfig) -> bool:
    if config.auth == "none":
        return True
    given = request.headers.get("Authorization", "")
    expected = config.api_key if config.auth == "raw" else f"Bearer {config.api_key}"
    return given == expected


def _refuse(state: LLMState, code: str, response: web.Response) -> web.Response:
    state.refused[code] = state.refused.get(code, 0) + 1
    return response


@dataclass(frozen=True)
class Refusal:
    """An invalid request: the HTTP status, the message and the OpenAI-style error code."""

    status: int
    message: str
    code: str
    param: str | None = None


def _gateway_check(body: dict[str, Any], messages: list[Any]) -> Refusal | None:
    """What the LLM Gateway refuses beyond the common checks (its Chat Completions and Structured Outputs pages
    and its API reference, Create a chat completion)."""
    if any(m.get("role") not in _GATEWAY_ROLES for m in messages):
        return Refusal(400, f"message role must be one of {', '.join(_GATEWAY_ROLES)}", "invalid_messages")
    if any(m.get("role") == "tool" and not isinstance(m.get("tool_call_id"), str) for m in messages):
        return Refusal(400, "a tool message needs its tool_call_id", "invalid_messages")
    model = str(body.get("model"))
    if body.get("stream") is True and not model.startswith("gpt-"):
        return Refusal(400, f"model {model!r} does not support streamed responses", "invalid_stream")
    response_format = body.get("response_format")
    if response_format is None:
        return None
    schema = response_format.get("json_schema") if isinstance(response_format, dict) else None
    if (
        not isinstance(response_format, dict)
        or response_format.get("type") != "json_schema"
        or not isinstance(schema, dict)
        or not isinstance(schema.get("name"), str)
        or not isinstance(schema.get("schema"), dict)
    ):
        shape = "response_format must be {type: json_schema, json_schema: {name, schema}}"
        return Refusal(400, shape, "invalid_response_format")
    if _GATEWAY_NO_SCHEMA.match(model):
        return Refusal(400, f"model {model!r} does not support structured outputs", "invalid_response_format")
    return None


def _openai_reasoning_check(body: dict[str, Any]) -> Refusal | None:
    """What OpenAI refuses of its reasoning models, in its words (400, ``type: invalid_request_error``):

    - ``temperature`` other than 1 ("Unsupported value: 'temperature' does not support 0 with this model. Only the
      default (1) value is supported.", ``param: temperature``, ``code: unsupported_value``): the o-series and the
      GPT-5 models at a reasoning effort other than ``none``. https://platform.openai.com/docs/guides/latest-model,
      "GPT-5.4 parameter compatibility": temperature, top_p and logprobs "are only supported" at effort ``none``;
      requests "to older GPT-5 models—for example, gpt-5, gpt-5-mini, or gpt-5-nano—that include these fields will
      raise an error"; https://platform.openai.com/docs/guides/reasoning; the body as reported for gpt-5-mini
      (github.com/QwenLM/qwen-code/issues/921), gpt-5 (github.com/gabrii/Cursor-Azure-GPT-5/issues/33) and o1-mini
      (github.com/OpenHands/OpenHands/issues/4131). Checked first here: which of the two OpenAI names first
      for a request with both is not documented (the insights engine adjusts both on either).
    - ``max_tokens`` ("Unsupported parameter: 'max_tokens' is not supported with this model. Use
      'max_completion_tokens' instead.", ``param: max_tokens``, ``code: unsupported_parameter``): every one of them.
      https://platform.openai.com/docs/api-reference/chat/create: ``max_tokens`` "is now deprecated in favor of
      ``max_completion_tokens``, and is not compatible with o-series models"; the body as reported for gpt-5
      (github.com/griptape-ai/ComfyUI-Griptape/issues/312), gpt-5.1 (github.com/fish2018/YPrompt/issues/26),
      gpt-5.4 (github.com/koosoli/ESPHomeDesigner/issues/379), o1 and o3-mini (github.com/teilomillet/gollm/issues/33).

    Not modelled, the pages being silent: whether gpt-5.5 and later default to effort ``none``."""
    model = str(body.get("model"))
    if not _OPENAI_REASONING.match(model):
        return None
    temperature = body.get("temperature")
    effort = body.get("reasoning_effort") or ("none" if _EFFORT_NONE_BY_DEFAULT.match(model) else "medium")
    if temperature not in (None, 1) and (model.startswith("o") or effort != "none"):
        message = (
            f"Unsupported value: 'temperature' does not support {json.dumps(temperature)} with this model."
            " Only the default (1) value is supported."
        )
        return Refusal(400, message, "unsupported_value", "temperature")
    if "max_tokens" in body:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
        )
        return Refusal(400, message, "unsupported_parameter", "max_tokens")
    return None


def _openai_check(body: dict[str, Any], messages: list[Any]) -> Refusal | None:
    """What OpenAI's Create chat completion refuses beyond the common checks: a role it does not know, a
    ``response_format`` other than text/json_object/json_schema, a json_schema without its object or ``name``, and
    what its reasoning models refuse (:func:`_openai_reasoning_check`)."""
    if any(m.get("role") not in _OPENAI_ROLES for m in messages):
        return Refusal(400, f"message role must be one of {', '.join(_OPENAI_ROLES)}", "invalid_messages")
    refused = _openai_reasoning_check(body)
    if refused is not None:
        return refused
    response_format = body.get("response_format")
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        return Refusal(400, "response_format.type must be text, json_object or json_schema", "invalid_response_format")
    schema = response_format.get("json_schema") if isinstance(response_format, dict) else None
    if kind == "json_schema" and not (
        isinstance(schema, dict) and isinstance(schema.get("name"), str) and _SCHEMA_NAME.match(schema["name"])
    ):
        message = "response_format.json_schema needs a name of 1 to 64 letters, digits, underscores or dashes"
        return Refusal(400, message, "invalid_response_format")
    return None


def _check(body: object, config: LLMConfig) -> tuple[str, int] | Refusal:
    """(prompt text, max_tokens) of a valid request, or why it is refused."""
    if not isinstance(body, dict):
        return Refusal(400, "request body must be a JSON object", "invalid_request")
    if body.get("model") not in config.models:
        return Refusal(404, f"The model {body.get('model')!r} does not exist", "model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Refusal(400, "messages must be a non-empty array", "invalid_messages")
    texts = [m.get("content") for m in messages if isinstance(m, dict)]
    if len(texts) != len(messages) or not all(isinstance(t, str) for t in texts):
        return Refusal(400, "every message needs a role and string content", "invalid_messages")
    # OpenAI documents max_completion_tokens in place of max_tokens; the Gateway documents max_tokens only.
    name = "max_completion_tokens" if not config.gateway and "max_completion_tokens" in body else "max_tokens"
    max_tokens = body.get(name, _GATEWAY_MAX_TOKENS if config.gateway else _OPENAI_MAX_TOKENS)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens < config.context_tokens:
        return Refusal(400, f"{name} must be an integer in [1, {config.context_tokens})", f"invalid_{name}")
    temperature = body.get("temperature", 1)
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= 2:
        return Refusal(400, "temperature must be a number in [0, 2]", "invalid_temperature")
    if not isinstance(body.get("stream", False), bool):
        return Refusal(400, "stream must be a boolean", "invalid_stream")
    refused = _gateway_check(body, messages) if config.gateway else _openai_check(body, messages)
    if refused is not None:
        return refused
    return "\n".join(str(t) for t in texts), max_tokens


def _answer(state: LLMState, body: dict[str, Any], content: str, tokens: int, max_tokens: int) -> dict[str, Any]:
    """The completion in the dialect's shape (the Gateway's ``request_id``/``request``/``usage.input_tokens``),
    cut at ``max_tokens`` with ``finish_reason: "length"`` as real servers do."""
    finish = "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if state.config.cuts_at_max_tokens and len(content) > max_tokens * _CHARS_PER_TOKEN:
        content, finish = content[: max_tokens * _CHARS_PER_TOKEN], "length"
        message["content"] = content
    if state.reasoning_only_next > 0:
        state.reasoning_only_next -= 1
        thought = ("Let me go through the transcript line by line. " * max_tokens)[: max_tokens * _CHARS_PER_TOKEN]
        message = {"role": "assistant", "content": None, "reasoning_content": thought, "reasoning": thought}
        finish = "length"
    output_tokens = len(content) // _CHARS_PER_TOKEN
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


_KEPT_TOKENS = 4  # Ollama's num_keep: the prompt's first tokens survive the cut


def _truncated(prompt: str, context_tokens: int) -> str:
    """``prompt`` cut to ``context_tokens`` as Ollama's runner cuts it: its first tokens and its end, no middle."""
    head = prompt[: _KEPT_TOKENS * _CHARS_PER_TOKEN]
    room, start = float(context_tokens - prompt_tokens(head)), len(prompt)
    while start > len(head):
        cost = 1.0 if _OTHER_SCRIPTS.match(prompt[start - 1]) else 1 / _CHARS_PER_TOKEN
        if cost > room:
            break
        room, start = room - cost, start - 1
    return head + prompt[start:]


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
    https://www.assemblyai.com/docs/llm-gateway/structured-outputs; https://platform.openai.com/docs/api-reference/chat/create
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
    checked = _check(body, state.config)
    if isinstance(checked, Refusal):
        refusal = _error(checked.status, checked.message, checked.code, gateway=gateway, param=checked.param)
        return _refuse(state, "request", refusal)
    prompt, max_tokens = checked
    tokens = prompt_tokens(prompt)
    state.max_prompt_tokens = max(state.max_prompt_tokens, tokens)
    if state.config.truncates_to_context and tokens > state.config.context_tokens:
        prompt, tokens = _truncated(prompt, state.config.context_tokens), state.config.context_tokens
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
