"""The insights engine: questions, action items, follow-ups and decisions from any OpenAI-compatible
chat-completions endpoint (AssemblyAI's LLM Gateway, a self-hosted vLLM, llama.cpp server or Ollama).

Contract: ``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``max_tokens``,
``response_format`` (JSON schema); the answer's ``choices[0].message.content`` is JSON. Documented at
https://www.assemblyai.com/docs/llm-gateway/chat-completions (the Gateway authorises with the raw API key
in ``Authorization``; OpenAI-style servers with ``Bearer``). The Gateway's Claude and gpt-oss models do not support
structured outputs (https://www.assemblyai.com/docs/llm-gateway/structured-outputs), so no ``response_format`` is
sent for those model names: the instructions ask for the JSON and the answer is validated either way.

The model's answer is untrusted input, read as real servers send it (:mod:`~zoomsymbl_common.providers.llm_answer`:
JSON after prose or in a fence, reasoning without content, an error with HTTP 200): it is validated against
:class:`EngineAnswer` (bounded sizes), asked for once more when it is not valid JSON of that shape, and otherwise
the sections are reported unavailable; a failing endpoint is retried briefly and then reported the same way. An
answer cut off at ``max_tokens`` is never parsed: its window is asked again as two halves (once), each with the
whole output budget. Nothing here raises for a bad answer: a report without questions is better than no report.
A transcript longer than the context budget is cut into windows on utterance boundaries and the windows' items
merged without duplicates; the merged result is bounded as a provider's items are (:data:`MAX_ITEMS` a section,
summary topics included). When some windows fail and others answer, every section is still marked unavailable
with the reason (``failed for 1 of 3 parts``), so whoever shows the sections can say they are incomplete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from zoomsymbl_common.errors import PoisonInputError, RetryableError, ZoomsymblError
from zoomsymbl_common.logs import redact
from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS
from zoomsymbl_common.providers.base import InsightItem, SummaryTopic, TranscriptMessage
from zoomsymbl_common.providers.http import direct_request, read_json, transport_errors
from zoomsymbl_common.providers.llm_answer import AnswerCutOff, EngineAnswerInvalid, completion_text, json_object

log = logging.getLogger("zoomsymbl.insights_engine")
Section = Literal["questions", "action_items", "follow_ups", "decisions"]
SECTIONS: tuple[Section, ...] = ("questions", "action_items", "follow_ups", "decisions")
_CHARS_PER_TOKEN = 3.5  # conservative for English and most Latin-script text
_OTHER_SCRIPTS = re.compile(r"[^\u0000-\u052f]")  # past Latin, Greek and Cyrillic
_PROMPT_TOKENS = 600  # the instructions and the schema
INCOMPLETE = "insights_incomplete"
"""The ``Insights.extra`` key of why the engine's sections in a report are incomplete: some windows of the transcript
answered, others failed (``insights engine failed for 1 of 3 parts of the transcript: …``)."""
ENGINE_ANSWER_BYTES = 16 * 1024 * 1024
"""Most bytes of one chat-completions answer read. Its content is at most ``max_output_tokens`` (4,000 by
default; a token is a few characters, at most 6 bytes each once JSON-escaped: ~100 KB), with reasoning text
where a server returns it counted in the same tokens; 16 MiB leaves room for configurations of 100,000+."""


class EngineItem(BaseModel):
    """One item as the model must answer it."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=500, description="The item in one sentence.")
    speaker: str | None = Field(None, max_length=200, description="Who said it (a name from the transcript).")
    owner: str | None = Field(None, max_length=200, description="Who is to do it (action items, follow-ups).")
    time: float | None = Field(None, ge=0, description="Seconds from the meeting start where it was said.")


class EngineTopic(BaseModel):
    """One topic of the summary by topic, as the model must answer it."""

    model_config = ConfigDict(extra="ignore")

    headline: str = Field(min_length=1, max_length=200, description="The topic in a few words.")
    text: str = Field("", max_length=2000, description="What was said about it, in a few sentences.")
    start: float | None = Field(None, ge=0, description="Seconds from the meeting start where the topic begins.")
    end: float | None = Field(None, ge=0, description="Seconds from the meeting start where it ends.")


class EngineAnswer(BaseModel):
    """The JSON object the model must answer."""

    model_config = ConfigDict(extra="ignore")

    summary: list[EngineTopic] = Field(default_factory=list, max_length=50)
    topics: list[str] = Field(default_factory=list, max_length=30)

    questions: list[EngineItem] = Field(default_factory=list, max_length=100)
    action_items: list[EngineItem] = Field(default_factory=list, max_length=100)
    follow_ups: list[EngineItem] = Field(default_factory=list, max_length=100)
    decisions: list[EngineItem] = Field(default_factory=list, max_length=100)


_ENTRY_MODELS: dict[str, type[BaseModel]] = {
    "summary": EngineTopic,
    "questions": EngineItem,
    "action_items": EngineItem,
    "follow_ups": EngineItem,
    "decisions": EngineItem,
}

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


def transcript_line(message: TranscriptMessage) -> str:
    """``[12.5] Elisa L: words`` — the form the instructions describe."""
    return f"[{message.start_seconds:.1f}] {_clean(message.speaker, 120) or 'Speaker'}: {_clean(message.text, 5000)}"


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


def request_body(config: EngineConfig, lines: Sequence[str]) -> dict[str, Any]:
    """The chat-completions request for one window."""
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": "Transcript:\n" + "\n".join(lines)},
        ],
        "max_tokens": config.max_output_tokens,
        "temperature": 0,
        "stream": False,  # said, not assumed: a server or proxy that streams by default sends events we cannot read
    }
    if config.structured_output and supports_structured_output(config.model):
        # Every section required: a server that constrains its output to the schema (vLLM, llama.cpp) would
        # otherwise allow "{}", which reads as a meeting where nothing was said.
        schema = EngineAnswer.model_json_schema() | {"required": list(EngineAnswer.model_fields)}
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "meeting_insights", "schema": schema}}
    return body


_NO_STRUCTURED_OUTPUT = ("claude", "gpt-oss")


def supports_structured_output(model: str) -> bool:
    """False for the model families the LLM Gateway documents without structured outputs (Claude, gpt-oss)."""
    return not model.strip().lower().startswith(_NO_STRUCTURED_OUTPUT)


def parse_answer(data: dict[str, Any], max_tokens: int | None = None) -> EngineAnswer:
    """``choices[0].message.content`` as :class:`EngineAnswer`; :class:`AnswerCutOff` for an answer cut at
    ``max_tokens``, :class:`EngineAnswerInvalid` for one without an object holding any section."""
    found = json_object(completion_text(data, max_tokens), frozenset(EngineAnswer.model_fields))
    try:
        return EngineAnswer.model_validate(found)
    except ValidationError as exc:
        # One item too long, 31 topics, a time of NaN: keep what is valid rather than lose the window.
        log.info("insights engine answer salvaged", extra={"errors": exc.error_count()})
        return salvage(found)


def salvage(data: dict[str, Any]) -> EngineAnswer:
    """What can be kept of an answer :class:`EngineAnswer` refused: lists cut to their bounds, texts cut to
    theirs, times that are not a finite, non-negative number dropped, and every entry still invalid (no
    text, a text that is not a string) left out. A participant can make the model overrun a bound by what
    they say ("list a hundred action items"); that must not cost the meeting its other insights."""
    fields: dict[str, Any] = {}
    for name, info in EngineAnswer.model_fields.items():
        raw = data.get(name)
        if not isinstance(raw, list):
            continue
        limit = _max_length(info.metadata) or len(raw)
        model = _ENTRY_MODELS.get(name)
        if model is None:  # topics: a list of strings
            fields[name] = [t[:100] for t in raw[:limit] if isinstance(t, str)]
            continue
        kept: list[BaseModel] = []
        for entry in raw:
            if len(kept) == limit:
                break
            if isinstance(entry, dict):
                try:
                    kept.append(model.model_validate(_fitted(entry, model)))
                except ValidationError:
                    continue
        fields[name] = kept
    return EngineAnswer.model_validate(fields)


def _max_length(metadata: Sequence[object]) -> int | None:
    """The ``max_length`` a field's constraints name (pydantic keeps it as ``annotated_types.MaxLen``)."""
    return next((limit for m in metadata if isinstance(limit := getattr(m, "max_length", None), int)), None)


def _fitted(entry: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """``entry`` cut to ``model``'s bounds; an optional field of the wrong kind ("time": "00:12:30", an owner that
    is a list) is left out rather than losing the item with it."""
    fitted = dict(entry)
    for name, info in model.model_fields.items():
        value = fitted.get(name)
        limit = _max_length(info.metadata)
        if isinstance(value, str) and limit is not None:
            fitted[name] = value[:limit]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fitted[name] = value if math.isfinite(value) and value >= 0 else None
        if not info.is_required() and name in fitted:
            try:
                model.__pydantic_validator__.validate_assignment(model.model_construct(), name, fitted[name])
            except ValidationError:
                del fitted[name]
    return fitted


def _clean(value: str, limit: int) -> str:
    chars = (" " if unicodedata.category(c).startswith("C") else c for c in value)
    return " ".join("".join(chars).split())[:limit]


def _key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


@dataclass(frozen=True)
class People:
    """The meeting's participants (name → e-mail) and its length: what an answer is checked against."""

    emails: dict[str, str | None]
    duration_seconds: float | None = None

    def name(self, value: str | None) -> str | None:
        """``value`` if it names a participant (case-insensitively), else None: the model may not invent people."""
        if not value:
            return None
        wanted = _clean(value, 200).casefold()
        return next((n for n in self.emails if n.casefold() == wanted), None)

    def time(self, value: float | None) -> float | None:
        limit = (self.duration_seconds or 0.0) + 60.0 if self.duration_seconds else None
        return value if value is not None and (limit is None or value <= limit) else None

    def lasting(self, messages: Sequence[TranscriptMessage]) -> People:
        """These people with the transcript's end as the meeting's length when the meeting has none recorded:
        without one, any time a model invents ("[277:46:40]") was kept."""
        if self.duration_seconds:
            return self
        ends = [m.end_seconds for m in messages if math.isfinite(m.end_seconds)]
        return dataclasses.replace(self, duration_seconds=max(ends)) if ends else self


def speakers_at(messages: Sequence[TranscriptMessage]) -> dict[float, str | None]:
    """Who speaks at each time the prompt shows (``[12.5]``); None where two lines share a time."""
    said: dict[float, str | None] = {}
    for message in messages:
        at = round(message.start_seconds, 1)
        said[at] = message.speaker if said.get(at, message.speaker) == message.speaker else None
    return said


def to_items(
    answer: EngineAnswer, section: Section, people: People, said: Mapping[float, str | None] | None = None
) -> tuple[InsightItem, ...]:
    """One section of a validated answer as insight items, names checked and owners' e-mails added. With ``said``
    (:func:`speakers_at` of the window asked), an item whose time is a line's has that line's speaker, whoever
    the model names: words one participant spoke ("add an action item: …") are never shown as another's."""
    items = []
    owned = section in ("action_items", "follow_ups")
    for raw in getattr(answer, section):
        owner = people.name(raw.owner) if owned else None
        line_speaker = said.get(round(raw.time, 1)) if said and raw.time is not None else None
        speaker = people.name(line_speaker or raw.speaker)
        # The speaker owns it only when the model named no owner: "John will send the contract", said by Elisa,
        # is John's (no participant: nobody's here), never Elisa's with her address.
        assignee = owner or (speaker if owned and not (raw.owner or "").strip() else None)
        items.append(
            InsightItem(
                text=_clean(raw.text, 500),
                assignee=assignee,
                assignee_email=people.emails.get(assignee) if assignee else None,
                speaker=speaker,
                start_seconds=people.time(raw.time),
            )
        )
    return tuple(i for i in items if i.text)


def to_summary(answer: EngineAnswer, people: People) -> tuple[SummaryTopic, ...]:
    """The summary by topic of a validated answer, times checked against the meeting."""
    return tuple(
        SummaryTopic(_clean(t.headline, 200), _clean(t.text, 2000), people.time(t.start), people.time(t.end))
        for t in answer.summary
    )


def merge_topics(answers: Sequence[EngineAnswer]) -> tuple[InsightItem, ...]:
    """Every window's topics once, first seen first (at most 30)."""
    seen: dict[str, InsightItem] = {}
    for answer in answers:
        for topic in answer.topics:
            text = _clean(topic, 100)
            if text:
                seen.setdefault(_key(text), InsightItem(text=text))
    return tuple(seen.values())[:30]


def merge_items(groups: Sequence[Sequence[InsightItem]]) -> tuple[InsightItem, ...]:
    """Items of every window, the first of each duplicate text kept, in meeting order (the first MAX_ITEMS:
    each window is bounded, but a long meeting has as many windows as it needs)."""
    seen: dict[str, InsightItem] = {}
    for group in groups:
        for item in group:
            seen.setdefault(_key(item.text), item)
    ordered = sorted(seen.values(), key=lambda i: i.start_seconds if i.start_seconds is not None else 1e12)
    return tuple(ordered[:MAX_ITEMS])


def merge_summaries(answers: Sequence[EngineAnswer], people: People) -> tuple[SummaryTopic, ...]:
    """Every window's summary topics in window order, the first MAX_ITEMS (each at most ~2,200 characters)."""
    topics = (t for a in answers for t in to_summary(a, people))
    return tuple(itertools.islice(topics, MAX_ITEMS))


Sleep = Callable[[float], Awaitable[Any]]


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
        body = request_body(self.config, lines)
        last: ZoomsymblError | None = None
        invalid_seen = False
        for attempt in range(1, self.config.attempts + 1):
            try:
                return parse_answer(await self._call(body), self.config.max_output_tokens)
            except AnswerCutOff:
                raise
            except EngineAnswerInvalid as exc:
                # One more question after an invalid answer, then the section is unavailable.
                if invalid_seen:
                    raise
                invalid_seen, last = True, exc
            except RetryableError as exc:
                last = exc
                if attempt < self.config.attempts:
                    wait = (
                        exc.retry_after
                        if exc.retry_after is not None
                        else self.config.backoff_seconds * 2 ** (attempt - 1)
                    )
                    await self._sleep(min(wait, 60.0))
        assert last is not None
        raise last

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=300, sock_connect=10)
        async with (
            transport_errors("insights engine", "chat completion"),
            direct_request(
                self._session, "POST", self._url, json=body, headers=self._headers(), timeout=timeout
            ) as resp,
        ):
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
