"""SANDBOX AssemblyAI transcript request parsing and response building. Pure.

Follows https://www.assemblyai.com/docs/api-reference/transcripts/submit as of 2026: the deprecated
top-level ``summarization``, ``summary_model``, ``summary_type`` and ``auto_chapters`` are refused with
400 naming the replacement (https://www.assemblyai.com/docs/speech-understanding/migration-guides/summarization
and .../migration-guides/auto-chapters), so a client can never depend on them, as is the singular ``speech_model``
(AssemblyAI answers 400 "speech_model is deprecated. Use "speech_models" instead":
https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model); summaries and action items
come from ``speech_understanding.request`` and are answered in ``speech_understanding.response``
(topics with ``headline``, ``text``, ``start``, ``end``; action items with ``text``, ``start``, ``end``,
``quote``: https://www.assemblyai.com/blog/summarization-action-items-update); ``iab_categories`` gives
``iab_categories_result.summary``.

``language_code`` must be one of the codes https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually
lists (``en_us`` when absent); any other, such as a BCP 47 tag or an ISO code AssemblyAI spells otherwise
(``nb`` for its ``no``), is refused with 400.

``speech_models`` (https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model) is a list of
model ids in priority order; anything but a non-empty list of ids AssemblyAI serves
(https://assemblyai.com/docs/getting-started/model-versions-and-deprecations) is refused with 400 naming the
accepted ids. The transcript answers ``speech_model_used``: the first id of the list, or, without
``speech_models``, the account's default model (``assemblyai-stt-3-7`` for every account from 2026-12-08:
https://assemblyai.com/docs/pre-recorded-audio/assemblyai-stt-3-7-migration-guide).

Utterances are the recognised speech when the sandbox has a Whisper model (real words), else the
detected speech segments ("Segment 1 on channel 2"): with ``multichannel`` one speaker per channel
(labels "1", "2", ...), with ``speaker_labels`` on a combined analysis letters "A", "B", ... in turn.
Times are in milliseconds, as in AssemblyAI's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zoomsymbl_sandbox.provider_audio import AudioInfo, Segment
from zoomsymbl_sandbox.provider_jobs import Job, Phase
from zoomsymbl_sandbox.provider_understanding import Line, findings, headline, keywords, sentences, topic_groups

Json = dict[str, object]
STATUS: dict[Phase, str] = {"waiting": "queued", "running": "processing", "done": "completed", "failed": "error"}


class RequestError(ValueError):
    """A transcript request AssemblyAI answers with 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# fmt: off
LANGUAGE_CODES = frozenset((
    "en", "en_au", "en_uk", "en_us", "es", "fr", "de", "it", "pt", "nl", "hi", "ja", "zh", "fi", "ko", "pl", "ru",
    "tr", "uk", "vi", "af", "sq", "am", "ar", "hy", "as", "az", "ba", "eu", "be", "bn", "bs", "br", "bg", "my", "ca",
    "hr", "cs", "da", "et", "fo", "gl", "ka", "el", "gu", "ht", "ha", "haw", "he", "hu", "is", "id", "jw", "kn",
    "kk", "km", "lo", "la", "lv", "ln", "lt", "lb", "mk", "mg", "ms", "ml", "mt", "mi", "mr", "mn", "ne", "no", "nn",
    "oc", "pa", "ps", "fa", "ro", "sa", "sr", "sn", "sd", "si", "sk", "sl", "so", "su", "sw", "sv", "tl", "tg", "ta",
    "tt", "te", "th", "bo", "tk", "ur", "uz", "cy", "yi", "yo",
))
# fmt: on
"""The ``language_code`` values AssemblyAI documents (Set Language Manually,
https://www.assemblyai.com/docs/pre-recorded-audio/set-language-manually: "Possible values are found in
Supported Languages"); any other code is refused with 400."""

SPEECH_MODELS = ("assemblyai-stt-3-7", "universal-3-5-pro", "universal-3-pro", "universal-2")
"""Pre-recorded model ids ``speech_models`` accepts (universal-3-5-pro, universal-3-pro: deprecated, still served)."""
ACCOUNT_DEFAULT_MODEL = "assemblyai-stt-3-7"


@dataclass(frozen=True)
class TranscriptRequest:
    audio_url: str
    speech_models: tuple[str, ...] | None = None
    speech_model_used: str = ACCOUNT_DEFAULT_MODEL
    multichannel: bool = False
    speaker_labels: bool = False
    speakers_expected: int | None = None
    webhook_url: str | None = None
    webhook_auth_header_name: str | None = None
    webhook_auth_header_value: str | None = None
    language_code: str = "en_us"
    summarization: bool = False
    action_items: bool = False
    iab_categories: bool = False


@dataclass(frozen=True)
class Recognized:
    """Words recognised on one channel (1-based) between two times in seconds."""

    channel: int
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class TranscriptResult:
    info: AudioInfo
    segments: list[Segment]
    recognized: list[Recognized] | None = None


DEPRECATED = {
    "summarization": "speech_understanding.request.summarization",
    "summary_model": "speech_understanding.request.summarization (effort)",
    "summary_type": "speech_understanding.request.summarization.summary_type",
    "auto_chapters": "speech_understanding.request.summarization",
    "speech_model": "speech_models",
}
_UNDERSTANDING_TASKS = ("summarization", "action_items", "translation", "speaker_identification", "custom_formatting")


def _flag(body: Mapping[str, object], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be a boolean, got {value!r}")
    return value


def _text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise RequestError(f"{name} must be a string, got {value!r}")
    return value


def _speakers_expected(body: Mapping[str, object]) -> int | None:
    value = body.get("speakers_expected")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise RequestError(f"speakers_expected must be a positive integer, got {value!r}")
    return value


def _understanding(body: Mapping[str, object]) -> tuple[bool, bool]:
    """(summarization, action_items) asked for in ``speech_understanding.request``."""
    raw = body.get("speech_understanding")
    if raw is None:
        return False, False
    request = raw.get("request") if isinstance(raw, dict) else None
    if not isinstance(request, dict):
        raise RequestError("speech_understanding must be an object with a request object")
    for task, options in request.items():
        if task not in _UNDERSTANDING_TASKS:
            raise RequestError(f"speech_understanding.request.{task} is not a supported task")
        if not isinstance(options, dict):
            raise RequestError(f"speech_understanding.request.{task} must be an object")
    return "summarization" in request, "action_items" in request


def _speech_models(body: Mapping[str, object]) -> tuple[str, ...] | None:
    """``speech_models`` as sent, or None when absent or null (the account's default model is used)."""
    value = body.get("speech_models")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(model, str) and model in SPEECH_MODELS for model in value)
    ):
        raise RequestError(f"speech_models must be a non-empty list of model ids among {list(SPEECH_MODELS)!r}")
    return tuple(value)


def _language_code(body: Mapping[str, object]) -> str:
    """``language_code`` as sent (``en_us`` when absent or null); a code AssemblyAI does not list is refused."""
    code = _text(body, "language_code")
    if code is None:
        return "en_us"
    if code not in LANGUAGE_CODES:
        raise RequestError(f"language_code {code!r} is not a supported language code")
    return code


def parse_request(body: Mapping[str, object], account_default: str = ACCOUNT_DEFAULT_MODEL) -> TranscriptRequest:
    """Known fields are type-checked, deprecated ones refused; unknown ones are ignored (the API has many more)."""
    for name, replacement in DEPRECATED.items():
        if name in body:
            raise RequestError(f"{name} is deprecated; use {replacement}")
    url = body.get("audio_url")
    if not isinstance(url, str) or not url:
        raise RequestError("audio_url is required")
    summarization, action_items = _understanding(body)
    models = _speech_models(body)
    request = TranscriptRequest(
        audio_url=url,
        speech_models=models,
        speech_model_used=models[0] if models else account_default,
        multichannel=_flag(body, "multichannel"),
        speaker_labels=_flag(body, "speaker_labels"),
        speakers_expected=_speakers_expected(body),
        webhook_url=_text(body, "webhook_url"),
        webhook_auth_header_name=_text(body, "webhook_auth_header_name"),
        webhook_auth_header_value=_text(body, "webhook_auth_header_value"),
        language_code=_language_code(body),
        summarization=summarization,
        action_items=action_items,
        iab_categories=_flag(body, "iab_categories"),
    )
    if bool(request.webhook_auth_header_name) != bool(request.webhook_auth_header_value):
        raise RequestError("webhook_auth_header_name and webhook_auth_header_value go together")
    if request.iab_categories and not request.language_code.startswith("en"):
        raise RequestError(f"iab_categories is not available for language_code {request.language_code!r}")
    return request


def _label(request: TranscriptRequest, index: int, seg: Segment) -> str | None:
    if request.multichannel:
        return str(seg.channel)
    if request.speaker_labels:
        return chr(ord("A") + index % (request.speakers_expected or 2))
    return None


def _words(text: str, start_ms: int, end_ms: int, speaker: str | None, channel: str | None) -> list[Json]:
    tokens = text.split()
    step = (end_ms - start_ms) / max(1, len(tokens))
    return [
        {
            "text": token,
            "start": int(start_ms + i * step),
            "end": int(start_ms + (i + 1) * step),
            "confidence": 0.9,
            "speaker": speaker,
            **({"channel": channel} if channel else {}),
        }
        for i, token in enumerate(tokens)
    ]


def _spoken(request: TranscriptRequest, result: TranscriptResult) -> list[tuple[str | None, Segment, str]]:
    """(speaker label, where, words) of every utterance, in start order."""
    if result.recognized is not None:
        spoken = []
        for index, rec in enumerate(sorted(result.recognized, key=lambda r: (r.start_s, r.channel))):
            seg = Segment(rec.channel, rec.start_s, rec.end_s)
            spoken.append((_label(request, index, seg), seg, rec.text))
        return spoken
    per_channel: dict[int, int] = {}
    spoken = []
    for index, seg in enumerate(result.segments):
        per_channel[seg.channel] = per_channel.get(seg.channel, 0) + 1
        text = f"Segment {per_channel[seg.channel]} on channel {seg.channel} ({seg.duration_s:.1f} s)"
        spoken.append((_label(request, index, seg), seg, text))
    return spoken


def utterances(request: TranscriptRequest, result: TranscriptResult) -> tuple[list[Json], list[Json]]:
    """(utterances, words) in start order."""
    items: list[Json] = []
    words: list[Json] = []
    for speaker, seg, text in _spoken(request, result):
        start, end = round(seg.start_s * 1000), round(seg.end_s * 1000)
        channel = str(seg.channel) if request.multichannel else None
        utterance_words = _words(text, start, end, speaker, channel)
        utterance: Json = {"speaker": speaker, "start": start, "end": end, "text": text, "confidence": 0.9}
        if channel:
            utterance["channel"] = channel
        items.append(utterance | {"words": utterance_words})
        words += utterance_words
    return items, words


def _lines(request: TranscriptRequest, result: TranscriptResult) -> list[Line]:
    return [Line(speaker or "A", seg.start_s, seg.end_s, text) for speaker, seg, text in _spoken(request, result)]


def understanding_response(request: TranscriptRequest, result: TranscriptResult) -> Json:
    """``speech_understanding`` of a completed transcript: the request echoed and the response."""
    lines = _lines(request, result)
    response: Json = {}
    if request.summarization:
        topics = [
            {
                "headline": headline(group),
                "text": " ".join(s for line in group for s in sentences(line.text)[:1] if s != headline(group))[:1000]
                or headline(group),
                "start": round(group[0].start_s * 1000),
                "end": round(max(line.end_s for line in group) * 1000),
            }
            for group in topic_groups(lines)
        ]
        response["summarization"] = {"status": "completed", "summary": topics}
    if request.action_items:
        items = [
            {
                "text": found.sentence,
                "start": round(found.line.start_s * 1000),
                "end": round(found.line.end_s * 1000),
                "quote": found.sentence,
            }
            for found in findings(lines)
            if found.kind == "action_item"
        ]
        response["action_items"] = {"status": "completed", "action_items": items}
    tasks: Json = {}
    if request.summarization:
        tasks["summarization"] = {}
    if request.action_items:
        tasks["action_items"] = {}
    return {"request": tasks, "response": response}


def iab_result(request: TranscriptRequest, result: TranscriptResult) -> Json:
    """``iab_categories_result``: the most frequent words as categories, relevance by frequency."""
    found = keywords(_lines(request, result))
    total = sum(n for _, n in found) or 1
    summary = {f"Sandbox>Keywords>{word.capitalize()}": round(n / total, 3) for word, n in found}
    return {"status": "success", "results": [], "summary": summary}


def _completed_fields(request: TranscriptRequest, result: TranscriptResult) -> Json:
    items, words = utterances(request, result)
    fields: Json = {
        "text": " ".join(str(u["text"]) for u in items),
        "words": words,
        "utterances": items if (request.multichannel or request.speaker_labels) else None,
        "confidence": 0.9 if items else None,
        "audio_duration": round(result.info.duration_s),
        "audio_channels": result.info.channels if request.multichannel else None,
    }
    if request.summarization or request.action_items:
        fields["speech_understanding"] = understanding_response(request, result)
    if request.iab_categories:
        fields["iab_categories_result"] = iab_result(request, result)
    return fields


DELETED_TEXT = "Deleted by user."
"""What a deleted transcript's ``text`` reads (AssemblyAI's Delete record, as Workato's connector documents it)."""
DELETED_AUDIO_URL = "http://deleted_by_user"
"""What a deleted transcript's ``audio_url`` reads (the same page; the transcript list shows "deleted by user")."""


def transcript_json(job: Job[TranscriptRequest], webhook_status_code: int | None, *, deleted: bool = False) -> Json:
    """The object ``GET /v2/transcript/{id}`` returns; the webhook auth value is never echoed.

    A deleted transcript keeps its id and status, its text and audio URL replaced, and nothing derived
    from the audio (words, utterances, Speech Understanding, topics) left.
    """
    req = job.request
    body: Json = {
        "id": job.id,
        "status": STATUS[job.phase],
        "audio_url": req.audio_url,
        "language_code": req.language_code,
        "speech_models": list(req.speech_models) if req.speech_models is not None else None,
        "speech_model_used": req.speech_model_used,
        "multichannel": req.multichannel,
        "speaker_labels": req.speaker_labels,
        "speakers_expected": req.speakers_expected,
        "webhook_url": req.webhook_url,
        "webhook_auth": req.webhook_auth_header_name is not None,
        "webhook_auth_header_name": req.webhook_auth_header_name,
        "webhook_status_code": webhook_status_code,
        "iab_categories": req.iab_categories,
        "text": None,
        "words": None,
        "utterances": None,
        "audio_duration": None,
        "audio_channels": None,
        "speech_understanding": None,
        "iab_categories_result": None,
        "error": job.error if job.phase == "failed" else None,
    }
    if deleted:
        return body | {"text": DELETED_TEXT, "audio_url": DELETED_AUDIO_URL}
    if job.phase == "done" and isinstance(job.result, TranscriptResult):
        body.update(_completed_fields(req, job.result))
    return body
