"""The LLM sandbox's request checks in its two dialects (see :mod:`zoomsymbl_sandbox.llm` for the pages they follow):
AssemblyAI's LLM Gateway (its roles, ``stream`` on OpenAI models only, ``response_format`` json_schema only and not
for gpt-oss or the Claude models before 4.5) and OpenAI-style servers (OpenAI, vLLM, llama.cpp: their roles and
``response_format`` types, and what OpenAI's reasoning models refuse). :func:`check_request` answers a valid
request's prompt and ``max_tokens``, or the :class:`Refusal`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sandbox's settings, whose dialect decides which checks apply
    from zoomsymbl_sandbox.llm import LLMConfig

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


def check_request(body: object, config: LLMConfig) -> tuple[str, int] | Refusal:
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
