"""A meeting whose provider job failed is completed from Zoom's transcript, when the mixer stored one.

Design: the notifier runs the ``zoom`` source itself, in the step that learnt of the failure, rather
than publishing a re-submission for the submitter. The zoom source is local work (read the WebVTT
from our S3 with the shared ``ZOOMSYMBL_S3_*`` settings, parse it, record the finished job in
MongoDB): it needs no limiter slot, no callback and no claim lease, which is all the submitter's
machinery would add, while a re-submission would need a new event, topic and consumer and a second
hop whose own failure would need a notice again. In place, the failure and its replacement are one
idempotent step of the handler that confirmed the failure:

- the zoom job's ``_id`` derives from the failed job's and is inserted once (unique ``_id``) *after*
  the transcript was parsed and recorded; a redelivery (or the sweeper) finds it and goes on from
  there; a racing replica's insert loses and it reads the winner's (its own parsed transcript stays
  unreferenced in ``transcriptions``, as after a submitter crash mid-submit);
- the job is born ``completed`` and carries the provider's scrubbed reason (``fallback_reason``), so
  the usual ``on_completed`` path stores the insights, finishes the meeting and sends the one report
  (outbox key tenant + meeting + generation + ``report``), its source line naming the failure; no
  failure notice is recorded;
- single-part meetings only: the notifier joins the parts of one meeting and generation, and the
  parts the provider did finish would never join one whole transcript. A split meeting fails as before.

Without a stored transcript of that generation, or when Zoom's is empty, unreadable or gone, the
meeting fails as before. S3 being down is retryable: the failed job is not marked processed, so the
redelivery or the sweeper tries again.
"""

from __future__ import annotations

import contextlib
import logging

from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.errors import ObjectNotFound, PoisonInputError
from zoomsymbl_common.events import stable_id, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import AudioOpener, SpeechProvider, SubmitRequest, SubmittedJob
from zoomsymbl_common.providers.factory import provider_account_key
from zoomsymbl_common.providers.zoom_transcript import FALLBACK_REASON_LIMIT, transcript_key
from zoomsymbl_common.records import JOBS, MEETINGS, Job, JobEvent, MalformedRecord, Meeting, meeting_key
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig

from zoomsymbl_notifier.jobs import JobRecord

log = logging.getLogger("zoomsymbl.notifier.fallback")


class Fallback:
    """Makes (once) the zoom job that replaces a failed provider job."""

    def __init__(self, mongo: Mongo, infra: InfraSettings) -> None:
        self._jobs: AsyncCollection[Document] = mongo.db[JOBS]
        self._meetings: AsyncCollection[Document] = mongo.db[MEETINGS]
        self._infra = infra
        self._store: ObjectStore | None = None

    async def replacement(
        self, failed: JobRecord, zoom_tenant: TenantConfig, zoom: SpeechProvider, reason: str
    ) -> JobRecord | None:
        """The completed zoom job of ``failed``'s meeting, or None when the meeting cannot fall back."""
        if failed.provider == "zoom" or failed.part_count > 1:
            return None
        key = stable_id("fallback", failed.key)
        if (found := await guarded(self._jobs.find_one({"_id": key}))) is not None:
            return JobRecord.from_doc(found)
        meeting = await self._meeting(failed)
        if meeting is None:
            return None
        transcript = self._transcript(failed, meeting)
        if transcript is None:
            return None
        ids = {**_ids(failed), "transcript": transcript}
        try:
            job = await zoom.submit(_request(meeting, zoom_tenant, self._opener(transcript)))
        except (PoisonInputError, ObjectNotFound) as exc:
            log.warning("zoom's transcript unusable, no fallback", extra={**ids, "error": str(exc)[:300]})
            return None
        why = scrub(reason, FALLBACK_REASON_LIMIT)
        doc = _job_document(failed, key, job, provider_account_key(zoom_tenant), why)
        with contextlib.suppress(DuplicateKeyError):  # a racing replica made it first: use theirs
            await guarded(self._jobs.insert_one(doc))
        stored = await guarded(self._jobs.find_one({"_id": key}))
        return JobRecord.from_doc(stored) if stored is not None else None

    async def _meeting(self, failed: JobRecord) -> Meeting | None:
        doc = await guarded(self._meetings.find_one(meeting_key(failed.tenant, failed.meeting_uuid)))
        try:
            meeting = Meeting.from_document(doc) if doc else None
        except MalformedRecord as exc:
            log.warning("meeting document unreadable, no fallback", extra={**_ids(failed), "error": str(exc)[:300]})
            return None
        return meeting if meeting is not None and meeting.generation == failed.generation else None

    def _transcript(self, failed: JobRecord, meeting: Meeting) -> str | None:
        try:
            return transcript_key(failed.tenant, failed.meeting_uuid, meeting.transcripts)
        except PoisonInputError as exc:
            log.warning("meeting names a foreign transcript, no fallback", extra={**_ids(failed), "error": exc.reason})
            return None

    def _opener(self, key: str) -> AudioOpener:
        if self._store is None:
            self._store = ObjectStore(self._infra)
        store = self._store
        return lambda: store.get_stream(key, chunk_size=1 << 20)


def _request(meeting: Meeting, tenant: TenantConfig, transcript: AudioOpener) -> SubmitRequest:
    mixed = meeting.objects.mixed
    return SubmitRequest(
        name=meeting.topic or f"Zoom meeting {meeting.meeting_uuid}",
        language=tenant.language,
        audio_format="flac",
        channels=1,
        channel_map=(),
        diarization=False,
        webhook_url=SecretStr(""),
        size_bytes=mixed.size if mixed else 0,
        duration_seconds=meeting.duration_seconds or 0.0,
        object_bucket=mixed.bucket if mixed else "",
        object_key=mixed.key if mixed else "",
        transcript=transcript,
    )


def _job_document(failed: JobRecord, key: str, job: SubmittedJob, account: str, why: str) -> Document:
    now = utcnow()
    entry = JobEvent(status="completed", at=now, job_id=job.job_id, via="fallback", reason=why)
    record = Job.model_validate(
        {
            "_id": key,
            "idempotency_key": key,
            "job_ref": key,
            "tenant": failed.tenant,
            "meeting_uuid": failed.meeting_uuid,
            "generation": failed.generation,
            "provider": "zoom",
            "limiter_account_key": account,
            "status": "completed",
            "job_id": job.job_id,
            "conversation_id": job.conversation_id,
            "fallback_reason": why,
            "submitted_at": now,
            "created_at": now,
            "updated_at": now,
            "history": [entry],
        }
    )
    return {**record.to_document(), "history": [entry.to_document()]}


def _ids(job: JobRecord) -> dict[str, object]:
    return {"tenant": job.tenant, "meeting_uuid": job.meeting_uuid, "generation": job.generation, "job_id": job.job_id}
