"""The Kafka side of the submitter: the ``audio.mixed.v1`` consumer and its give-up path.

Giving up marks the meeting failed and publishes ``MeetingFailed`` (the notifier tells the host);
both happen before the consumer dead-letters the event and commits its offset, so a crash or a
Kafka outage in between redelivers the event and repeats them (the notifier e-mails once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final, Protocol

from faststream.kafka import KafkaBroker
from zoomsymbl_common.events import AudioMixed, Event, MeetingFailed
from zoomsymbl_common.kafka import Consumer
from zoomsymbl_common.poll_deadline import PollDeadline, held_subscriber

log = logging.getLogger("zoomsymbl.submitter.handlers")
SERVICE: Final = "submitter"
GROUP_ID = "zoomsymbl-submitter"
Handler = Callable[[AudioMixed], Awaitable[None]]
PublishFailure = Callable[[MeetingFailed], Awaitable[None]]


class FailureRecorder(Protocol):
    """Where a given-up meeting is marked failed (``MeetingStore``)."""

    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        """Mark the meeting failed; True if it is now failed by the submitter."""
        ...


async def on_give_up(
    meetings: FailureRecorder, publish: PublishFailure, event: Event | None, stage: str, reason: str
) -> None:
    """Mark the meeting failed with the stage and the reason and announce it (the message goes to the DLQ)."""
    if not isinstance(event, AudioMixed):
        log.error("unparseable audio.mixed message dead-lettered", extra={"stage": stage, "reason": reason})
        return
    moved = await meetings.mark_failed(event, stage, reason)
    log.error(
        "submission given up",
        extra={"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "stage": stage, "reason": reason,
               "meeting_marked_failed": moved},
    )  # fmt: skip
    if moved:  # not when the meeting completed or another service failed it (and told the host)
        await publish(MeetingFailed.of(event, SERVICE, stage, reason))


def register_subscribers(
    broker: KafkaBroker,
    consumer: Consumer,
    on_audio_mixed: Handler,
    meetings: FailureRecorder,
    *,
    publish_failure: PublishFailure,
    max_poll_interval_ms: int,
) -> PollDeadline:
    """Subscribe to ``audio.mixed.v1``: one message at a time per consumer, offset committed after the work.

    ``publish_failure`` must return only once Kafka acknowledged the event (``publish_event``). The
    :class:`PollDeadline` returned holds the work of messages given back at their poll deadline: close it
    once the broker has stopped.
    """
    # A meeting's work has no bound a poll interval could be sized to (a wait for a limiter slot, parts not
    # known before the split, the policy's retries): past the poll deadline its message is given back and
    # polled again while the work goes on, so Kafka never hands it to another replica for being slow.
    give_up = partial(on_give_up, meetings, publish_failure)
    return held_subscriber(
        broker, consumer, AudioMixed, on_audio_mixed, give_up,
        group=GROUP_ID, max_poll_interval_ms=max_poll_interval_ms, max_poll_records=1,
    )  # fmt: skip
