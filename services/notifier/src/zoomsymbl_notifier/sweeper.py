"""The sweeper: a periodic task that makes sure no lost callback or failed send strands a meeting.

Each round it (1) asks the provider about every job that has not finished here and has had no news
for ``sweeper_stale_after_seconds`` and publishes what it learns as ``JobStatusReported(via="sweeper")``
(the same path a callback takes), (2) retries e-mails that are due in the outbox, each on its own: one
e-mail's trouble never stops the others, and (3) counts the meetings no service moves any more
(:mod:`~zoomsymbl_notifier.stalled`), for the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from zoomsymbl_common.background import raise_if_cancelled
from zoomsymbl_common.errors import InfrastructureUnavailable, ZoomsymblError
from zoomsymbl_common.events import JobStatusReported, stable_id, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.tenants import ran_as

from zoomsymbl_notifier import overdue
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_notifier.stalled import StalledMeetings
from zoomsymbl_notifier.statuses import is_terminal

log = logging.getLogger("zoomsymbl.notifier.sweeper")


@dataclass(frozen=True)
class SweepReport:
    """What one round did (for logs and tests)."""

    polled: int = 0
    reported: int = 0
    mails_tried: int = 0


MAX_BACKOFF = 8  # stale periods between polls of a job without news, at most


class Sweeper:
    """Polls stale jobs and retries due e-mails, every ``sweeper_interval_seconds``."""

    def __init__(self, pipeline: Pipeline, stalled: StalledMeetings | None = None) -> None:
        self._pipeline = pipeline
        self._settings = pipeline.settings
        self._stalled = stalled

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop`` is set; a round in progress is finished, never cut off mid-send."""
        while not stop.is_set():
            try:
                await self.sweep()
            except ZoomsymblError as exc:
                log.warning("sweep failed", extra={"error": str(exc)})
            except Exception:
                # The sweeper is the safety net for lost callbacks: an unexpected error is logged
                # loudly, and the loop must live on to try again next round.
                log.exception("sweep crashed")
            raise_if_cancelled()  # a cancellation that pymongo dropped during the last round, before the next wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.sweeper_interval_seconds):
                    await stop.wait()

    async def sweep(self) -> SweepReport:
        """One round: stale jobs first, then the outbox."""
        stale = await self._pipeline.jobs.stale(
            timedelta(seconds=self._settings.sweeper_stale_after_seconds), self._settings.sweeper_batch_size
        )
        reported = 0
        for job in stale:
            reported += int(await self._poll(job))
        due = await self._pipeline.outbox.due(self._settings.sweeper_batch_size)
        for key in due:
            await self._deliver(key)
        if self._stalled is not None:
            await self._stalled.count(utcnow())
        if stale or due:
            log.info("sweep done", extra={"polled": len(stale), "reported": reported, "mails_tried": len(due)})
        return SweepReport(polled=len(stale), reported=reported, mails_tried=len(due))

    async def _deliver(self, key: MailKey) -> None:
        """Retry one due e-mail; its own trouble is logged and never costs the others of the round.

        An outage of MongoDB (or Kafka) ends the round: every other e-mail would wait for it the same way.
        """
        try:
            await self._pipeline.deliver(key)
        except InfrastructureUnavailable:
            raise
        except ZoomsymblError as exc:
            log.warning(
                "due e-mail not retried, will try again", extra={**_mail_ids(key), "error": scrub(str(exc), 500)}
            )
        except Exception as exc:
            # A bug on one e-mail's data: logged loudly, with a scrubbed reason, and the round goes on.
            reason = scrub(f"{type(exc).__name__}: {exc}", 500)
            log.exception("due e-mail crashed its retry", extra={**_mail_ids(key), "error": reason})

    async def _poll(self, job: JobRecord) -> bool:
        """Ask the provider about ``job``; publish a report when it progressed or has work left here."""
        # Touched first, so a job that cannot be polled now waits a full stale period before the next try,
        # and each poll without news doubles the wait (up to MAX_BACKOFF periods): a report still queued
        # behind a lagging consumer is not followed by ever more reports of the same job.
        stale = timedelta(seconds=self._settings.sweeper_stale_after_seconds)
        await self._pipeline.jobs.touch(job, utcnow(), stale * (min(2**job.sweeps, MAX_BACKOFF) - 1))
        tenant = self._pipeline.tenants.get(job.tenant)
        if tenant is None:
            log.warning("stale job of unknown tenant", extra={"tenant": job.tenant, "job_id": job.job_id})
            return False
        try:
            state = await self._pipeline.provider_for(ran_as(tenant, job.provider)).job_status(job.job_id)
            state = overdue.judged(state, job, self._settings.job_give_up_after_seconds, utcnow())  # reported then
            if state.status == job.status and not is_terminal(state.status):
                return False
            await self._pipeline.publish(_report(job, state.status))
        except ZoomsymblError as exc:
            # One job's trouble (provider down, job unknown there, Kafka busy) must not stop the round.
            log.warning("stale job not re-driven, will poll again", extra={"job_id": job.job_id, "error": str(exc)})
            return False
        return True


def _mail_ids(key: MailKey) -> dict[str, object]:
    return {"tenant": key.tenant, "meeting_uuid": key.meeting_uuid, "generation": key.generation, "kind": key.kind}


def _report(job: JobRecord, status: str) -> JobStatusReported:
    return JobStatusReported(
        event_id=stable_id("sweeper", job.provider, job.job_id, status, utcnow().isoformat()),
        tenant=job.tenant,
        meeting_uuid=job.meeting_uuid,
        generation=job.generation,
        provider=job.provider,
        job_id=job.job_id,
        reported_status=status,
        via="sweeper",
    )
