"""The text of an OpenAI-compatible chat completion, read as real servers and small models send it. Pure.

Every server this project talks to answers ``choices[0].message.content`` with ``finish_reason``
(https://platform.openai.com/docs/api-reference/chat/object), and each has its quirks:

- ``finish_reason: "length"``: the answer stopped at ``max_tokens``; its JSON is cut, and a cut JSON can still
  hold whole inner objects, so it is never parsed (:class:`AnswerCutOff`).
- ``content: null`` with the text in ``reasoning_content`` or ``reasoning``: a reasoning model on vLLM with a
  reasoning parser (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/: ``reasoning_content`` renamed
  ``reasoning``), llama.cpp's server with ``--reasoning-format`` or Ollama, when the model spent its tokens thinking.
- JSON after prose ("Sure! Here is the JSON:"), in a markdown fence, followed by a sign-off, or after a
  ``<think>`` block: small models on llama.cpp's server and Ollama, and the Gateway's models asked without
  a ``response_format`` (gpt-oss takes none, https://www.assemblyai.com/docs/llm-gateway/structured-outputs;
  the engine sends none to Claude either).
- HTTP 200 with an OpenAI error object and no ``choices``: proxies and gateways in front of a server.
- A prompt longer than the server's context window cut without an error: Ollama's (4K to 256K by the GPU's memory
  unless ``OLLAMA_CONTEXT_LENGTH`` sets it, https://docs.ollama.com/context-length) keeps the start and the end of a
  long prompt and answers about what is left; ``usage.prompt_tokens`` is the count it read (its
  ``prompt_eval_count``, ollama/openai/openai.go ``ToUsage``), so a count far below what was sent shows the cut
  (:class:`PromptCutOff`).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from zoomsymbl_common.errors import RetryableError, ZoomsymblError
from zoomsymbl_common.providers.http import provider_message

_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)
_OBJECT_STARTS = 8  # "{" positions tried in prose: enough for a preamble, never quadratic on a hostile answer
_DECODER = json.JSONDecoder()


class EngineAnswerInvalid(ZoomsymblError):
    """The model answered something that is not JSON of the required shape."""


class AnswerCutOff(EngineAnswerInvalid):
    """The answer stopped at ``max_tokens`` (``finish_reason: "length"``): asking the same again gets the same cut."""


class PromptCutOff(ZoomsymblError):
    """The server read far fewer prompt tokens than were sent: its context window cut the prompt (a configuration,
    asked again it cuts again). Its answer covers an unknown part of the transcript and is not used."""


# A server that reads less than this share of the tokens estimated as sent cut the prompt. The estimate counts
# high (3.5 characters a token, one a character past Latin, Greek and Cyrillic); tokenizers read English at about
# 4 and CJK at 1 to 1.5 characters a token, so a whole prompt reads as 0.65 or more of the estimate.
PROMPT_READ_SHARE = 0.5
# Below this estimate nothing is checked: a short prompt is never cut, and a chat template's tokens weigh more.
PROMPT_CHECKED_FROM = 1_000


def check_prompt_read(data: dict[str, Any], sent_tokens: int) -> None:
    """Raise :class:`PromptCutOff` when the answer's ``usage.prompt_tokens`` is far below ``sent_tokens``.

    Only ``prompt_tokens`` (OpenAI's shape: Ollama, vLLM, llama.cpp's server) is read: it counts cached tokens too.
    A missing or malformed count is no evidence either way and checks nothing; so is the Gateway's
    ``input_tokens``, which a hosted model's prompt caching would lower.
    """
    usage = data.get("usage")
    read = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(read, int) or isinstance(read, bool) or read < 0 or sent_tokens < PROMPT_CHECKED_FROM:
        return
    if read < PROMPT_READ_SHARE * sent_tokens:
        raise PromptCutOff(
            f"the server read {read} of about {sent_tokens} prompt tokens: its context window is smaller than"
            " llm_context_tokens"
        )


def completion_text(data: dict[str, Any], max_tokens: int | None = None) -> str:
    """``choices[0].message.content`` of a completion that finished; every other answer raises why it is unusable."""
    if "choices" not in data and data.get("error") is not None:
        message = provider_message(json.dumps(data).encode())
        raise RetryableError(f"insights engine chat completion answered HTTP 200 with an error: {message!r}")
    try:
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EngineAnswerInvalid("the answer has no choices[0].message.content") from None
    thought = next((t for k in ("reasoning_content", "reasoning") if isinstance(t := message.get(k), str) and t), "")
    if choice.get("finish_reason") == "length":
        limit = f" ({max_tokens})" if max_tokens else ""
        spent = ", all of them on reasoning" if thought and not content else ""
        raise AnswerCutOff(f"the answer was cut off at max_tokens{limit}{spent} (finish_reason 'length')")
    if not isinstance(content, str) or not content.strip():
        if thought:
            raise EngineAnswerInvalid(f"the answer has no content, only {len(thought)} characters of reasoning")
        raise EngineAnswerInvalid("the answer's content is not text")
    return content


def json_object(text: str, keys: frozenset[str]) -> dict[str, Any]:
    """The JSON object in ``text``: the text itself, else a fenced block, else the JSON after a preamble (a
    sign-off after it is ignored). The first of these that is JSON is the answer: an object without any of
    ``keys`` (``{}``, ``{"insights": {...}}``), or a list, is no answer, and nothing inside it is looked for
    (an answer cut short holds whole inner objects: they must never pass for the answer)."""
    text = without_thinking(text).strip()
    fences = itertools.islice(_FENCE.finditer(text), _OBJECT_STARTS)
    candidates = [text, *(m.group(1).strip() for m in fences)]
    start = text.find("{")
    for _ in range(_OBJECT_STARTS):
        if start <= 0:
            break
        candidates.append(text[start:])
        start = text.find("{", start + 1)
    error = "no JSON"
    for candidate in candidates:
        try:
            value, end = _DECODER.raw_decode(candidate)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested beyond the parser
            error = type(exc).__name__
            continue
        if isinstance(value, dict) and keys & value.keys():
            return value
        if candidate[end:].strip():  # "2 questions: {...}": the number began the prose
            continue
        kind = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "value"
        raise EngineAnswerInvalid(f"the answer is not valid insights JSON (a JSON {kind} without the sections)")
    raise EngineAnswerInvalid(f"the answer is not valid insights JSON ({error})")


def without_thinking(text: str) -> str:
    """``text`` without its ``<think>…</think>`` blocks (each from an opening tag to the first closing one after it;
    an opening tag never closed stays), in one pass over the tags. A non-greedy regex did the same by scanning to
    the end of the text for every opening tag: an answer of many unclosed ``<think>`` (16 MiB are accepted) held the
    notifier's event loop for hours."""
    kept: list[str] = []
    at, opened = 0, None
    for tag in _THINK_TAG.finditer(text):
        if opened is None and not tag.group(1):
            opened = tag.start()
        elif opened is not None and tag.group(1):
            kept.append(text[at:opened])
            at, opened = tag.end(), None
    kept.append(text[at:])
    return "".join(kept)
