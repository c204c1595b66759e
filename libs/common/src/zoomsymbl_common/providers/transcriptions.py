"""The providers whose jobs are documents in MongoDB's ``transcriptions`` (whisper, zoom): status and results.

Both record a job there (the transcriber fills a whisper job in later; a zoom job is complete when it is
recorded), so asking for a job's status and reading a finished transcript are the same for both.
"""

from __future__ import annotations

from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from zoomsymbl_common.errors import PoisonInputError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import JobState
from zoomsymbl_common.records import TRANSCRIPTIONS, Transcription, Utterance


def stored_utterances(doc: Document, most: int) -> list[Utterance]:
    """The readable utterances of a stored transcription, of its first ``most``, in stored order.

    The document is read as outside input: a field ``utterances`` that is no list holds none (it once raised, and
    the notifier retried the completion to its dead letter), and one unreadable utterance costs only itself.
    """
    stored = doc.get("utterances")
    found = []
    for raw in (stored if isinstance(stored, list) else [])[:most]:
        try:
            found.append(Utterance.model_validate(raw))
        except ValidationError:
            continue
    return found


class StoredTranscriptions:
    """Job status and completed transcripts read from ``transcriptions``."""

    def __init__(self, mongo: Mongo) -> None:
        self._col: AsyncCollection[Document] = mongo.db[TRANSCRIPTIONS]

    async def job_status(self, job_id: str) -> JobState:
        """The recorded status of ``job_id``; a job nobody recorded is failed."""
        doc = await guarded(self._col.find_one({"_id": job_id}, {"utterances": 0}))
        if doc is None:
            return JobState("failed", reason=f"no transcription {job_id!r}")
        job = Transcription.from_document(doc)
        failed = job.status == "failed"
        return JobState(job.status, reason=(job.error or "transcription failed") if failed else None)

    async def completed(self, job_id: str) -> tuple[Transcription, Document]:
        """The record and document of a completed job: poison when unknown or failed, retryable while running."""
        doc = await guarded(self._col.find_one({"_id": job_id}))
        if doc is None:
            raise PoisonInputError(f"no transcription {job_id!r}", stage="insights")
        record = Transcription.from_document(doc)
        if record.status == "failed":
            raise PoisonInputError(f"transcription failed: {record.error!r}", stage="insights")
        if record.status != "completed":
            raise RetryableError(f"transcription {job_id!r} is {record.status!r}, not completed")
        return record, doc

    async def abandon(self, job_id: str, reason: str) -> bool:
        """Fail a work order nobody finished (the notifier gave its job up, overdue) so that no worker spends hours on
        it any more: the transcriber reports a failed order again instead of running it, and a worker running it
        stops at its next lease renewal (it renews only an order ``in_progress``). False when it had an outcome."""
        unfinished = {"_id": job_id, "status": {"$in": ["scheduled", "in_progress"]}}
        update = {"$set": {"status": "failed", "error": reason[:500], "finished_at": utcnow()}}
        result = await guarded(self._col.update_one(unfinished, {**update, "$unset": {"lease_until": ""}}))
        return result.modified_count == 1
