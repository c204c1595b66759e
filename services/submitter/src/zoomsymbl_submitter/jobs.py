"""The ``jobs`` collection as the submitter writes it: a claim before the provider call, the ids after.

A submission is claimed by inserting its document (``_id`` = ``idempotency_key`` = ``job_ref``, unique)
with ``status: "submitting"`` and a short claim lease that its owner renews while the provider call
runs (:meth:`JobStore.kept_alive`), so a dead owner's claim is free within one lease, not after the
longest a submission may take. Then the provider is called, then ``job_id``/``conversation_id`` are
set with ``status: "scheduled"``,
and only then is the Kafka offset committed. A redelivery therefore finds either the finished job
(publish again, submit nothing), a live claim (another replica is at it: wait), a failed attempt
(``retrying``: no job exists, claim it again), a rejection (``rejected``: fail the same way), or an
expired ``submitting`` claim: the owner died mid-submit. Whether the provider had accepted that
submission cannot be asked (neither API lists jobs by name), so it is submitted once more and the
document records ``resubmitted_after_crash``. That window (provider answered, process died before
the ids were written) is the only way a duplicate job can arise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import JOBS, Document, Mongo, guarded
from zoomsymbl_common.providers.base import SubmittedJob
from zoomsymbl_common.telemetry import current_traceparent

log = logging.getLogger("zoomsymbl.submitter.jobs")
# Attempt markers ``{job_ref}#{n}`` (only ``_id``): who may retry a submission after its first attempt.
JOB_CLAIMS = "job_claims"
ClaimOutcome = Literal["claimed", "free", "busy", "done", "rejected"]


@dataclass(frozen=True)
class Claim:
    """What looking at (or inserting) a submission's document found."""

    outcome: ClaimOutcome
    doc: Document
    wait_seconds: float = 0.0
    resubmission: bool = False


def inspect(doc: Document, now: datetime | None = None) -> Claim:
    """What an existing submission document means for a worker that wants to submit. Pure.

    ``done``: the job exists; ``rejected``: the provider refused the input; ``busy``: a live claim
    (wait ``wait_seconds``); ``free``: no job and no live claim (a failed attempt, or a dead owner).
    """
    moment = now or utcnow()
    if doc.get("job_id"):
        return Claim("done", doc)
    status = doc.get("status")
    if status == "rejected":
        return Claim("rejected", doc)
    until = doc.get("claimed_until")
    if status == "submitting" and until is not None and until > moment:
        return Claim("busy", doc, (until - moment).total_seconds())
    return Claim("free", doc)


def _entry(status: str, **extra: Any) -> Document:
    return {"status": status, "at": utcnow(), **extra}


class JobStore:
    """Claims, outcomes and look-ups of submissions."""

    def __init__(self, mongo: Mongo, owner: str, claim_seconds: float) -> None:
        self._col: AsyncCollection[Document] = mongo.db[JOBS]
        self._claims: AsyncCollection[Document] = mongo.db[JOB_CLAIMS]
        self.owner = owner
        self._claim = timedelta(seconds=claim_seconds)

    async def get(self, key: str) -> Document | None:
        """The submission ``key``, if any."""
        return await guarded(self._col.find_one({"_id": key}))

    async def claim(self, key: str, fields: Document) -> Claim:
        """Insert the submission as ours, or take over a free one; else report what its document says."""
        now = utcnow()
        doc: Document = {
            **fields,
            "_id": key,
            "idempotency_key": key,
            "job_ref": key,
            "status": "submitting",
            "job_id": None,
            "conversation_id": None,
            "claim_owner": self.owner,
            "claimed_until": now + self._claim,
            "submit_attempts": 1,
            "created_at": now,
            "updated_at": now,
            "history": [_entry("submitting", owner=self.owner)],
        }
        try:
            await guarded(self._col.insert_one(doc))
            return Claim("claimed", doc)
        except DuplicateKeyError:
            pass
        existing = await self.get(key)
        if existing is None:  # deleted by an operator between the two calls
            return Claim("busy", {}, 0.1)
        found = inspect(existing)
        if found.outcome != "free":
            return found
        return await self._take_over(existing, crashed=existing.get("status") == "submitting")

    async def _take_over(self, doc: Document, crashed: bool) -> Claim:
        """Claim a submission whose previous attempt failed or whose owner vanished.

        The attempt number is claimed by inserting ``{key}#{attempt}`` into ``job_claims``: the
        insert is what a unique key makes atomic (a conditional update is not, on FerretDB), so
        exactly one replica wins each attempt.
        """
        now = utcnow()
        attempt = int(doc.get("submit_attempts") or 1) + 1
        try:
            await guarded(self._claims.insert_one({"_id": f"{doc['_id']}#{attempt}", "owner": self.owner, "at": now}))
        except DuplicateKeyError:
            return Claim("busy", doc, 0.05)  # another replica took this attempt: look again
        fields: Document = {
            "status": "submitting",
            "claim_owner": self.owner,
            "claimed_until": now + self._claim,
            "submit_attempts": attempt,
            "updated_at": now,
        }
        if crashed:
            fields["resubmitted_after_crash"] = True
            log.warning("resubmitting after a crash mid-submit", extra={"job_ref": doc["_id"], "attempt": attempt})
        entry = _entry("submitting", owner=self.owner, after_crash=crashed)
        await guarded(self._col.update_one({"_id": doc["_id"]}, {"$set": fields, "$push": {"history": entry}}))
        return Claim("claimed", {**doc, **fields}, resubmission=crashed)

    async def renew(self, key: str) -> bool:
        """Extend our live claim on ``key`` by one lease; False when it is no longer ours."""
        now = utcnow()
        result = await guarded(
            self._col.update_one(
                {"_id": key, "claim_owner": self.owner, "status": "submitting", "job_id": None},
                {"$set": {"claimed_until": now + self._claim}},
            )
        )
        return result.matched_count == 1

    @contextlib.asynccontextmanager
    async def kept_alive(self, key: str) -> AsyncIterator[None]:
        """Renew the claim on ``key`` every third of a lease while the body runs."""

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self._claim.total_seconds() / 3)
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
        now = utcnow()
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
            "$push": {"history": _entry("scheduled", job_id=job.job_id)},
        }
        for attempt in range(1, 9):
            try:
                result = await guarded(self._col.update_one({"_id": key, "job_id": None}, update))
                break
            except MongoUnavailable:
                if attempt == 8:
                    raise
                await asyncio.sleep(min(0.25 * 2**attempt, 8.0))
        if result.modified_count != 1:
            log.error("provider job not recorded: the submission already has one", extra={"job_ref": key})
            return False
        return True

    async def release_claim(self, key: str, status: Literal["retrying", "rejected"], reason: str) -> None:
        """Give the claim up after a failure that left no job at the provider."""
        now = utcnow()
        await guarded(
            self._col.update_one(
                {"_id": key, "claim_owner": self.owner, "status": "submitting", "job_id": None},
                {
                    "$set": {"status": status, "last_error": reason[:1000], "claimed_until": now, "updated_at": now},
                    "$push": {"history": _entry(status, reason=reason[:300])},
                },
            )
        )
