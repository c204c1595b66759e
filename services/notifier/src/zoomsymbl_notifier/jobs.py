"""The ``jobs`` collection as the notifier sees it: written by the submitter, advanced here.

Every change is a conditional single-document update; the filter says which states may be left,
so redeliveries and late messages match nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.events import JobStatus, Provider, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import (
    EARLY_CALLBACKS,
    JOBS,
    EarlyCallback,
    Job,
    JobEvent,
    MalformedRecord,
    StoredJobStatus,
    job_forward_filter,
)

from zoomsymbl_notifier.parts import Submissions

log = logging.getLogger("zoomsymbl.notifier.jobs")
# Stale periods a job document that does not validate is set aside for, the sweeper's longest wait between
# polls of one job (sweeper.MAX_BACKOFF): it comes back (and is logged) that seldom until someone repairs it.
UNREADABLE_SET_ASIDE = 8

Mark = Literal["insights_stored_at", "processed_at"]
"""A step of the notifier's that :meth:`Jobs.mark` records on a job."""


class UnreadableJob(MalformedRecord):
    """A ``jobs`` document that does not validate (an older release's, one edited by hand); ``key``: its ``_id``."""

    def __init__(self, key: str, cause: MalformedRecord) -> None:
        super().__init__(cause.model, cause.detail)
        self.key = key


@dataclass(frozen=True)
class JobRecord:
    """One provider job (one part of a meeting)."""

    key: str
    tenant: str
    meeting_uuid: str
    generation: int
    provider: Provider
    job_id: str
    conversation_id: str
    status: StoredJobStatus
    part_index: int
    part_count: int
    part_offset_seconds: float
    job_ref: str | None
    idempotency_key: str | None
    limiter_account_key: str | None
    insights_stored: bool
    processed: bool
    trace_context: dict[str, str] | None = None
    sweeps: int = 0  # sweeper polls since the job last had news
    early_noted: bool = False  # a callback came before its id was stored; the sweeper asks at once
    fallback_reason: str | None = None  # a zoom job that replaced the tenant's failed provider: why
    status_reason: str | None = None  # why the provider failed it (its notice's reason when judged again)
    submitted_at: datetime | None = None  # when the provider took it (else its claim): how overdue it is

    @property
    def slot_refs(self) -> tuple[str, ...]:
        """The references the limiter slot may be held under (the job reference, the idempotency key)."""
        return tuple(dict.fromkeys(ref for ref in (self.job_ref, self.idempotency_key) if ref))

    @classmethod
    def from_doc(cls, doc: Document) -> JobRecord:
        """Read a submitter-written document (:class:`MalformedRecord` when it is not one)."""
        return cls.from_job(Job.from_document(doc))

    @classmethod
    def from_job(cls, job: Job) -> JobRecord:
        """The notifier's view of a validated job document."""
        return cls(
            key=job.id,
            tenant=job.tenant,
            meeting_uuid=job.meeting_uuid,
            generation=job.generation,
            provider=job.provider,
            job_id=job.job_id or "",
            conversation_id=job.conversation_id or "",
            status=job.status,
            part_index=job.part_index,
            part_count=job.part_count,
            part_offset_seconds=job.part_offset_seconds,
            job_ref=job.job_ref,
            idempotency_key=job.idempotency_key,
            limiter_account_key=job.limiter_account_key,
            insights_stored=job.insights_stored_at is not None,
            processed=job.processed_at is not None,
            trace_context=job.trace_context if job.trace_context and "traceparent" in job.trace_context else None,
            sweeps=job.sweeps,
            fallback_reason=job.fallback_reason,
            status_reason=job.status_reason,
            submitted_at=job.submitted_at or job.created_at,
        )


class Jobs:
    """Reads and conditional updates of ``jobs``."""

    def __init__(self, mongo: Mongo, *, known_ids: int = 4096) -> None:
        self._col: AsyncCollection[Document] = mongo.db[JOBS]
        self._early: AsyncCollection[Document] = mongo.db[EARLY_CALLBACKS]
        # (provider, provider's job id) -> the job's _id, for the jobs this process read lately (the
        # callback endpoint's, the sweeper's): a hint, checked against the document it finds.
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._known_ids = known_ids
        self.submissions = Submissions(mongo)  # which plan of a generation's jobs its meeting records (parts.py)

    async def by_ref(self, job_ref: str) -> JobRecord | None:
        """The job a callback token was issued for (:class:`UnreadableJob` when its document does not validate).

        Read by ``_id`` first: the submitter and the fallback store a job under its ref (``_id`` =
        ``job_ref``), and the local FerretDB finds a document without scanning the collection only
        by ``_id`` alone (a burst of callbacks made one scan of ``jobs`` each, issue 21). A document
        stored otherwise is still found, by ``job_ref``, with a second read.
        """
        doc = await guarded(self._col.find_one({"_id": job_ref}))
        if doc is None or doc.get("job_ref") != job_ref:
            doc = await guarded(self._col.find_one({"job_ref": job_ref}))
        return self._remember(_record(doc)) if doc else None

    async def by_provider_id(self, provider: Provider, job_id: str) -> JobRecord | None:
        """The job the provider knows as ``job_id``.

        A job this process read lately (its callback came here, the sweeper polled it) is read by
        ``_id`` alone, which the local FerretDB answers without scanning ``jobs``; the document found
        must still name ``provider`` and ``job_id``, else (and for any other job) it is found by them.
        """
        known = self._ids.get((provider, job_id))
        if known is not None:
            doc = await guarded(self._col.find_one({"_id": known}))
            if doc is not None and (doc.get("provider"), doc.get("job_id")) == (provider, job_id):
                return JobRecord.from_doc(doc)
            self._ids.pop((provider, job_id), None)
        doc = await guarded(self._col.find_one({"provider": provider, "job_id": job_id}))
        return self._remember(JobRecord.from_doc(doc)) if doc else None

    def _remember(self, job: JobRecord) -> JobRecord:
        """Note ``job``'s ``_id`` under its provider's id (the most recent :attr:`_known_ids` jobs)."""
        if job.job_id:
            self._ids[(job.provider, job.job_id)] = job.key
            self._ids.move_to_end((job.provider, job.job_id))
            while len(self._ids) > self._known_ids:
                self._ids.popitem(last=False)
        return job

    async def apply_status(self, job: JobRecord, status: JobStatus, reason: str | None, via: str) -> bool:
        """Move the job to ``status`` unless it already reached it or beyond; True if it moved."""
        now = utcnow()
        entry = JobEvent(status=status, at=now, via=via[:256], reason=reason[:1000] if reason else None)
        fields: Document = {"status": status, "updated_at": now, "sweeps": 0}
        if reason:
            fields["status_reason"] = reason[:1000]
        result = await guarded(
            self._col.update_one(
                job_forward_filter(job.key, status),
                {"$set": fields, "$push": {"history": entry.to_document()}},
            )
        )
        return result.modified_count == 1

    async def mark(self, job: JobRecord, field: Mark, *also: Mark) -> None:
        """Record a finished step (``insights_stored_at``, ``processed_at``) once, with ``also`` in the same
        update (the match is on ``field`` unset)."""
        now = utcnow()
        fields = dict.fromkeys((field, *also), now)
        await guarded(self._col.update_one({"_id": job.key, field: None}, {"$set": {**fields, "updated_at": now}}))

    async def count_give_up(self, job: JobRecord) -> int:
        """Note that the consumer gave up on a report of ``job`` once more; how often it has so far."""
        doc = await guarded(
            self._col.find_one_and_update(
                {"_id": job.key}, {"$inc": {"give_ups": 1}}, return_document=ReturnDocument.AFTER
            )
        )
        return int(doc.get("give_ups", 0)) if doc else 0

    async def parts(self, job: JobRecord) -> list[JobRecord]:
        """Every job of the same meeting and generation, in part order."""
        cursor = self._col.find({"tenant": job.tenant, "meeting_uuid": job.meeting_uuid, "generation": job.generation})
        docs = await guarded(cursor.to_list(None))
        return sorted((JobRecord.from_doc(d) for d in docs), key=lambda j: (j.part_index, j.part_offset_seconds))

    async def of_meeting(self, tenant: str, meeting_uuid: str) -> list[JobRecord]:
        """Every readable job of the meeting, of every generation (an unreadable one is the sweeper's to log)."""
        cursor = self._col.find({"tenant": tenant, "meeting_uuid": meeting_uuid})
        found = (_job_or_none(doc) for doc in await guarded(cursor.to_list(None)))
        return [JobRecord.from_job(job) for job in found if job is not None]

    async def note_early_callback(self, job: JobRecord, reported_job_id: str, status: str) -> None:
        """Remember a callback that came before the submitter stored the provider's job id.

        The provider can call back within milliseconds of accepting a job, before the submitter has
        written the id it was given. The note makes the sweeper ask the provider about the job in its
        next round once the id is there (see :meth:`stale`). It is a unique insert into its own
        collection: an update of the job document would race the submitter's (FerretDB does not
        isolate concurrent updates of one document; the submitter's ids were lost that way).
        """
        note = EarlyCallback(id=job.key, job_id=reported_job_id[:256], status=status[:64], at=utcnow())
        with contextlib.suppress(DuplicateKeyError):  # noted already: once is enough
            await guarded(self._early.insert_one(note.to_document()))

    async def stale(self, older_than: timedelta, limit: int) -> list[JobRecord]:
        """Jobs to ask the provider about: first those with an early callback noted whose id is stored
        now, then submitted jobs not finished here and without news for ``older_than``, oldest first."""
        found = await self._early_noted(limit)
        cutoff = utcnow() - older_than
        query = {"processed_at": None, "job_id": {"$nin": [None, ""]}, "updated_at": {"$lt": cutoff}}
        cursor = self._col.find(query).sort("updated_at", 1).limit(limit)
        seen = {job.key for job in found}
        for doc in await guarded(cursor.to_list(None)):
            job = await self._readable(doc, older_than * UNREADABLE_SET_ASIDE)
            if job is not None and job.key not in seen:
                found.append(job)
        return [self._remember(job) for job in found[:limit]]

    async def _readable(self, doc: Document, set_aside: timedelta) -> JobRecord | None:
        """``doc`` as a job; None when it does not validate (an older release's document, one edited by hand).

        Such a document was an exception out of every sweep: no stale job polled, no due e-mail retried, for
        as long as it stayed. It is logged and set aside instead (``updated_at`` pushed out by ``set_aside``),
        so it neither ends the round nor takes the place of a readable job in the next one.
        """
        try:
            return JobRecord.from_doc(doc)
        except MalformedRecord as exc:
            log.error("job document unreadable, set aside", extra={"job_key": str(doc["_id"]), "error": str(exc)[:300]})
            update = {"$set": {"updated_at": utcnow() + set_aside}}
            await guarded(self._col.update_one({"_id": doc["_id"]}, update))
            return None

    async def _early_noted(self, limit: int) -> list[JobRecord]:
        # Newest first, so notes of jobs whose id never came (a rejected submission) cannot crowd out
        # new ones; those are dropped here, or by the collection's TTL.
        cursor = self._early.find({}, {"_id": 1}).sort("at", -1).limit(limit)
        keys = [n["_id"] for n in await guarded(cursor.to_list(None))]
        if not keys:
            return []
        docs = {d["_id"]: d for d in await guarded(self._col.find({"_id": {"$in": keys}}).to_list(None))}
        ready = []
        for key in keys:
            job = _job_or_none(docs.get(key))
            if job is None or job.processed_at is not None or job.status == "rejected":
                # Gone, unreadable (the stale query sets it aside and logs it), or finished by other means.
                await guarded(self._early.delete_one({"_id": key}))
            elif job.job_id:
                ready.append(replace(JobRecord.from_job(job), early_noted=True))
        return ready  # notes of jobs still without an id stay until it comes

    async def touch(self, job: JobRecord, at: datetime, later: timedelta = timedelta(0)) -> None:
        """Note that the sweeper asked the provider, so the job is not polled again before it is stale
        again (``later`` pushes that further out)."""
        update = {"$set": {"updated_at": at + later, "polled_at": at}, "$inc": {"sweeps": 1}}
        await guarded(self._col.update_one({"_id": job.key}, update))
        if job.early_noted:
            await guarded(self._early.delete_one({"_id": job.key}))


def _record(doc: Document) -> JobRecord:
    """``doc`` as a job record, or :class:`UnreadableJob` naming it."""
    try:
        return JobRecord.from_doc(doc)
    except MalformedRecord as exc:
        raise UnreadableJob(str(doc.get("_id")), exc) from exc


def _job_or_none(doc: Document | None) -> Job | None:
    """``doc`` as a job; None when there is none or it does not validate."""
    if doc is None:
        return None
    try:
        return Job.from_document(doc)
    except MalformedRecord:
        return None


def is_finished(job: JobRecord) -> bool:
    """Everything the notifier does for the job is done: it reached a final status and was acted on,
    or it was given up (its meeting failed, see ``handlers.on_give_up``) whatever its status.

    A given-up job's later news (a late callback, a redelivered or replayed report) must not complete
    the meeting its host was told had failed.
    """
    return job.processed
