"""A worker's lease on a transcription job: taken (:meth:`LeaseHolder._claim`), renewed while a run lasts
(:meth:`LeaseHolder._lease_kept`), let go when this worker stops transcribing it (:meth:`LeaseHolder._let_go`); the
run's result stored while the lease may still be this worker's, through a MongoDB outage (:meth:`LeaseHolder._stored`).

The lease is the job document's ``owner`` and ``lease_until``; every write is a single-document update that matches
only while the job is still this worker's, so two workers never both hold one job. A renewal that finds the job taken
over stops the run (:class:`LeaseTakenOver`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.errors import HeldElsewhere, InfrastructureUnavailable, RetryableError
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import TRANSCRIPTIONS

log = logging.getLogger("zoomsymbl.transcriber")
_LET_GO_SECONDS = 5.0
_STORE_FIRST_WAIT, _STORE_LONGEST_WAIT = 1.0, 30.0
"""Waits between tries of a result's write while MongoDB is out of reach: doubling from the first to the longest."""
T = TypeVar("T")


class LeaseTakenOver(HeldElsewhere):
    """This worker's lease on a job ran out and another worker took the job over: this run stops, unstored."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"transcription {job_id!r} was taken over by another worker (this worker's lease ran out)", retry_after=30.0
        )
        self.job_id = job_id


class ResultRefused(RetryableError):
    """MongoDB refused the write of a run's result (reachable, not an outage: Unauthorized, a backend's error, a
    document it will not take). Retried within the attempt budget, from the checkpoints; then the job fails with it."""

    def __init__(self, job_id: str, error: PyMongoError) -> None:
        super().__init__(f"transcription {job_id!r} not stored: mongodb refused the write ({error_kind(error)})")
        self.job_id = job_id
        self.kind = error_kind(error)


def error_kind(error: PyMongoError) -> str:
    """``error``'s class, code and code name: never its message, which may quote the document (the transcript)."""
    code = getattr(error, "code", None)
    details = getattr(error, "details", None)
    name = details.get("codeName") if isinstance(details, dict) else None
    return " ".join(str(part) for part in (type(error).__name__, code, name) if isinstance(part, (int, str)))


class LeaseHolder:
    """The lease half of :class:`~zoomsymbl_transcriber.worker.Worker` (which provides these attributes)."""

    mongo: Mongo
    owner: str
    lease_seconds: float
    clock: Clock
    sleep: Callable[[float], Awaitable[None]]

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        return self.mongo.db[TRANSCRIPTIONS]

    async def _claim(self, job_id: str) -> bool:
        """Take the job: new, abandoned (lease run out), or left behind by a failed run of this very worker.

        A live lease of ours while no run of ours is in flight (``_running``) is what a run that raised
        leaves behind (S3 or MongoDB down, a bug; a write to release it could fail the same way). The
        owner is unique per process, so taking it back never runs the job twice; another worker's live
        lease is still respected.
        """
        now = self.clock()
        mine = {"status": "in_progress", "owner": self.owner}
        # Run out; or no lease a worker writes: none, not a date, or ending further ahead than twice this worker's
        # lease and an hour (a hand edit, a bug), which would hold the job, and this worker waiting on it, for ever.
        beyond = now + timedelta(seconds=2 * self.lease_seconds + 3600)
        over = [
            {"lease_until": {"$lt": now}},
            {"lease_until": {"$not": {"$type": "date"}}},
            {"lease_until": {"$gt": beyond}},
        ]
        abandoned = {"status": "in_progress", "$or": over}
        free = {"$or": [{"status": "scheduled"}, abandoned, mine]}
        update = {
            "$set": {
                "status": "in_progress",
                "owner": self.owner,
                "lease_until": now + timedelta(seconds=self.lease_seconds),
                "started_at": now,
            }
        }
        result = await guarded(self._jobs.update_one({"_id": job_id, **free}, update))
        # Matched, not modified: taking our own lease back within the same clock tick changes no field.
        return result.matched_count == 1

    @contextlib.asynccontextmanager
    async def _lease_kept(self, job_id: str) -> AsyncIterator[None]:
        """Renew the lease every third of its length while the block runs: one channel of a long meeting (or the
        download) may outlast ``lease_seconds``, and another worker would take the job over mid-run.

        A renewal that finds the job no longer ours (the lease ran out while renewals did not land, and another
        worker took the job over) stops the block (the channel's ffmpeg is killed, the model thread stops) and
        raises :class:`LeaseTakenOver`: two workers must not transcribe one job, nor both store it."""
        body = asyncio.current_task()
        assert body is not None
        renewing = asyncio.create_task(self._renew_lease(job_id))
        lost, inside = False, True

        def on_renewals_ended(task: asyncio.Task[None]) -> None:
            nonlocal lost
            # Returned: the lease is someone else's. Only while the block runs (a callback scheduled as it ended
            # must not cancel what comes after it).
            if inside and not task.cancelled() and task.exception() is None:
                lost = True
                body.cancel()

        renewing.add_done_callback(on_renewals_ended)
        try:
            yield
        except asyncio.CancelledError:
            # Ours alone (no shutdown's cancellation besides): the run stops as any other taken-over job.
            if lost and body.uncancel() == 0:
                # The renewal matched nothing: another worker holds the order, or the notifier failed it (overdue).
                log.warning(
                    "lease lost (taken over by another worker, or the order failed elsewhere), run stopped",
                    extra={"job_id": job_id},
                )
                raise LeaseTakenOver(job_id) from None
            raise
        finally:
            inside = False
            renewing.cancel()
            # Waited for, not awaited: the run's outcome stands, whatever ended the renewals, and a cancellation of
            # the run meanwhile is not taken for theirs.
            await asyncio.wait({renewing})
            if not renewing.cancelled() and (error := renewing.exception()) is not None:
                log.error("lease renewals failed", extra={"job_id": job_id, "error": type(error).__name__})

    async def _renew_lease(self, job_id: str) -> None:
        """Renew until cancelled; returns once a renewal finds the job no longer held by this worker."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            lease = self.clock() + timedelta(seconds=self.lease_seconds)
            try:
                result = await guarded(
                    self._jobs.update_one(
                        {"_id": job_id, "owner": self.owner, "status": "in_progress"}, {"$set": {"lease_until": lease}}
                    )
                )
            # MongoDB unreachable, or failing the write (a time limit, its backing database): the next round tries
            # again, the lease may run out meanwhile. A renewal is not the run: it must not end it.
            except (InfrastructureUnavailable, PyMongoError) as exc:
                log.warning("lease not renewed", extra={"job_id": job_id, "error": type(exc).__name__})
                continue
            if result.matched_count == 0:
                return

    async def _let_go(self, job_id: str) -> None:
        """End this worker's lease on ``job_id`` now (the service is stopping, or the run ended without storing a
        result): the next worker takes the job over at once instead of waiting the lease out. Best effort within a
        few seconds, and never raises: called while a cancellation (or another error) is on its way out, which must
        stay what it is. If MongoDB cannot be reached or refuses the write, that is logged and the lease runs out as
        it would after a crash."""
        try:
            async with asyncio.timeout(_LET_GO_SECONDS):
                await guarded(
                    self._jobs.update_one(
                        {"_id": job_id, "owner": self.owner, "status": "in_progress"},
                        {"$set": {"lease_until": self.clock()}},
                    )
                )
        # Any refusal too (Unauthorized, a backend's error): raised here, it would replace the cancellation.
        except (TimeoutError, InfrastructureUnavailable, PyMongoError) as exc:
            log.warning("lease not let go, it runs out", extra={"job_id": job_id, "error": type(exc).__name__})
        else:
            log.info("transcription interrupted, lease let go", extra={"job_id": job_id})

    async def _stored(self, job_id: str, write: Callable[[], Awaitable[T]]) -> T:
        """``write()`` of the run's result, tried again while MongoDB is out of reach (a failover, a restart), for as
        long as the lease lasts without renewals (``lease_seconds``): the result (hours of transcribed channels) is
        in this process's memory only, and an outage let out would have the whole job transcribed again. Past that
        the job may be another worker's: the outage is raised, and the consumer waits it out as before.

        Any other error MongoDB answers (a refusal: Unauthorized, a backend's error, a document it will not take) is
        not an outage and is not tried in place: :class:`ResultRefused` is raised, naming the error's kind only. The
        consumer tries the job again within its attempt budget (the channels come from the checkpoints, not the
        model), then fails it with that reason."""
        waited, wait = 0.0, _STORE_FIRST_WAIT
        while True:
            try:
                return await write()
            except InfrastructureUnavailable as exc:
                if waited + wait > self.lease_seconds:
                    raise
                extra = {"job_id": job_id, "error": str(exc), "waited": round(waited, 1), "delay": wait}
                log.warning("result not stored, mongodb out of reach: trying again", extra=extra)
            except PyMongoError as exc:
                refused = ResultRefused(job_id, exc)
                extra = {"job_id": job_id, "error": refused.kind}
                log.error("result not stored, mongodb refused the write", extra=extra)
                raise refused from None  # not chained: its message may quote the transcript
            await self.sleep(wait)
            waited, wait = waited + wait, min(2 * wait, _STORE_LONGEST_WAIT)
