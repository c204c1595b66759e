"""What the insights engine's model answered, as sections: validated into :class:`EngineAnswer` (bounded sizes,
a wrong optional field dropped alone), then mapped onto the meeting (owners only its participants, times within
its transcript, each item's speaker from the transcript line at its time) and merged across windows without
duplicates; and what a refusal of the request (HTTP 400) asks changed in the next one (:func:`adjusted_form`). Pure.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoomsymbl_common.providers.assemblyai_understanding import MAX_ITEMS
from zoomsymbl_common.providers.base import InsightItem, SummaryTopic, TranscriptMessage
from zoomsymbl_common.providers.llm_answer import completion_text, json_object

log = logging.getLogger("zoomsymbl.insights_engine")
Section = Literal["questions", "action_items", "follow_ups", "decisions"]
SECTIONS: tuple[Section, ...] = ("questions", "action_items", "follow_ups", "decisions")


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


def clean_text(value: str, limit: int) -> str:
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
        wanted = clean_text(value, 200).casefold()
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
                text=clean_text(raw.text, 500),
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
        SummaryTopic(clean_text(t.headline, 200), clean_text(t.text, 2000), people.time(t.start), people.time(t.end))
        for t in answer.summary
    )


def merge_topics(answers: Sequence[EngineAnswer]) -> tuple[InsightItem, ...]:
    """Every window's topics once, first seen first (at most 30)."""
    seen: dict[str, InsightItem] = {}
    for answer in answers:
        for topic in answer.topics:
            text = clean_text(topic, 100)
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


@dataclass(frozen=True)
class RequestForm:
    """How a chat-completions request names its output budget and temperature.

    Self-hosted servers (vLLM, llama.cpp's server, Ollama) and the LLM Gateway
    (https://www.assemblyai.com/docs/api-reference/llm-gateway/create-chat-completion) document ``max_tokens`` and
    a ``temperature`` in [0, 2]. OpenAI's reasoning models refuse both with 400: ``max_tokens`` "is now deprecated in
    favor of ``max_completion_tokens``, and is not compatible with o-series models"
    (https://platform.openai.com/docs/api-reference/chat/create), and "Unsupported parameter: 'max_tokens' is not
    supported with this model. Use 'max_completion_tokens' instead." comes from gpt-5, gpt-5.1, gpt-5.4, o1, o3-mini
    and o4-mini; ``temperature`` is taken by GPT-5.1 and later only at reasoning effort ``none`` and refused by the
    older GPT-5 models (https://platform.openai.com/docs/guides/latest-model, "parameter compatibility") and the
    o-series ("Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is
    supported.", ``param: "temperature"``, ``code: "unsupported_value"``)."""

    completion_tokens: bool = False
    """``max_completion_tokens`` instead of ``max_tokens`` (OpenAI takes it for every chat model)."""
    temperature: bool = True
    """``temperature: 0`` is sent (left out, the model's default applies)."""


REASONING_FORM = RequestForm(completion_tokens=True, temperature=False)
"""What OpenAI's reasoning models take: ``max_completion_tokens`` and no ``temperature``."""
_REFUSED_PARAMS = ("temperature", "max_tokens")
_REFUSAL_CODES = ("unsupported_parameter", "unsupported_value")


def refusal_error(body: bytes) -> dict[str, Any]:
    """The ``error`` object of a refusal's body (OpenAI's ``{"error": {"message", "type", "param", "code"}}``, the
    Gateway's ``{"error": {"code", "message", "metadata"}}``); empty when it has none."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def adjusted_form(form: RequestForm, error: Mapping[str, Any]) -> RequestForm:
    """The form a 400's ``error`` asks for, or ``form`` when it asks for nothing this engine can change.

    OpenAI's refusal of ``temperature`` or ``max_tokens`` (its ``param`` and ``code``), or any message asking for
    ``max_completion_tokens``, comes from one of OpenAI's reasoning models, which refuse both: :data:`REASONING_FORM`
    in one step, whichever it named first. Another server's message naming ``temperature`` (the Gateway's errors
    carry no ``param``) drops the temperature only, keeping the ``max_tokens`` that server documents."""
    raw = error.get("message")
    message = raw[:2000].lower() if isinstance(raw, str) else ""
    if (error.get("param") in _REFUSED_PARAMS and error.get("code") in _REFUSAL_CODES) or (
        "max_completion_tokens" in message
    ):
        return REASONING_FORM
    if "temperature" in message:
        return dataclasses.replace(form, temperature=False)
    return form
