"""SANDBOX AssemblyAI transcript response building. Pure.

What ``GET /v2/transcript/{id}`` answers for a request :mod:`zoomsymbl_sandbox.provider_assemblyai_request`
parsed: summaries and action items asked for in ``speech_understanding.request`` are answered in
``speech_understanding.response`` (topics with ``headline``, ``text``, ``start``, ``end``; action items with
``text``, ``start``, ``end``, ``quote``: https://www.assemblyai.com/blog/summarization-action-items-update);
``iab_categories`` gives ``iab_categories_result.summary``.

Utterances are the recognised speech when the sandbox has a Whisper model (real words), else the
detected speech segments ("Segment 1 on channel 2"): with ``multichannel`` one speaker per channel
(labels "1", "2", ...), with ``speaker_labels`` on a combined analysis letters "A", "B", ... in turn.
Times are in milliseconds, as in AssemblyAI's API.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoomsymbl_sandbox.provider_assemblyai_request import TranscriptRequest
from zoomsymbl_sandbox.provider_audio import AudioInfo, Segment
from zoomsymbl_sandbox.provider_jobs import Job, Phase
from zoomsymbl_sandbox.provider_understanding import Line, findings, headline, keywords, sentences, topic_groups

Json = dict[str, object]
STATUS: dict[Phase, str] = {"waiting": "queued", "running": "processing", "done": "completed", "failed": "error"}


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
        "language_detection": req.language_detection,
        "language_confidence": 0.97 if req.language_detection else None,
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
