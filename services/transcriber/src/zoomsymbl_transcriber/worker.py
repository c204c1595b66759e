"""One transcription job: claim it, fetch the mixed file, transcribe each channel, store, report.

The work order is the submitter's ``JobSubmitted(provider="whisper")``; the job itself is the
``transcriptions`` document the submitter wrote. Every step is idempotent: a finished job is only
reported again; a job another worker holds is retried after its lease; a crash mid-way leaves a lease
that expires, and the redelivered work order takes the job over. A run that fails here for any other
reason than the audio (an S3 or MongoDB outage, a bug) leaves its lease behind too: the retry of the
same worker takes it again at once. A run cancelled because the service stops (at any point once the job is
claimed: reading the meeting, transcribing, storing the result) ends its lease on the way out, so another worker
takes the job over at once (the model thread stops at its next segment). A channel that runs past its deadline
(:class:`ChannelDeadline`: a stalled ffmpeg, a crawling model) is stopped the same way and raises
:class:`ChannelOverdue`, a retryable error: the job is tried again within the retry budget, then failed with that
reason; so is a download of the mixed file past its deadline (:class:`DownloadOverdue`: a storage endpoint trickling
bytes) and a result's write MongoDB refuses (:class:`ResultRefused`). A worker whose lease ran out under it (renewals
that did not land) and was taken over stops its run and stores nothing (:class:`LeaseTakenOver`, waited
out like a held job). A progress write MongoDB does not take is only logged, and the run's result is written
again while MongoDB is out of reach, within the lease: an outage does not cost the channels transcribed so far.
Each channel transcribed is checkpointed (:mod:`~zoomsymbl_transcriber.checkpoints`): a later run of the same job
(an interruption, a channel overdue, an outage, a crash) transcribes only the channels not stored yet.
A job once finished keeps its outcome, whatever gives up on its message later. The
result is reported as ``JobStatusReported(via="worker")``: the notifier confirms it, exactly like a
provider's callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pymongo.errors import PyMongoError
from zoomsymbl_common.clock import Clock
from zoomsymbl_common.errors import (
    ConfigError,
    HeldElsewhere,
    InfrastructureUnavailable,
    ObjectNotFound,
    PoisonInputError,
    RetryableError,
)
from zoomsymbl_common.events import JobStatusReported, JobSubmitted, stable_id, utcnow
from zoomsymbl_common.mongo import Document, Mongo, guarded
from zoomsymbl_common.records import (
    MEETINGS,
    MalformedRecord,
    Meeting,
    Progress,
    Transcription,
    TranscriptionStatus,
    meeting_key,
)
from zoomsymbl_common.scratch import Volume, work_dir
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import meeting_key as key_segment
from zoomsymbl_whisper import ChannelUtterance, Transcriber, TranscriberError

from zoomsymbl_transcriber.channels import check_channels
from zoomsymbl_transcriber.checkpoints import Checkpoints, Source
from zoomsymbl_transcriber.deadline import ChannelDeadline, ChannelOverdue, within
from zoomsymbl_transcriber.download import DownloadDeadline, DownloadOverdue, download
from zoomsymbl_transcriber.lease import LeaseHolder, LeaseTakenOver, ResultRefused
from zoomsymbl_transcriber.progress import on_meeting
from zoomsymbl_transcriber.space import check_room
from zoomsymbl_transcriber.talk import talk_shares
from zoomsymbl_transcriber.transcript import stored_utterances

log = logging.getLogger("zoomsymbl.transcriber")
FOREIGN = "foreign"
"""The stage of a work order named by an event of another tenant or meeting: dead-lettered, the job left alone."""
SCRATCH_PREFIX = "transcription-"
"""The name of each job's folder in the scratch directory (the start-up sweep removes those nobody holds)."""
_FINISHED = ("completed", "failed")
Publish = Callable[[JobStatusReported], Awaitable[None]]


@dataclass
class Worker(LeaseHolder):
    """The transcriber's domain flow, with its collaborators injected."""

    mongo: Mongo
    store_for: Callable[[str], ObjectStore]
    transcriber: Transcriber
    publish: Publish
    scratch_dir: Path
    owner: str
    lease_seconds: float
    model_name: str
    decoding: str
    """The decoder's settings that change the words (``Transcriber.decoding``): part of each checkpoint's identity."""
    clock: Clock = utcnow
    deadline: ChannelDeadline = field(default_factory=ChannelDeadline)
    download: DownloadDeadline = field(default_factory=DownloadDeadline)
    scratch_limit: int | None = None
    """The scratch volume's size when its file system reports more (an ``emptyDir``: the node's disk)."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # The jobs this worker is transcribing right now: only these of its own leases are not up for taking.
    _running: set[str] = field(default_factory=set, init=False, repr=False)

    async def on_job_submitted(self, event: JobSubmitted) -> None:
        """Transcribe the job ``event`` announces (other providers' jobs are not ours)."""
        if event.provider != "whisper":
            return
        doc = await guarded(self._jobs.find_one({"_id": event.job_id}, {"utterances": 0}))
        if doc is None:
            raise PoisonInputError(f"no transcription {event.job_id!r}", stage="transcribe")
        try:
            job = Transcription.from_document(doc)
        except MalformedRecord as exc:
            raise PoisonInputError(str(exc), stage="transcribe") from exc
        if not of_meeting(job, event.tenant, event.meeting_uuid):
            raise PoisonInputError(
                f"transcription {event.job_id!r} is not a work order of this event's tenant and meeting", stage=FOREIGN
            )
        if job.status in ("completed", "failed"):
            await self._report(event, job.status)
            return
        if event.job_id in self._running:
            raise RetryableError(f"transcription {event.job_id!r} is already being transcribed here", retry_after=30.0)
        self._running.add(event.job_id)  # before the first await: a second delivery meanwhile sees it
        try:
            if not await self._claim(event.job_id):
                raise self._held(job)
            await self._run(event, job)
        # Wherever the run is cut (the meeting's read, a channel, the result's write): the next try needs no wait.
        except (asyncio.CancelledError, ChannelOverdue, DownloadOverdue, ResultRefused):
            await self._let_go(event.job_id)
            raise
        finally:
            self._running.discard(event.job_id)

    def _held(self, job: Transcription) -> HeldElsewhere:
        """Why the job cannot be taken: who holds it, until when (as read before the claim).

        Waited out without spending attempts (the consumer sleeps ``retry_after``, capped): the holder
        finishes the job, or it died and its lease runs out, and then this worker takes the job over.
        """
        holder = f" ({job.owner!r}, lease until {job.lease_until.isoformat()})" if job.owner and job.lease_until else ""
        left = (job.lease_until - self.clock()).total_seconds() if job.lease_until else 0.0
        return HeldElsewhere(f"transcription {job.id!r} is held by another worker{holder}", retry_after=max(left, 30.0))

    async def _run(self, event: JobSubmitted, job: Transcription) -> None:
        job_id, channels = event.job_id, job.channels
        ids = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "job_id": job_id}
        shares = talk_shares(await self._meeting(event), channels)
        started, deadline = time.monotonic(), self.deadline.seconds(job.duration_seconds)
        checkpoints = Checkpoints(self.mongo, self.owner, self.clock)
        done: dict[int, list[ChannelUtterance]] = {}
        try:
            language = self.transcriber.language_for(job.language)  # before any download: refused for good
            # A folder of its own, locked while in use: what a killed process leaves is swept at start-up.
            async with work_dir(self.scratch_dir, SCRATCH_PREFIX) as scratch, self._lease_kept(job_id):
                path, store = scratch / "audio", self.store_for(job.bucket)
                audio = await store.stat(job.object_key)
                source = Source(
                    job_id, job.object_key, audio.size, audio.etag, self.model_name, language, self.decoding
                )
                # The channels an earlier run of this job stored: only the others are transcribed (none: no download).
                done = await checkpoints.load(source, channels)
                if len(done) < channels:
                    limit = Volume(self.scratch_dir, self.scratch_limit) if self.scratch_limit else None
                    check_room(scratch, audio.size, limit)
                    await download(store, job.object_key, str(path), audio.size, self.download)
                    await check_channels(path, channels)
                for channel in (c for c in range(1, channels + 1) if c not in done):
                    model = self.transcriber
                    done[channel] = await within(deadline, model, path, channel, channels, language)
                    percent = 100.0 * sum(shares[c - 1] for c in done)
                    if await self._progress(event, job_id, percent, len(done), channels):  # the lease is ours
                        await checkpoints.save(source, channel, done[channel])
        except (TranscriberError, ObjectNotFound, ConfigError) as exc:
            # Failed for good, never retried: a language Whisper or the model cannot transcribe (UnsupportedLanguage),
            # audio the model cannot read or whose channels are not the work order's (ChannelMismatch), larger than
            # the scratch volume (AudioTooLarge), no longer in the bucket (deleted, or a lifecycle rule expired it), a
            # job naming a bucket that is not ours.
            reason = exc.message if isinstance(exc, TranscriberError) else str(exc)
            await self._finish(event, job_id, "failed", {"error": reason[:500]})
            log.warning("transcription failed", extra={**ids, "reason": reason[:300]})
            return
        found = sorted((u for c in sorted(done) for u in done[c]), key=lambda u: (u.start_seconds, u.channel))
        stored = stored_utterances(found)
        if len(stored) < len(found):
            log.warning("transcript cut to fit its document", extra={**ids, "kept": len(stored), "found": len(found)})
        fields = {"utterances": stored, "model": self.model_name}
        await self._finish(event, job_id, "completed", fields)
        log.info(
            "transcribed",
            extra={
                **ids,
                "channels": channels,
                "utterances": len(found),
                "seconds": round(time.monotonic() - started, 1),
            },
        )

    async def _meeting(self, event: JobSubmitted) -> Meeting | None:
        """The meeting (for its talk time); None when unknown or unreadable (progress then counts channels)."""
        doc = await guarded(self.mongo.db[MEETINGS].find_one(meeting_key(event.tenant, event.meeting_uuid)))
        try:
            return Meeting.from_document(doc) if doc else None
        except MalformedRecord as exc:
            log.warning("meeting unreadable, progress by channel count", extra={"error": str(exc)[:300]})
            return None

    async def _progress(self, event: JobSubmitted, job_id: str, percent: float, done: int, channels: int) -> bool:
        """Percent of the part's talk time transcribed, on the job and on the meeting; the lease renewed. True when
        the renewal matched: the job is this worker's for another ``lease_seconds`` (its checkpoint may be written).

        A write MongoDB does not take (out of reach, or failing it) is logged and the run goes on: progress is not
        the run, whose channels so far would be transcribed again; the lease renewals go on meanwhile."""
        now = self.clock()
        progress = Progress(percent=round(min(percent, 100.0), 1), channels_done=done, channels=channels, at=now)
        lease = now + timedelta(seconds=self.lease_seconds)
        job_progress = progress.model_dump(exclude={"job_id"})
        renewed = False
        try:
            result = await guarded(
                self._jobs.update_one(
                    {"_id": job_id, "owner": self.owner, "status": "in_progress"},
                    {"$set": {"progress": job_progress, "lease_until": lease}},
                )
            )
            if result.matched_count == 0:  # taken over: the meeting's progress is the new owner's to write
                raise LeaseTakenOver(job_id)
            renewed = True
            await guarded(
                self.mongo.db[MEETINGS].update_one(
                    meeting_key(event.tenant, event.meeting_uuid), on_meeting(event, progress)
                )
            )
        except (InfrastructureUnavailable, PyMongoError) as exc:
            log.warning("progress not recorded", extra={"job_id": job_id, "error": type(exc).__name__})
        return renewed

    async def give_up(self, event: JobSubmitted, stage: str, reason: str) -> None:
        """The retry budget is spent (or the input is poison): the job fails with the reason, reported.

        A job already finished keeps its outcome and that is what is reported: a give-up also comes when only
        the report could not be published (Kafka out of reach past the outage wait) after the transcript was
        stored, and a stored transcript must not become a failed meeting. A work order naming no job of its
        event's meeting (nobody's, or another tenant's or meeting's) fails and reports nothing, whichever way it
        was given up on: a retry budget or an outage wait spent before the handler's own check.
        """
        doc = await guarded(self._jobs.find_one({"_id": event.job_id}, {"status": 1, "object_key": 1}))
        if doc is None or not key_of_meeting(doc.get("object_key"), event.tenant, event.meeting_uuid):
            ids = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "job_id": event.job_id}
            log.warning("given-up work order names no job of its meeting, nothing failed", extra=ids)
            return
        update = {
            "$set": {"status": "failed", "finished_at": self.clock(), "error": f"{stage}: {reason}"[:500]},
            "$unset": {"lease_until": ""},
        }
        result = await guarded(self._jobs.update_one({"_id": event.job_id, "status": {"$nin": _FINISHED}}, update))
        await Checkpoints(self.mongo, self.owner, self.clock).drop(event.job_id)
        status: str = "failed"
        if result.matched_count == 0:
            doc = await guarded(self._jobs.find_one({"_id": event.job_id}, {"status": 1}))
            if doc is not None and doc.get("status") in _FINISHED:
                status = str(doc["status"])
        await self._report(event, status)

    async def _finish(self, event: JobSubmitted, job_id: str, status: TranscriptionStatus, fields: Document) -> None:
        """Store the run's outcome, only while the job is still this worker's (else :class:`LeaseTakenOver`)."""
        update = {"$set": {"status": status, "finished_at": self.clock(), **fields}, "$unset": {"lease_until": ""}}
        held = {"_id": job_id, "owner": self.owner, "status": "in_progress"}
        result = await self._stored(job_id, lambda: guarded(self._jobs.update_one(held, update)))
        if result.matched_count == 0:
            raise LeaseTakenOver(job_id)
        await Checkpoints(self.mongo, self.owner, self.clock).drop(job_id)  # the result holds them now
        await self._report(event, status)

    async def _report(self, event: JobSubmitted, status: str) -> None:
        await self.publish(
            JobStatusReported(
                event_id=stable_id(JobStatusReported.topic, "whisper", event.job_id, status),
                tenant=event.tenant,
                meeting_uuid=event.meeting_uuid,
                generation=event.generation,
                provider="whisper",
                job_id=event.job_id,
                reported_status=status,
                via="worker",
            )
        )


def of_meeting(job: Transcription, tenant: str, meeting_uuid: str) -> bool:
    """True when ``job``'s audio is the mixer's file of that tenant's meeting (``mixed/{tenant}/{meeting_key}.…``).

    The work order holds no tenant: its audio's key says whose it is, as the submitter made it. An event naming
    another tenant's (or meeting's) job id must not move that job, nor write its progress onto its own meeting.
    """
    return key_of_meeting(job.object_key, tenant, meeting_uuid)


def key_of_meeting(object_key: object, tenant: str, meeting_uuid: str) -> bool:
    """True when ``object_key`` (as stored: maybe not even a string) is under that meeting's mixed files."""
    return isinstance(object_key, str) and object_key.startswith(f"mixed/{tenant}/{key_segment(meeting_uuid)}.")
