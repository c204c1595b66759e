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

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from zoomsymbl_common.events import AudioMixed, Event, MeetingFailed
from zoomsymbl_common.kafka import Consumer, topic_name
from zoomsymbl_common.poll_deadline import PollDeadline

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
    topic = topic_name(consumer.infra, AudioMixed.topic)
    give_up = partial(on_give_up, meetings, publish_failure)
    # The topic prefix isolates the group too: deployments (or tests) sharing one Kafka cluster under
    # different prefixes must not rebalance each other's consumers. Without a prefix it is GROUP_ID.
    group_id = topic_name(consumer.infra, GROUP_ID)

    # A meeting's work has no bound a poll interval could be sized to (a wait for a limiter slot, parts not
    # known before the split, the policy's retries): past the poll deadline its message is given back and
    # polled again while the work goes on, so Kafka never hands it to another replica for being slow.
    deadline = PollDeadline(max_poll_interval_ms)

    @broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_poll_interval_ms=max_poll_interval_ms,
        max_poll_records=1,
    )
    async def on_audio_mixed_message(msg: KafkaMessage = Context("message")) -> None:  # noqa: B008 (FastStream DI)
        await deadline.handle(msg, partial(consumer.consume, topic, msg.body, AudioMixed, on_audio_mixed, give_up))

    return deadline
