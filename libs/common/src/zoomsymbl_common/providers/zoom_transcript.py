"""The ``zoom`` source: Zoom's own audio transcript (WebVTT) instead of a speech provider.

It speaks the provider interface like the self-hosted ``whisper`` provider, over MongoDB:

- ``submit`` (submitter) reads the meeting's transcript file from our object storage (the mixer stored
  it next to the audio), parses it (:mod:`zoomsymbl_common.webvtt`) and records the finished job in
  ``transcriptions`` with every utterance and its speaker; nothing leaves the network and the job is
  complete at once, so the submitter reports ``completed`` itself (``JobStatusReported(via="worker")``);
- ``job_status`` and ``fetch_insights`` (notifier) read it back; the insights engine derives the summary,
  topics, questions, action items, follow-ups and decisions, as for ``whisper``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from zoomsymbl_common.bounded import collect
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import Provider, TranscriptObject, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.providers.base import (
    AudioOpener,
    Insights,
    ProviderLimits,
    SubmitRequest,
    SubmittedJob,
    TranscriptMessage,
    bound_transcript,
)
from zoomsymbl_common.providers.transcriptions import StoredTranscriptions, stored_utterances
from zoomsymbl_common.records import Transcription, Utterance
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_common.webvtt import Cue, parse

SOURCE = "Zoom transcript"
UNKNOWN_SPEAKER = "Unknown speaker"
# A day of speech is a few MiB of WebVTT; the mixer refuses larger files, this is the second fence.
MAX_TRANSCRIPT_BYTES = 64 << 20
MAX_UTTERANCES = 200_000
# The job is one MongoDB document (16 MiB at most): a day of speech is ~3 MiB of text, a file of noise stops here.
MAX_STORED_BYTES = 8 << 20
_UTTERANCE_OVERHEAD = 96  # field names, times, speaker
# The transcript is read, not uploaded: no size limit and no splitting past a week of audio.
ZOOM_LIMITS = ProviderLimits(
    max_file_seconds=7 * 24 * 3600,
    max_upload_bytes=1 << 50,
    max_url_bytes=1 << 50,
    caps_concurrency_with_429=False,
)


FALLBACK_REASON_LIMIT = 300


def fallback_source(reason: str) -> str:
    """The report's source line of a meeting completed from Zoom's transcript because its provider failed."""
    return f"{SOURCE}, because the speech provider failed ({scrub(reason, FALLBACK_REASON_LIMIT)})"


def transcript_key(tenant: str, meeting_uuid: str, transcripts: Sequence[TranscriptObject]) -> str | None:
    """The object key of Zoom's transcript of the meeting (the audio transcript, else the captions).

    It must be the mixer's file of that very tenant and meeting (``raw/{tenant}/{meeting_key}/….vtt``):
    a list naming any other object is poison, whoever wrote it.
    """
    chosen = sorted(transcripts, key=lambda t: t.kind != "transcript")
    if not chosen:
        return None
    key = chosen[0].key
    rest = key.removeprefix(f"raw/{tenant}/{meeting_key(meeting_uuid)}/")
    if rest == key or not rest.endswith(".vtt") or "/" in rest or ".." in rest:
        raise PoisonInputError(f"names transcript {key!r}, not one of its own meeting", stage="validate")
    return key


async def read_bounded(opener: AudioOpener, limit: int = MAX_TRANSCRIPT_BYTES) -> bytes:
    """All bytes ``opener`` streams; :class:`PoisonInputError` past ``limit``."""
    data = await collect(opener(), limit)
    if data is None:
        raise PoisonInputError(f"Zoom's transcript is larger than {limit} bytes", stage="transcript")
    return data


def utterances(cues: tuple[Cue, ...], budget: int = MAX_STORED_BYTES) -> list[Document]:
    """The cues as stored utterances (one channel: Zoom names the speakers itself), the first ``budget`` bytes."""
    stored: list[Document] = []
    for c in cues[:MAX_UTTERANCES]:
        budget -= len(c.text.encode("utf-8")) + len((c.speaker or "").encode("utf-8")) + _UTTERANCE_OVERHEAD
        if budget < 0:
            break
        utterance = Utterance(channel=1, start=round(c.start, 3), end=round(c.end, 3), text=c.text, speaker=c.speaker)
        stored.append(utterance.model_dump())
    return stored


def messages_from(doc: Document) -> tuple[TranscriptMessage, ...]:
    """The stored utterances as transcript messages under Zoom's speaker names (no channel to rename), in time
    order; the earliest within :func:`~zoomsymbl_common.providers.base.bound_transcript`, as every provider's."""
    found = [
        TranscriptMessage(u.speaker or UNKNOWN_SPEAKER, u.text[:5000], u.start, max(u.start, u.end))
        for u in stored_utterances(doc, MAX_UTTERANCES)
    ]
    return bound_transcript(sorted(found, key=lambda m: m.start_seconds))


class ZoomTranscriptProvider(StoredTranscriptions):
    """:class:`~zoomsymbl_common.providers.base.SpeechProvider` over Zoom's own transcript."""

    name: Provider = "zoom"
    limits: ProviderLimits = ZOOM_LIMITS

    async def submit(self, request: SubmitRequest) -> SubmittedJob:
        """Parse the transcript and record the finished job; poison when Zoom gave none or an empty one."""
        if request.transcript is None:
            raise PoisonInputError("Zoom has no transcript of this meeting", stage="transcript")
        cues = parse(await read_bounded(request.transcript))
        if not cues:
            raise PoisonInputError("Zoom's transcript has no cue", stage="transcript")
        job_id = f"zoom-{uuid.uuid4().hex}"
        now = utcnow()
        doc = Transcription(
            id=job_id,
            status="completed",
            bucket=request.object_bucket,
            object_key=request.object_key,
            language=request.language,
            duration_seconds=request.duration_seconds,
            name=request.name[:1000],
            created_at=now,
            finished_at=now,
            model=SOURCE,
        ).to_document()
        doc["utterances"] = utterances(cues)
        await guarded(self._col.insert_one(doc))
        return SubmittedJob(job_id=job_id, conversation_id=job_id)

    async def fetch_insights(self, job: SubmittedJob) -> Insights:
        """The transcript under Zoom's speaker names (complete once recorded); the engine derives the rest."""
        _, doc = await self.completed(job.job_id)
        return Insights(messages=messages_from(doc), extra={"source": SOURCE})
