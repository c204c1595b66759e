"""The insights engine's chat-completions request: the tenant's :class:`EngineConfig`, the transcript cut into
windows that fit its context budget (tokens counted conservatively, :func:`estimate_tokens`), and one window's
request body in the form the endpoint takes (:func:`request_body`; why each form, see
:mod:`~zoomsymbl_common.insights_engine`). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from zoomsymbl_common.insights_answer import EngineAnswer, RequestForm, clean_text
from zoomsymbl_common.providers.base import TranscriptMessage

_CHARS_PER_TOKEN = 3.5  # conservative for English and most Latin-script text
_OTHER_SCRIPTS = re.compile(r"[^\u0000-\u052f]")  # past Latin, Greek and Cyrillic

INSTRUCTIONS = (
    "You read the transcript of a meeting and extract, as JSON matching the given schema: "
    "summary (the meeting by topic: headline, a few sentences, start and end seconds), topics (a few words each), "
    "questions (asked by a participant), action_items (work someone committed to or was asked to do; owner = "
    "who does it), follow_ups (things to send, schedule or check after the meeting; owner = who does it) and "
    "decisions (what was agreed). Each transcript line is '[seconds] Name: words'; set speaker to the Name and "
    "time to the seconds of the line it comes from. Use only names from the transcript. Answer with the JSON "
    "object only; empty lists when there is nothing."
)


@dataclass(frozen=True)
class EngineConfig:
    """Where the engine is and how to talk to it (from the tenant's configuration, never from input)."""

    base_url: str
    model: str
    api_key: SecretStr = field(default_factory=lambda: SecretStr(""))
    auth_scheme: Literal["raw", "bearer"] = "bearer"
    context_tokens: int = 32_000
    max_output_tokens: int = 4_000
    structured_output: bool = True
    attempts: int = 3
    backoff_seconds: float = 2.0
    deadline_seconds: float = 900.0
    """The longest one meeting's insights may take, every window together: the windows not asked by then are
    reported unavailable (the notifier's job-status consumer polls Kafka again within its poll interval)."""


def transcript_line(message: TranscriptMessage) -> str:
    """``[12.5] Elisa L: words`` — the form the instructions describe."""
    speaker = clean_text(message.speaker, 120) or "Speaker"
    return f"[{message.start_seconds:.1f}] {speaker}: {clean_text(message.text, 5000)}"


def estimate_tokens(text: str) -> int:
    """A conservative token count (no tokenizer of the model at hand): 3.5 characters a token for Latin, Greek
    and Cyrillic, one token a character for every other script (Chinese, Japanese, Korean, Arabic, Hindi text
    takes one or more tokens a character: counted as Latin, a window overran a 32K context)."""
    other = len(_OTHER_SCRIPTS.findall(text))
    return int((len(text) - other) / _CHARS_PER_TOKEN) + other + 1


def windows(messages: Sequence[TranscriptMessage], budget_tokens: int) -> list[list[TranscriptMessage]]:
    """``messages`` cut on utterance boundaries into runs whose lines fit ``budget_tokens`` each."""
    result: list[list[TranscriptMessage]] = []
    current: list[TranscriptMessage] = []
    used = 0
    for message in messages:
        cost = estimate_tokens(transcript_line(message)) + 1
        if current and used + cost > budget_tokens:
            result.append(current)
            current, used = [], 0
        current.append(message)
        used += cost
    if current:
        result.append(current)
    return result


def openai_api(base_url: str) -> bool:
    """True for OpenAI's own API (``api.openai.com``, its regional hosts such as ``eu.api.openai.com``)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def first_form(config: EngineConfig) -> RequestForm:
    """How the engine's first request is sent: ``max_completion_tokens`` to OpenAI's own API, ``max_tokens``
    (which self-hosted servers and the LLM Gateway document) elsewhere; ``temperature`` 0 everywhere."""
    return RequestForm(completion_tokens=openai_api(config.base_url))


def request_body(config: EngineConfig, lines: Sequence[str], form: RequestForm | None = None) -> dict[str, Any]:
    """The chat-completions request for one window, in ``form`` (:func:`first_form` when None)."""
    form = form or first_form(config)
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": "Transcript:\n" + "\n".join(lines)},
        ],
        "max_completion_tokens" if form.completion_tokens else "max_tokens": config.max_output_tokens,
        "stream": False,  # said, not assumed: a server or proxy that streams by default sends events we cannot read
    }
    if form.temperature:
        body["temperature"] = 0
    if config.structured_output and supports_structured_output(config.model):
        # Every section required: a server that constrains its output to the schema (vLLM, llama.cpp) would
        # otherwise allow "{}", which reads as a meeting where nothing was said.
        schema = EngineAnswer.model_json_schema() | {"required": list(EngineAnswer.model_fields)}
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "meeting_insights", "schema": schema}}
    return body


_NO_STRUCTURED_OUTPUT = ("claude", "gpt-oss")


def supports_structured_output(model: str) -> bool:
    """False for gpt-oss, which the LLM Gateway documents without structured outputs, and for Claude, which it
    documents with them only from 4.5 (and earlier without any): the answer is validated either way."""
    return not model.strip().lower().startswith(_NO_STRUCTURED_OUTPUT)
