"""The Kafka side of the transcriber: ``provider.job-submitted.v1`` (whisper jobs) and its give-up path.

Giving up marks the transcription failed and reports it, so the notifier fails the meeting with the
reason and tells the host, exactly as after a provider's failed job; then the message is dead-lettered.

A job runs as long as its channels take (each within its deadline, their number and length the work order's),
longer than any poll interval fixed in advance: past the poll deadline its message is given back and polled
again while the job goes on (:mod:`zoomsymbl_common.poll_deadline`), so Kafka never hands it to another replica
for being slow, and the job is neither started over nor cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from faststream.kafka import KafkaBroker
from zoomsymbl_common.events import Event, JobSubmitted
from zoomsymbl_common.kafka import Consumer
from zoomsymbl_common.poll_deadline import PollDeadline, held_subscriber

from zoomsymbl_transcriber.worker import FOREIGN

log = logging.getLogger("zoomsymbl.transcriber.handlers")
GROUP_ID = "zoomsymbl-transcriber"
Handler = Callable[[JobSubmitted], Awaitable[None]]


class Failer(Protocol):
    """Where a given-up job is recorded failed and reported (``Worker.give_up``)."""

    async def give_up(self, event: JobSubmitted, stage: str, reason: str) -> None:
        """Record ``event``'s job failed with the reason and report it."""
        ...


def register_subscribers(
    broker: KafkaBroker, consumer: Consumer, worker: Failer, on_job_submitted: Handler, *, max_poll_interval_ms: int
) -> PollDeadline:
    """Subscribe to ``provider.job-submitted.v1``: one job at a time, offset committed after the work.

    The :class:`PollDeadline` returned holds the jobs of messages given back at their poll deadline: close it
    once the broker has stopped.
    """

    async def give_up(event: Event | None, stage: str, reason: str) -> None:
        # A foreign work order (another tenant's or meeting's job id) is only dead-lettered: failing the job
        # it names would let any event fail someone else's transcription.
        if isinstance(event, JobSubmitted) and event.provider == "whisper" and stage != FOREIGN:
            await worker.give_up(event, stage, reason)
        else:
            log.error("job-submitted message dead-lettered", extra={"stage": stage, "reason": reason})

    return held_subscriber(
        broker, consumer, JobSubmitted, on_job_submitted, give_up,
        group=GROUP_ID, max_poll_interval_ms=max_poll_interval_ms, max_poll_records=1,
    )  # fmt: skip
