"""The Kafka side of the notifier: the ``provider.job-status.v1``, ``meeting.failed.v1`` and
``zoom.reconciliation-completed.v1`` consumers.

A message's work has no bound its poll interval could be sized to (a provider's transcript in pages, the
consumer policy's retries and waits for 429s and outages): past the poll deadline the message is given back
and polled again while the work goes on (:mod:`zoomsymbl_common.poll_deadline`), so Kafka never hands it to
another consumer for being slow and the work is neither started twice nor cut short.
"""

from __future__ import annotations

import logging
from functools import partial

from faststream.kafka import KafkaBroker
from zoomsymbl_common.consumer import OUTAGE_GIVE_UP
from zoomsymbl_common.errors import PoisonInputError
from zoomsymbl_common.events import Event, JobStatusReported, MeetingFailed, ReconciliationCompleted
from zoomsymbl_common.kafka import Consumer
from zoomsymbl_common.poll_deadline import PollDeadline, held_subscriber

from zoomsymbl_notifier.digest import Digests
from zoomsymbl_notifier.jobs import is_finished
from zoomsymbl_notifier.outbox import MailKey
from zoomsymbl_notifier.pipeline import Pipeline, UnknownJob

log = logging.getLogger("zoomsymbl.notifier.handlers")
GROUP_ID = "zoomsymbl-notifier"
# Its own group (under the topic prefix): failure notices never wait for a rebalance of job statuses.
FAILURES_GROUP_ID = "zoomsymbl-notifier-failures"
# And one for the reconciliation digests (a few a day per tenant).
DIGESTS_GROUP_ID = "zoomsymbl-notifier-digests"
# Give-ups that must not fail the meeting: a job we do not know is not one of our meetings, and
# exhausted retries (provider or our servers down) are re-driven by the sweeper later...
_NOT_THE_MEETINGS_FAULT = frozenset({"lookup", "retry", "parse"})
# ...but only so often (Settings.give_ups_before_failing): each sweep reports the job under a new event
# id, with a fresh budget, so a fault that repeats every time (a bug on this meeting's data, a provider
# failing one conversation for good) would cost provider calls and dead letters forever, the host
# hearing nothing. The sweeper reports a job at least every 8 stale periods (sweeper.MAX_BACKOFF): the
# meeting fails within about 8 stale periods per give-up the setting allows.
# How often a job-status consumer must poll: an attempt (the insights engine's deadline, EngineConfig.deadline_seconds,
# 15 min, plus the provider's transcript, storing and the e-mail's hand-over to the outbox) mostly fits one poll
# deadline; what does not (retries, waits) goes on while its message is given back and polled again.
JOB_STATUS_POLL_INTERVAL_MS = 30 * 60 * 1000
# The failure notices' and the digests' consumers: aiokafka's default; an e-mail each, handed to the outbox.
POLL_INTERVAL_MS = 5 * 60 * 1000


async def on_job_status_reported(pipeline: Pipeline, event: JobStatusReported) -> None:
    """Confirm the reported status with the provider and act on it (idempotent).

    A job already finished here (final status, every step done; or given up, its meeting failed) is
    left alone: no status can replace a final one, what may still be pending (an e-mail waiting for
    SMTP) is the outbox sweep's, and a given-up job's meeting told its host it failed. A redelivered,
    replayed or late report then costs one read.
    """
    job = await pipeline.jobs.by_provider_id(event.provider, event.job_id)
    if job is None:
        raise UnknownJob(f"no {event.provider} job {event.job_id!r} is recorded")
    if (job.tenant, job.meeting_uuid) != (event.tenant, event.meeting_uuid):
        raise UnknownJob(f"job {event.job_id!r} does not belong to meeting {event.meeting_uuid!r}")
    if is_finished(job):
        log.info(
            "job already finished, report ignored",
            extra={"tenant": job.tenant, "meeting_uuid": job.meeting_uuid, "job_id": job.job_id, "via": event.via},
        )
        return
    await pipeline.confirm_and_apply(job, event.via)


async def on_give_up(pipeline: Pipeline, event: Event | None, stage: str, reason: str) -> None:
    """Poison input fails the meeting (with a notice to the host), and so do retries exhausted once
    too often (``give_ups_before_failing``), when the job is of the submission its meeting takes
    (:meth:`~zoomsymbl_notifier.pipeline.Pipeline.fail_part`); other give-ups only log."""
    if isinstance(event, JobStatusReported) and stage == "retry" and OUTAGE_GIVE_UP not in reason:
        await _retries_exhausted(pipeline, event, reason)
        return
    if not isinstance(event, JobStatusReported) or stage in _NOT_THE_MEETINGS_FAULT:
        log.error("job status message given up", extra={"stage": stage, "reason": reason})
        return
    job = await pipeline.jobs.by_provider_id(event.provider, event.job_id)
    tenant = pipeline.tenants.get(event.tenant)
    if job is None or tenant is None:
        return
    await pipeline.fail_part(job, tenant, stage, reason)


async def _retries_exhausted(pipeline: Pipeline, event: JobStatusReported, reason: str) -> None:
    """Count the give-up on ``event``'s job; at ``give_ups_before_failing``, fail its meeting (``fail_part``)."""
    job = await pipeline.jobs.by_provider_id(event.provider, event.job_id)
    tenant = pipeline.tenants.get(event.tenant)
    ids = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "job_id": event.job_id}
    if job is None or tenant is None or (job.tenant, job.meeting_uuid) != (event.tenant, event.meeting_uuid):
        log.error("job status message given up", extra={**ids, "stage": "retry", "reason": reason})
        return
    if is_finished(job):  # finished by another report meanwhile, or given up already: nothing is stuck
        return
    give_ups = await pipeline.jobs.count_give_up(job)
    if give_ups < pipeline.settings.give_ups_before_failing:
        log.error("job status message given up, the sweeper reports the job again", extra={**ids, "give_ups": give_ups})
        return
    if await pipeline.outbox.exists(MailKey(job.tenant, job.meeting_uuid, job.generation, "report")):
        # The report is recorded (sent, or the outbox sends it): a failure notice would be a second e-mail.
        log.error("job given up after its meeting's report, not failed", extra={**ids, "give_ups": give_ups})
        await pipeline.jobs.mark(job, "processed_at")  # no more sweeps of it: the sweeper skips processed jobs
        return
    # Marked processed too (no more sweeps), unless its meeting may still take another submission: swept again then.
    await pipeline.fail_part(job, tenant, "retry", f"{give_ups} rounds of retries failed; the last: {reason}")


async def on_meeting_failed(pipeline: Pipeline, event: MeetingFailed) -> None:
    """Send the host the failure notice of a meeting another service gave up on (once)."""
    tenant = pipeline.tenants.get(event.tenant)
    if tenant is None:
        raise PoisonInputError(f"meeting failure of unknown tenant {event.tenant!r}", stage="lookup")
    await pipeline.on_meeting_failed(event, tenant)


async def on_failure_given_up(event: Event | None, stage: str, reason: str) -> None:
    """The meeting is already failed (by the service that published the event): only log."""
    ids = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid} if event else {}
    log.error("meeting failure message given up, no notice sent", extra={**ids, "stage": stage, "reason": reason})


async def on_digest_given_up(event: Event | None, stage: str, reason: str) -> None:
    """No digest for that window (the records stay; ``zoomsymbl status --failed`` lists them): only log."""
    ids = {"tenant": event.tenant, "window": event.meeting_uuid} if event else {}
    log.error("reconciliation digest given up", extra={**ids, "stage": stage, "reason": reason})


def register_subscribers(
    broker: KafkaBroker,
    consumer: Consumer,
    pipeline: Pipeline,
    session_timeout_ms: int = 10_000,
    *,
    concurrent_jobs: int = 1,
) -> list[PollDeadline]:
    """Subscribe the notifier to ``provider.job-status.v1`` and ``meeting.failed.v1`` under the shared policy.

    Above one ``concurrent_jobs``, FastStream runs one consumer per partition of the job-status topic (up to
    that many) in the group: meetings on different partitions are handled at once, each meeting's statuses
    (its key's partition) still in order, and the outbox keeps the one e-mail per meeting whatever runs at once.
    The :class:`PollDeadline` of each subscriber is returned: close them once the broker has stopped.
    """
    jobs = partial(on_job_status_reported, pipeline)
    statuses = held_subscriber(
        broker, consumer, JobStatusReported, jobs, partial(on_give_up, pipeline), group=GROUP_ID,
        max_poll_interval_ms=JOB_STATUS_POLL_INTERVAL_MS, max_workers=concurrent_jobs,
        session_timeout_ms=session_timeout_ms,
    )  # fmt: skip
    failed = partial(on_meeting_failed, pipeline)
    failures = held_subscriber(
        broker, consumer, MeetingFailed, failed, on_failure_given_up, group=FAILURES_GROUP_ID,
        max_poll_interval_ms=POLL_INTERVAL_MS, session_timeout_ms=session_timeout_ms,
    )  # fmt: skip
    return [statuses, failures]


def register_digests(
    broker: KafkaBroker, consumer: Consumer, digests: Digests, session_timeout_ms: int = 10_000
) -> PollDeadline:
    """Subscribe the reconciliation digests to ``zoom.reconciliation-completed.v1`` under the shared policy."""
    return held_subscriber(
        broker, consumer, ReconciliationCompleted, digests.on_reconciliation, on_digest_given_up,
        group=DIGESTS_GROUP_ID, max_poll_interval_ms=POLL_INTERVAL_MS, session_timeout_ms=session_timeout_ms,
    )  # fmt: skip
