"""SANDBOX AssemblyAI transcript request parsing and response building. Pure.

Utterances are the detected speech segments: with ``multichannel`` one speaker per channel (labels "1",
"2", ...), with ``speaker_labels`` on a combined analysis letters "A", "B", ... in turn. Times are in
milliseconds, as in AssemblyAI's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zoomsymbl_sandbox.provider_audio import AudioInfo, Segment
from zoomsymbl_sandbox.provider_jobs import Job, Phase

Json = dict[str, object]
STATUS: dict[Phase, str] = {"waiting": "queued", "running": "processing", "done": "completed", "failed": "error"}


class RequestError(ValueError):
    """A transcript request AssemblyAI answers with 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TranscriptRequest:
    audio_url: str
    multichannel: bool = False
    speaker_labels: bool = False
    speakers_expected: int | None = None
    webhook_url: str | None = None
    webhook_auth_header_name: str | None = None
    webhook_auth_header_value: str | None = None
    language_code: str = "en_us"
    summarization: bool = False
    summary_model: str | None = None
    summary_type: str | None = None


@dataclass(frozen=True)
class TranscriptResult:
    info: AudioInfo
    segments: list[Segment]


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


def parse_request(body: Mapping[str, object]) -> TranscriptRequest:
    """Known fields are type-checked; unknown ones are ignored, as the API has many more options."""
    url = body.get("audio_url")
    if not isinstance(url, str) or not url:
        raise RequestError("audio_url is required")
    request = TranscriptRequest(
        audio_url=url,
        multichannel=_flag(body, "multichannel"),
        speaker_labels=_flag(body, "speaker_labels"),
        speakers_expected=_speakers_expected(body),
        webhook_url=_text(body, "webhook_url"),
        webhook_auth_header_name=_text(body, "webhook_auth_header_name"),
        webhook_auth_header_value=_text(body, "webhook_auth_header_value"),
        language_code=_text(body, "language_code") or "en_us",
        summarization=_flag(body, "summarization"),
        summary_model=_text(body, "summary_model"),
        summary_type=_text(body, "summary_type"),
    )
    if bool(request.webhook_auth_header_name) != bool(request.webhook_auth_header_value):
        raise RequestError("webhook_auth_header_name and webhook_auth_header_value go together")
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


def utterances(request: TranscriptRequest, segments: list[Segment]) -> tuple[list[Json], list[Json]]:
    """(utterances, words) in start order."""
    items: list[Json] = []
    words: list[Json] = []
    per_channel: dict[int, int] = {}
    for index, seg in enumerate(segments):
        per_channel[seg.channel] = per_channel.get(seg.channel, 0) + 1
        text = f"Segment {per_channel[seg.channel]} on channel {seg.channel} ({seg.duration_s:.1f} s)"
        start, end = round(seg.start_s * 1000), round(seg.end_s * 1000)
        speaker = _label(request, index, seg)
        channel = str(seg.channel) if request.multichannel else None
        utterance_words = _words(text, start, end, speaker, channel)
        utterance: Json = {"speaker": speaker, "start": start, "end": end, "text": text, "confidence": 0.9}
        if channel:
            utterance["channel"] = channel
        items.append(utterance | {"words": utterance_words})
        words += utterance_words
    return items, words


def summary_text(request: TranscriptRequest, segments: list[Segment]) -> str:
    talk: dict[str, tuple[float, int]] = {}
    for index, seg in enumerate(segments):
        label = _label(request, index, seg) or "A"
        seconds, count = talk.get(label, (0.0, 0))
        talk[label] = (seconds + seg.duration_s, count + 1)
    return "\n".join(f"- Speaker {label} spoke for {s:.1f} s in {n} segments." for label, (s, n) in talk.items())


def _completed_fields(request: TranscriptRequest, result: TranscriptResult) -> Json:
    items, words = utterances(request, result.segments)
    return {
        "text": " ".join(str(u["text"]) for u in items),
        "words": words,
        "utterances": items if (request.multichannel or request.speaker_labels) else None,
        "confidence": 0.9 if items else None,
        "audio_duration": round(result.info.duration_s),
        "audio_channels": result.info.channels if request.multichannel else None,
        "summary": summary_text(request, result.segments) if request.summarization else None,
    }


def transcript_json(job: Job[TranscriptRequest], webhook_status_code: int | None) -> Json:
    """The object ``GET /v2/transcript/{id}`` returns; the webhook auth value is never echoed."""
    req = job.request
    body: Json = {
        "id": job.id,
        "status": STATUS[job.phase],
        "audio_url": req.audio_url,
        "language_code": req.language_code,
        "multichannel": req.multichannel,
        "speaker_labels": req.speaker_labels,
        "speakers_expected": req.speakers_expected,
        "webhook_url": req.webhook_url,
        "webhook_auth": req.webhook_auth_header_name is not None,
        "webhook_auth_header_name": req.webhook_auth_header_name,
        "webhook_status_code": webhook_status_code,
        "summarization": req.summarization,
        "summary_type": req.summary_type,
        "summary_model": req.summary_model,
        "text": None,
        "words": None,
        "utterances": None,
        "audio_duration": None,
        "audio_channels": None,
        "summary": None,
        "error": job.error if job.phase == "failed" else None,
    }
    if job.phase == "done" and isinstance(job.result, TranscriptResult):
        body.update(_completed_fields(req, job.result))
    return body
