"""Claiming a submission in the ``jobs`` collection before its provider call (:class:`Claims`, the base of
:class:`~zoomsymbl_submitter.jobs.JobStore`).

A submission is claimed by inserting its document (``_id`` = ``idempotency_key`` = ``job_ref``, unique)
with ``status: "submitting"`` and a claim lease. A worker whose insert finds the document learns
from it what to do (:func:`inspect`); a free one (a failed attempt, or a dead owner's expired
claim) is taken over once per attempt number: the attempt's marker in ``job_claims`` is inserted
under a unique key, so exactly one replica wins it. A takeover after a crash, or after an attempt
the provider may have accepted (``maybe_submitted``), is flagged ``resubmitted_after_crash``. One exception: a
takeover by the process that made the claim and never handed it to the provider (MongoDB failed between the claim and
the provider call, so the claim was neither used nor released) is no resubmission; only that process knows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import JOB_CLAIMS, JOBS, Job, JobClaim, JobEvent

log = logging.getLogger("zoomsymbl.submitter.jobs")
ClaimOutcome = Literal["claimed", "free", "busy", "done", "rejected"]
# Markers of takeovers whose owner died before writing them into the job, skipped before giving up.
_MAX_ORPHANED_MARKERS = 20
# Claims of this process not handed to the provider, remembered at most: the oldest are forgotten (their takeover is
# then flagged, as any other process's would be).
_MAX_UNCALLED = 10_000


@dataclass(frozen=True)
class Claim:
    """What looking at (or inserting) a submission's document found (``job``: None when it vanished)."""

    outcome: ClaimOutcome
    job: Job | None
    wait_seconds: float = 0.0
    resubmission: bool = False


def inspect(job: Job, now: datetime) -> Claim:
    """What an existing submission document means for a worker that wants to submit. Pure.

    ``done``: the job exists; ``rejected``: the provider refused the input; ``busy``: a live claim
    (wait ``wait_seconds``); ``free``: no job and no live claim (a failed attempt, or a dead owner).
    """
    if job.job_id:
        return Claim("done", job)
    if job.status == "rejected":
        return Claim("rejected", job)
    until = job.claimed_until
    if job.status == "submitting" and until is not None and until > now:
        return Claim("busy", job, (until - now).total_seconds())
    return Claim("free", job)


def earlier_job_reason(doc: Document) -> str | None:
    """Why an earlier, failed attempt of the stored submission ``doc`` may have created a job; None if none did."""
    if doc.get("maybe_submitted") is not True:
        return None
    return str(doc.get("maybe_submitted_reason") or "unknown")


class Claims:
    """Claims of submissions, and takeovers of free ones; leases measured on ``clock``."""

    def __init__(self, mongo: Mongo, owner: str, claim_seconds: float, *, clock: Clock) -> None:
        self._col: AsyncCollection[Document] = mongo.db[JOBS]
        self._claims: AsyncCollection[Document] = mongo.db[JOB_CLAIMS]
        self.owner = owner
        self.now = clock
        self._claim = timedelta(seconds=claim_seconds)
        # Submissions this process claimed and has not handed to the provider: in memory only, as only this process
        # can know it (its owner id is its own; a restarted process has another).
        self._uncalled: dict[str, None] = {}

    def calling(self, key: str) -> None:
        """Note that submission ``key``'s provider call starts: from now on a takeover of its claim may duplicate it."""
        self._uncalled.pop(key, None)

    def _claimed(self, key: str) -> None:
        self._uncalled[key] = None
        if len(self._uncalled) > _MAX_UNCALLED:
            del self._uncalled[next(iter(self._uncalled))]

    def _never_called(self, job: Job) -> bool:
        """``job``'s claim is this process's and was never handed to the provider."""
        return job.claim_owner == self.owner and job.id in self._uncalled

    async def claim(self, key: str, fields: Document) -> Claim:
        """Insert the submission as ours, or take over a free one; else report what its document says.

        ``fields``: the submission's facts (:func:`zoomsymbl_submitter.plan.job_fields`).
        """
        job = self._new_claim(key, fields, self.now())
        doc = {**job.to_document(), "history": [entry.to_document() for entry in job.history]}
        try:
            await guarded(self._col.insert_one(doc))
        except DuplicateKeyError:
            pass
        else:
            self._claimed(key)
            return Claim("claimed", job)
        # Read raw: ``maybe_submitted`` is the submitter's own bookkeeping, not a field of the shared model.
        stored = await guarded(self._col.find_one({"_id": key}))
        if stored is None:  # deleted by an operator between the two calls
            return Claim("busy", None, 0.1)
        existing = Job.from_document(stored)
        found = inspect(existing, self.now())
        if found.outcome != "free":
            return found
        crashed = existing.status == "submitting" and not self._never_called(existing)
        taken = await self._take_over(existing, crashed=crashed, maybe_submitted=earlier_job_reason(stored))
        if taken.outcome == "claimed":
            self._claimed(key)
        return taken

    def _new_claim(self, key: str, fields: Document, now: datetime) -> Job:
        """The document of submission ``key`` as first claimed by us at ``now``."""
        return Job.model_validate(
            {
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
                "history": [JobEvent(status="submitting", at=now, owner=self.owner)],
            }
        )

    async def _take_over(self, job: Job, crashed: bool, maybe_submitted: str | None = None) -> Claim:
        """Claim a submission whose previous attempt failed or whose owner vanished.

        The attempt number is claimed by inserting ``{key}#{attempt}`` into ``job_claims``: the
        insert is what a unique key makes atomic (a conditional update is not, on FerretDB), so
        exactly one replica wins each attempt. ``maybe_submitted``: why an earlier attempt may have
        created a job although it failed (None: none did); like a crash, it flags this submission.
        """
        now = self.now()
        attempt = await self._claim_attempt(job, now)
        if attempt is None:
            return Claim("busy", job, 0.05)  # another replica took this attempt: look again
        fields: Document = {
            "status": "submitting",
            "claim_owner": self.owner,
            "claimed_until": now + self._claim,
            "submit_attempts": attempt,
            "updated_at": now,
        }
        resubmission = crashed or maybe_submitted is not None
        if resubmission:
            # The flag the reliability suite (and an operator) accepts a second provider job for.
            fields["resubmitted_after_crash"] = True
        if crashed:
            log.warning("resubmitting after a crash mid-submit", extra={"job_ref": job.id, "attempt": attempt})
        if maybe_submitted is not None:
            log.warning(
                "resubmitting after an attempt the provider may have accepted",
                extra={"job_ref": job.id, "attempt": attempt, "reason": maybe_submitted},
            )
        why = f"an earlier attempt may have created a job: {maybe_submitted}" if maybe_submitted else None
        entry = JobEvent(status="submitting", at=now, owner=self.owner, after_crash=crashed, reason=why)
        # Only if the job is still as read: a read older than a lease (a stalled replica) may be of a job
        # taken over and submitted since, whose marker this one merely outlived.
        as_read = {"_id": job.id, "status": job.status, "submit_attempts": job.submit_attempts, "job_id": None}
        update = {"$set": fields, "$push": {"history": entry.to_document()}}
        if (await guarded(self._col.update_one(as_read, update))).matched_count != 1:
            return Claim("busy", job, 0.05)
        return Claim("claimed", job.model_copy(update=fields), resubmission=resubmission)

    async def _claim_attempt(self, job: Job, now: datetime) -> int | None:
        """Insert the marker of the next attempt of ``job``, or of a later one past markers whose owner died
        before writing them into the job (older than a lease); None while a live marker is someone else's."""
        first = job.submit_attempts + 1
        for attempt in range(first, first + _MAX_ORPHANED_MARKERS):
            marker = JobClaim(id=JobClaim.id_of(job.id, attempt), owner=self.owner, at=now)
            try:
                await guarded(self._claims.insert_one(marker.to_document()))
            except DuplicateKeyError:
                held = await guarded(self._claims.find_one({"_id": marker.id}))
                if held is None or JobClaim.from_document(held).at + self._claim > now:
                    return None
                continue
            return attempt
        log.error("too many orphaned submission markers", extra={"job_ref": job.id, "attempt": first})
        return None
