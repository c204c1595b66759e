"""The insights engine: questions, action items, follow-ups and decisions from any OpenAI-compatible
chat-completions endpoint (AssemblyAI's LLM Gateway, a self-hosted vLLM, llama.cpp server or Ollama).

Contract: ``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``max_tokens``, ``temperature`` 0,
``response_format`` (JSON schema); the answer's ``choices[0].message.content`` is JSON. Documented at
https://www.assemblyai.com/docs/llm-gateway/chat-completions (the Gateway authorises with the raw API key
in ``Authorization``; OpenAI-style servers with ``Bearer``). The Gateway's gpt-oss models take no structured outputs
(https://www.assemblyai.com/docs/llm-gateway/structured-outputs: "gpt-oss: No"; Claude only from 4.5, and none
before the page's 2026 revision), so no ``response_format`` is sent for gpt-oss or Claude model names: the
instructions ask for the JSON and the answer is validated either way. OpenAI's own API
(https://platform.openai.com/docs/api-reference/chat/create) gets ``max_completion_tokens``, which it documents in
place of the deprecated ``max_tokens`` for every model; its reasoning models (the o-series, the GPT-5 family) refuse
``max_tokens`` and a ``temperature`` other than 1 with 400 (:class:`~zoomsymbl_common.insights_answer.RequestForm`).
Whatever the endpoint (a proxy in front of OpenAI, Azure, the Gateway), a 400 naming either is asked once more in the
form it asks for (:func:`~zoomsymbl_common.insights_answer.adjusted_form`), which the engine's later requests keep:
one adjusted retry a request, never a loop; a refusal of that one fails the window with its message.

The model's answer is untrusted input, read as real servers send it (:mod:`~zoomsymbl_common.providers.llm_answer`:
JSON after prose or in a fence, reasoning without content, an error with HTTP 200): it is validated against
:class:`EngineAnswer` (bounded sizes), asked for once more when it is not valid JSON of that shape, and otherwise
the sections are reported unavailable; a failing endpoint is retried briefly and then reported the same way. An
answer cut off at ``max_tokens`` is never parsed: its window is asked again as two halves (once), each with the
whole output budget. A prompt the server cut to its context window without an error (Ollama: its
``usage.prompt_tokens`` far below what was sent, :class:`~zoomsymbl_common.providers.llm_answer.PromptCutOff`) fails
its window, not asked again. Nothing here raises for a bad answer: a report without questions is better than no report.
A transcript longer than the context budget is cut into windows on utterance boundaries and the windows' items
merged without duplicates; the merged result is bounded as a provider's items are (:data:`MAX_ITEMS` a section,
summary topics included). When some windows fail and others answer, every section is still marked unavailable
with the reason (``failed for 1 of 3 parts``), so whoever shows the sections can say they are incomplete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from zoomsymbl_common.bounded import read_bounded
from zoomsymbl_common.errors import PoisonInputError, RateLimitedError, RetryableError, ZoomsymblError
from zoomsymbl_common.insights_answer import SECTIONS as SECTIONS
from zoomsymbl_common.insights_answer import EngineAnswer as EngineAnswer
from zoomsymbl_common.insights_answer import EngineItem as EngineItem
from zoomsymbl_common.insights_answer import EngineTopic as EngineTopic
from zoomsymbl_common.insights_answer import People as People
from zoomsymbl_common.insights_answer import RequestForm as RequestForm
from zoomsymbl_common.insights_answer import Section as Section
from zoomsymbl_common.insights_answer import adjusted_form, refusal_error
from zoomsymbl_common.insights_answer import merge_items as merge_items
from zoomsymbl_common.insights_answer import merge_summaries as merge_summaries
from zoomsymbl_common.insights_answer import merge_topics as merge_topics
from zoomsymbl_common.insights_answer import parse_answer as parse_answer
from zoomsymbl_common.insights_answer import salvage as salvage
from zoomsymbl_common.insights_answer import speakers_at as speakers_at
from zoomsymbl_common.insights_answer import to_items as to_items
from zoomsymbl_common.insights_answer import to_summary as to_summary
from zoomsymbl_common.insights_request import EngineConfig as EngineConfig
from zoomsymbl_common.insights_request import estimate_tokens as estimate_tokens
from zoomsymbl_common.insights_request import first_form
from zoomsymbl_common.insights_request import request_body as request_body
from zoomsymbl_common.insights_request import transcript_line as transcript_line
from zoomsymbl_common.insights_request import windows as windows
from zoomsymbl_common.logs import redact
from zoomsymbl_common.providers.base import InsightItem, SummaryTopic, TranscriptMessage
from zoomsymbl_common.providers.http import direct_request, provider_message, read_json, transport_errors
from zoomsymbl_common.providers.llm_answer import AnswerCutOff as AnswerCutOff
from zoomsymbl_common.providers.llm_answer import EngineAnswerInvalid as EngineAnswerInvalid
from zoomsymbl_common.providers.llm_answer import PromptCutOff, check_prompt_read

log = logging.getLogger("zoomsymbl.insights_engine")
_PROMPT_TOKENS = 600  # the instructions and the schema
INCOMPLETE = "insights_incomplete"
"""The ``Insights.extra`` key of why the engine's sections in a report are incomplete: some windows of the transcript
answered, others failed (``insights engine failed for 1 of 3 parts of the transcript: …``)."""
ENGINE_ANSWER_BYTES = 16 * 1024 * 1024
"""Most bytes of one chat-completions answer read. Its content is at most ``max_output_tokens`` (4,000 by
default; a token is a few characters, at most 6 bytes each once JSON-escaped: ~100 KB), with reasoning text
where a server returns it counted in the same tokens; 16 MiB leaves room for configurations of 100,000+."""
_REFUSAL_BYTES = 64 * 1024  # of a 400's body: an error object is a few hundred bytes


@dataclass(frozen=True)
class EngineResult:
    """The derived sections, and the sections that could not be derived with the reason."""

    questions: tuple[InsightItem, ...] = ()
    action_items: tuple[InsightItem, ...] = ()
    follow_ups: tuple[InsightItem, ...] = ()
    decisions: tuple[InsightItem, ...] = ()
    summary_topics: tuple[SummaryTopic, ...] = ()
    topics: tuple[InsightItem, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)


__all__ = ["AnswerCutOff", "EngineAnswerInvalid"]  # re-exported: where callers and tests have always found them


Sleep = Callable[[float], Awaitable[Any]]


class RequestRefused(PoisonInputError):
    """The endpoint answered 400 to the request as sent; ``error`` is its error object (untrusted, maybe empty)."""

    def __init__(self, reason: str, error: dict[str, Any]) -> None:
        super().__init__(reason, stage="insights")
        self.error = error


@dataclass
class _Asked:
    """What the windows of one meeting answered, what failed (why), and how many windows were halved."""

    answers: list[EngineAnswer] = field(default_factory=list)
    said: list[dict[float, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    splits: int = 0


class InsightsEngine:
    """A client of one OpenAI-compatible endpoint."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: EngineConfig,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._form = first_form(config)

    def _headers(self) -> dict[str, str]:
        key = self.config.api_key.get_secret_value()
        if not key:
            return {}
        return {"Authorization": key if self.config.auth_scheme == "raw" else f"Bearer {key}"}

    async def derive(self, messages: Sequence[TranscriptMessage], people: People) -> EngineResult:
        """Every section for ``messages``; never raises for the engine's failures (see the module doc)."""
        if not messages:
            return EngineResult()
        people = people.lasting(messages)
        budget = max(500, self.config.context_tokens - self.config.max_output_tokens - _PROMPT_TOKENS)
        parts = windows(messages, budget)
        asked = _Asked()
        deadline = self._clock() + self.config.deadline_seconds
        for part in parts:
            left = deadline - self._clock()
            if left <= 0:
                asked.failures.append(
                    f"not asked: the parts before took the engine's {self.config.deadline_seconds:g} s"
                )
                continue
            try:
                async with asyncio.timeout(left):
                    await self._part(part, asked, split=True)
            except TimeoutError:
                asked.failures.append(f"the engine took longer than its {self.config.deadline_seconds:g} s")
        answers, failures = asked.answers, asked.failures
        unavailable: dict[str, str] = {}
        if failures:
            total = len(parts) + asked.splits
            why = f"insights engine failed for {len(failures)} of {total} parts of the transcript: {failures[0]}"
            unavailable = {s: why[:300] for s in (*SECTIONS, "summary", "topics")}
            log.warning("insights engine sections unavailable", extra={"failed_windows": len(failures)})
        pairs = list(zip(answers, asked.said, strict=True))
        sections = {s: merge_items([to_items(a, s, people, said) for a, said in pairs]) for s in SECTIONS}
        summary = merge_summaries(answers, people)
        return EngineResult(unavailable=unavailable, summary_topics=summary, topics=merge_topics(answers), **sections)

    async def _part(self, part: Sequence[TranscriptMessage], asked: _Asked, *, split: bool) -> None:
        """Ask for ``part``; an answer cut off at ``max_tokens`` is asked again as two halves, once: the same question
        gets the same cut, and the output grows with the transcript it covers."""
        try:
            asked.answers.append(await self._window([transcript_line(m) for m in part]))
            asked.said.append(speakers_at(part))
        except AnswerCutOff as exc:
            if not split or len(part) < 2:
                asked.failures.append(redact(str(exc))[:200])
                return
            log.info("insights engine answer cut off, asking for each half", extra={"utterances": len(part)})
            asked.splits += 1
            half = len(part) // 2
            await self._part(part[:half], asked, split=False)
            await self._part(part[half:], asked, split=False)
        except ZoomsymblError as exc:
            asked.failures.append(redact(str(exc))[:200])

    async def _window(self, lines: list[str]) -> EngineAnswer:
        sent = sum(estimate_tokens(message["content"]) for message in request_body(self.config, lines)["messages"])
        last: ZoomsymblError | None = None
        invalid_seen, attempt, limited = False, 0, 0
        while attempt < self.config.attempts:
            try:
                answer = await self._ask(lines)
                self._check_read(answer, sent)
                return parse_answer(answer, self.config.max_output_tokens)
            except AnswerCutOff:
                raise
            except EngineAnswerInvalid as exc:
                # One more question after an invalid answer, then the section is unavailable.
                if invalid_seen:
                    raise
                invalid_seen, last, attempt = True, exc, attempt + 1
            except RateLimitedError as exc:  # no attempt spent: answered later, unless it never is (a spent quota)
                last, limited = exc, limited + 1
                if limited > RATE_LIMIT_WAITS:
                    raise
                await self._sleep(_rate_limit_wait(exc.retry_after, limited))
            except RetryableError as exc:
                last, attempt = exc, attempt + 1
                if attempt < self.config.attempts:
                    wait = (
                        exc.retry_after
                        if exc.retry_after is not None
                        else self.config.backoff_seconds * 2 ** (attempt - 1)
                    )
                    await self._sleep(min(wait, 60.0))
        assert last is not None
        raise last

    def _check_read(self, answer: dict[str, Any], sent: int) -> None:
        """:class:`PromptCutOff` (the window fails, not asked again) when the server read much less than was sent."""
        try:
            check_prompt_read(answer, sent)
        except PromptCutOff:
            log.error(
                "insights engine prompt cut by the server's context window: set llm_context_tokens to the context"
                " the server runs (Ollama: OLLAMA_CONTEXT_LENGTH)",
                extra={"sent_tokens": sent, "context_tokens": self.config.context_tokens},
            )
            raise

    async def _ask(self, lines: list[str]) -> dict[str, Any]:
        """One chat completion for ``lines``. A 400 naming a parameter the model refuses (``temperature``,
        ``max_tokens``) is asked once more in the form it asks for, kept for the engine's later requests (the
        tenant's); a refusal of that request, or one naming nothing the engine can change, fails the window."""
        form = self._form
        try:
            return await self._call(request_body(self.config, lines, form))
        except RequestRefused as exc:
            adjusted = adjusted_form(form, exc.error)
            if adjusted == form:
                raise
        self._form = adjusted
        log.warning(
            "insights engine request adjusted to what the model takes",
            extra={"model": self.config.model, "max_completion_tokens": adjusted.completion_tokens},
        )
        return await self._call(request_body(self.config, lines, adjusted))

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=300, sock_connect=10)
        async with (
            transport_errors("insights engine", "chat completion"),
            direct_request(
                self._session, "POST", self._url, json=body, headers=self._headers(), timeout=timeout
            ) as resp,
        ):
            if resp.status == 400:
                raw = await read_bounded(resp, _REFUSAL_BYTES)
                raw = b"(answer too large to read)" if raw is None else raw
                reason = f"insights engine chat completion answered HTTP 400: {provider_message(raw)!r}"
                raise RequestRefused(reason, refusal_error(raw))
            if 200 <= resp.status < 300 and resp.content_type == "text/event-stream":
                # Asked again it streams again: the window fails at once, saying why.
                raise PoisonInputError(
                    "insights engine chat completion answered an event stream (text/event-stream),"
                    ' though the request says "stream": false',
                    stage="insights",
                )
            return await read_json(
                "insights engine", "chat completion", resp, stage="insights", max_bytes=ENGINE_ANSWER_BYTES
            )


RATE_LIMIT_WAITS = 5
"""429s in a row one window waits out (8 + 16 + 32 + 60 + 60 s: the Gateway's minute twice over) before it is
unavailable with the 429's reason: a 429 that never ends (OpenAI's ``insufficient_quota``, a spent daily limit) must not
hold the job-status consumer for the engine's whole deadline, every status behind it on the partition waiting."""
RATE_LIMIT_FIRST_WAIT = 8.0
"""Seconds before asking again after a 429 that names no wait (the Gateway's names none: it counts requests per model
in a 60-second window, https://www.assemblyai.com/docs/llm-gateway/rate-limits); doubled per 429 in a row, up to 60."""


def _rate_limit_wait(retry_after: float | None, limited: int) -> float:
    """How long to wait after the ``limited``-th 429 in a row of one window: what the server named, else a doubling
    wait that reaches the Gateway's whole window; between 1 and 60 s. Attempts are not spent on 429s: a rate-limited
    window was answered later, not failed (before, three 429s within six seconds reported every section unavailable
    while the Gateway's minute had not even passed); :data:`RATE_LIMIT_WAITS` and the engine's ``deadline_seconds``
    bound the waiting."""
    wait = retry_after if retry_after is not None else RATE_LIMIT_FIRST_WAIT * 2 ** (limited - 1)
    return min(max(wait, 1.0), 60.0)  # at least a second: a "Retry-After: 0" on every answer is no busy loop
