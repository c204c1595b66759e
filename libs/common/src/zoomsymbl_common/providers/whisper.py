"""The ``whisper`` provider: our own transcription worker (``services/transcriber``), no SaaS involved.

It speaks the same provider interface as AssemblyAI and Symbl, over MongoDB and Kafka instead of HTTP:

- ``submit`` (submitter) writes the job into ``transcriptions`` (status ``scheduled``, where the mixed
  file is, its channels and language) and returns its id; the submitter then publishes
  ``JobSubmitted(provider="whisper")`` as for any provider, which is the transcriber's work order;
- the transcriber transcribes each channel, stores the utterances in the same document, and publishes
  ``JobStatusReported(provider="whisper", via="worker")`` — what a provider callback becomes at the notifier;
- ``job_status`` and ``fetch_insights`` (notifier) read the document back, so the notifier's flow
  (confirm, free the slot, insights engine, e-mail) does not fork.
"""

from __future__ import annotations

import uuid

from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import Provider, utcnow
from zoomsymbl_common.mongo import Document, guarded
from zoomsymbl_common.providers.base import (
    Insights,
    ProviderLimits,
    SubmitRequest,
    SubmittedJob,
    TranscriptMessage,
    bound_transcript,
)
from zoomsymbl_common.providers.transcriptions import StoredTranscriptions, stored_utterances
from zoomsymbl_common.records import Transcription

# The worker reads the file from our own storage: no upload limit; parts only past a day of audio.
WHISPER_LIMITS = ProviderLimits(
    max_file_seconds=24 * 3600,
    max_upload_bytes=1 << 50,
    max_url_bytes=1 << 50,
    caps_concurrency_with_429=False,
)
MAX_UTTERANCES = 200_000


def transcription_doc(job_id: str, request: SubmitRequest) -> Document:
    """The work order the transcriber picks up."""
    if not request.object_bucket or not request.object_key:
        raise PoisonInputError("the whisper provider needs the mixed file's bucket and key", stage="submit")
    return Transcription(
        id=job_id,
        status="scheduled",
        bucket=request.object_bucket,
        object_key=request.object_key,
        channels=request.channels,
        language=request.language,
        duration_seconds=request.duration_seconds,
        name=request.name,
        created_at=utcnow(),
    ).to_document()


def messages_from(doc: Document) -> tuple[TranscriptMessage, ...]:
    """The stored utterances as transcript messages ("Channel N"; the notifier names them), in time order.

    Bounded as every provider's transcript is (:func:`~zoomsymbl_common.providers.base.bound_transcript`):
    the worker caps the number of utterances, not their total size, and the earliest are the ones kept.
    """
    found = [
        TranscriptMessage(f"Channel {u.channel}", u.text[:5000], u.start, max(u.start, u.end), channel=u.channel)
        for u in stored_utterances(doc, MAX_UTTERANCES)
    ]
    return bound_transcript(sorted(found, key=lambda m: (m.start_seconds, m.channel or 0)))


class WhisperProvider(StoredTranscriptions):
    """:class:`~zoomsymbl_common.providers.base.SpeechProvider` for the self-hosted transcriber."""

    name: Provider = "whisper"
    limits: ProviderLimits = WHISPER_LIMITS

    async def submit(self, request: SubmitRequest) -> SubmittedJob:
        """Record the work order; the submitter's ``JobSubmitted`` hands it to the transcriber."""
        job_id = f"whisper-{uuid.uuid4().hex}"
        await guarded(self._col.insert_one(transcription_doc(job_id, request)))
        return SubmittedJob(job_id=job_id, conversation_id=job_id)

    async def fetch_insights(self, job: SubmittedJob) -> Insights:
        """The transcript of a completed job; the insights engine derives the rest."""
        record, doc = await self.completed(job.job_id)
        extra = {"transcribed_by": record.model} if record.model else {}
        return Insights(messages=messages_from(doc), extra=extra)
