"""The ``jobs`` collection as the submitter writes it: a claim before the provider call, the ids after.

A submission is claimed (:mod:`zoomsymbl_submitter.claims`) with a short claim lease that its owner
renews while the provider call runs (:meth:`JobStore.kept_alive`), so a dead owner's claim is free
within one lease, not after the longest a submission may take. Then the provider is called, then
``job_id``/``conversation_id`` are set with ``status: "scheduled"``,
and only then is the Kafka offset committed. A redelivery therefore finds either the finished job
(publish again, submit nothing), a live claim (another replica is at it: wait), a failed attempt
(``retrying``: claim it again), a rejection (``rejected``: fail the same way), or an
expired ``submitting`` claim: the owner died mid-submit.

Whether the provider had accepted an earlier attempt cannot be asked (neither API lists jobs by name),
so a duplicate job can arise in exactly these ways, and each resubmission that may be one is flagged
``resubmitted_after_crash`` (the one flag the reliability suite accepts a second job for):

- the owner died after the provider answered and before the ids were written, or could not write
  them (MongoDB gone for longer than :meth:`JobStore.record_submitted` waits, 30 minutes; the provider's
  job id is then logged): its claim expires and the next owner submits again;
- an attempt failed in a way that does not tell whether the provider got the request
  (:func:`zoomsymbl_submitter.ambiguity.maybe_accepted`: a timeout or a lost connection after
  connecting, a 5xx, 408/409/425, a 2xx that is not JSON): the claim is released as ``retrying`` with
  ``maybe_submitted: true`` and ``maybe_submitted_reason``, which stay set, so every later submission
  of the job is flagged. A failure that certainly left no job (no connection made, 429, another 4xx,
  our own S3 or MongoDB) releases the claim unmarked, and the next submission is no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

from pymongo.results import UpdateResult
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import AudioMixed, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.records import Job, JobEvent
from zoomsymbl_common.storage_keys import mix_tag
from zoomsymbl_common.telemetry import current_traceparent

from zoomsymbl_submitter.claims import Claims
from zoomsymbl_submitter.part_plan import MeetingGeneration, Readers, meeting_prefix, tag_named

log = logging.getLogger("zoomsymbl.submitter.jobs")
MAX_PARTS = 10_000  # the most parts a split plan holds (``SplitPlan.parts``)
_READING = ("submitting", "scheduled", "in_progress")
"""Job statuses whose audio a provider or the transcriber may still read (``completed`` and ``failed`` are done, a
``rejected`` submission made no job, a ``retrying`` one only maybe: :meth:`JobStore.readers`)."""
RECORD_PATIENCE_SECONDS = 1800.0
"""How long :meth:`JobStore.record_submitted` waits for MongoDB (as long as the consumer waits out an outage of
our own servers, and well inside the submitter's Kafka poll interval of an hour)."""


class JobStore(Claims):
    """Claims (:class:`Claims`), their leases, outcomes and look-ups of submissions; leases measured on ``clock``."""

    def __init__(
        self,
        mongo: Mongo,
        owner: str,
        claim_seconds: float,
        *,
        clock: Clock = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(mongo, owner, claim_seconds, clock=clock)
        self._sleep = sleep

    async def get(self, key: str) -> Job | None:
        """The submission ``key``, if any."""
        doc = await guarded(self._col.find_one({"_id": key}))
        return Job.from_document(doc) if doc is not None else None

    async def submitted_of(self, event: AudioMixed) -> list[Job]:
        """The jobs stored for ``event``'s meeting, generation and input that the provider accepted (a job id)."""
        query = {
            "tenant": event.tenant,
            "meeting_uuid": event.meeting_uuid,
            "generation": event.generation,
            "input_hash": event.input_hash,
            "job_id": {"$nin": [None, ""]},
        }
        docs = await guarded(self._col.find(query).sort("part_index", 1).to_list(MAX_PARTS))
        return [Job.from_document(doc) for doc in docs]

    async def readers(self, of: MeetingGeneration) -> Readers:
        """What the jobs of ``of``'s meeting, of any generation, say about its objects, in one read.

        Still read: the objects of a job being submitted (an upload reads S3), of one the provider or the transcriber
        has not finished (a presigned URL is fetched, a work order read, when the job starts), of one whose failed
        submission may have left a job at the provider. Earlier mixes: the tags
        (:func:`~zoomsymbl_common.storage_keys.mix_tag`) of the mixed files that jobs of the meeting's generations
        before ``of``'s were submitted from: of each job's input and generation (the mix it made), and the one its
        audio's key names (a mix an earlier generation reused). A job exists only once the mixer recorded and
        announced its mix, so a file the mixer is still writing, named by no event yet, is never one of them."""
        query = {"tenant": of.tenant, "meeting_uuid": of.meeting_uuid}
        fields = {
            "status": 1,
            "maybe_submitted": 1,
            "processed_at": 1,
            "object_key": 1,
            "input_hash": 1,
            "generation": 1,
        }
        docs = await guarded(self._col.find(query, fields).to_list(None))
        read = {doc["object_key"] for doc in docs if _reading(doc) and isinstance(doc.get("object_key"), str)}
        earlier = [doc for doc in docs if _earlier(doc, of)]
        return Readers(frozenset(read), frozenset(_mix_tags(meeting_prefix(of), earlier)))

    async def renew(self, key: str) -> bool:
        """Extend our live claim on ``key`` by one lease; False when it is no longer ours."""
        now = self.now()
        result = await guarded(
            self._col.update_one(
                {"_id": key, "claim_owner": self.owner, "status": "submitting", "job_id": None},
                {"$set": {"claimed_until": now + self._claim}},
            )
        )
        return result.matched_count == 1

    async def still_ours(self, key: str) -> bool:
        """Extend our claim on ``key`` by one lease if it is ours and has not lapsed; False otherwise.

        Unlike :meth:`renew`, a lapsed claim is not extended: another replica may be taking it over this
        very moment (its takeover matches the job as it read it, whatever the lease says now).
        """
        now = self.now()
        query = {"_id": key, "claim_owner": self.owner, "status": "submitting", "job_id": None}
        result = await guarded(
            self._col.update_one(
                {**query, "claimed_until": {"$gt": now}}, {"$set": {"claimed_until": now + self._claim}}
            )
        )
        return result.matched_count == 1

    @contextlib.asynccontextmanager
    async def kept_alive(self, key: str) -> AsyncIterator[None]:
        """Renew the claim on ``key`` every third of a lease while the body runs."""

        async def heartbeat() -> None:
            while True:
                await self._sleep(self._claim.total_seconds() / 3)
                try:
                    if not await self.renew(key):
                        log.error("submission claim lost while submitting", extra={"job_ref": key})
                        return
                except MongoUnavailable as exc:
                    log.warning("claim not renewed, will try again", extra={"job_ref": key, "error": str(exc)})

        task = asyncio.create_task(heartbeat(), name=f"claim-heartbeat-{key[:16]}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def record_submitted(self, key: str, job: SubmittedJob) -> bool:
        """Store the provider's ids (retrying MongoDB: the job exists now); False if it was not ours."""
        now = self.now()
        update = {
            "$set": {
                "status": "scheduled",
                "job_id": job.job_id,
                "conversation_id": job.conversation_id,
                "submitted_at": now,
                "updated_at": now,
                "claimed_until": now,
                # The provider's callback starts a new request; the notifier continues this trace.
                "trace_context": current_traceparent(),
            },
            "$push": {"history": JobEvent(status="scheduled", at=now, job_id=job.job_id).to_document()},
        }
        result = await self._patiently(key, update)
        if result.modified_count != 1:
            log.error("provider job not recorded: the submission already has one", extra={"job_ref": key})
            return False
        return True

    async def _patiently(self, key: str, update: Document) -> UpdateResult:
        """Apply ``update`` to the unrecorded submission ``key``, retrying MongoDB for up to
        :data:`RECORD_PATIENCE_SECONDS`."""
        waited, attempt = 0.0, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                return await guarded(self._col.update_one({"_id": key, "job_id": None}, update))
            except MongoUnavailable:
                # The provider's job exists now: nothing better to do than to wait for MongoDB. Given up,
                # the claim lapses and the job is submitted again (flagged), a second job at the provider.
                waited += time.monotonic() - started  # the driver's own wait for a server counts too
                if waited >= RECORD_PATIENCE_SECONDS:
                    raise
                delay = min(0.25 * 2**attempt, 8.0)
                await self._sleep(delay)
                waited += delay

    async def release_claim(
        self, key: str, status: Literal["retrying", "rejected"], reason: str, *, maybe_submitted: bool = False
    ) -> bool:
        """Give the claim up after a failed provider call; False when it was not ours (any more).

        ``maybe_submitted``: the failure does not rule out a job at the provider; marks the document so
        that every later submission of it is flagged (never unmarked: that job may still exist).
        """
        now = self.now()
        fields: Document = {"status": status, "last_error": reason[:1000], "claimed_until": now, "updated_at": now}
        if maybe_submitted:
            fields |= {"maybe_submitted": True, "maybe_submitted_reason": reason[:300]}
        result = await guarded(
            self._col.update_one(
                {"_id": key, "claim_owner": self.owner, "status": "submitting", "job_id": None},
                {
                    "$set": fields,
                    "$push": {"history": JobEvent(status=status, at=now, reason=reason[:300]).to_document()},
                },
            )
        )
        return result.matched_count == 1


def _reading(doc: Document) -> bool:
    """A job whose audio may still be read: unfinished, or a failed submission that may have left a job; not one the
    notifier is done with (``processed_at``: given up on, its status left as it was), whose objects were otherwise
    held for ever, nothing ever reporting it again."""
    if doc.get("processed_at") is not None:
        return False
    status = doc.get("status")
    return status in _READING or (status == "retrying" and doc.get("maybe_submitted") is True)


def _earlier(doc: Document, of: MeetingGeneration) -> bool:
    """A job of a generation before ``of``'s (a number below it, as MongoDB's ``$lt`` compares)."""
    generation = doc.get("generation")
    return isinstance(generation, int | float) and not isinstance(generation, bool) and generation < of.generation


def _mix_tags(prefix: str, docs: list[Document]) -> set[str]:
    """The tags of the mixes ``docs``' jobs were submitted from: each one's own, and the one its audio's key names."""
    tags = {mix_tag(doc["input_hash"], doc["generation"]) for doc in docs
            if isinstance(doc.get("input_hash"), str) and isinstance(doc.get("generation"), int)}  # fmt: skip
    named = (tag_named(prefix, doc["object_key"]) for doc in docs if isinstance(doc.get("object_key"), str))
    return tags | {tag for tag in named if tag is not None}
