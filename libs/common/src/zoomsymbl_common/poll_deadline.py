"""Kafka handlers that let their consumer poll again within ``max_poll_interval_ms``, however long the work lasts.

aiokafka takes a consumer out of its group when it has not polled for ``max_poll_interval_ms``: its partitions
go to another member, which starts on the message in hand a second time while the first still works on it,
and the first one's commit then fails. The work of one message has no bound a poll interval could be sized
to: the consumer policy's tries and waits (:mod:`zoomsymbl_common.consumer`: backoff, 429s, outages of our own
servers) come on top of the handler's own, which may wait for a provider slot, transcribe a long meeting or
split a file into a number of parts nobody knows in advance.

:class:`PollDeadline` runs each message's work as a task of its own and waits for it until the message's poll
deadline (:data:`POLL_SHARE` of the interval). Work still going then gives its message back: the partition is
rewound to it (FastStream's nack), nothing is committed, and the handler returns, so the consumer polls again
and keeps its partitions. That poll brings the same message back, and its handler waits on the same task: the
work is neither started twice nor cut short. Once the task has ended, the handler holding its message returns
its outcome: the offset is committed, or an exception (what the consumer policy lets out: an outage while
giving up) gives the message back as before.

A consumer works on one message at a time, as when its handler held the message: a message of another of its
partitions polled meanwhile waits, within its own deadline, for the work in hand to end before its own work
starts, and is given back otherwise. Work whose partition went to another member in a rebalance goes on, as a
handler outliving its partition did before; the services' claims and leases keep that member's run of the same
message harmless. A service stopping cancels the work in hand with the handler that waits for it (after the
broker's grace period), and :meth:`PollDeadline.close` the work no handler waits for.

:func:`held_subscriber` is how every consuming service subscribes a handler this way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from zoomsymbl_common.consumer import Consumer, GiveUp
from zoomsymbl_common.events import Event
from zoomsymbl_common.kafka import topic_name
from zoomsymbl_common.logs import scrub

log = logging.getLogger("zoomsymbl.kafka.poll_deadline")
POLL_SHARE = 0.9
"""Share of the poll interval a handler waits for its message's work; the rest gives the message back and polls."""
KEPT_OUTCOMES = 64
"""Ended work kept per consumer until its message comes back (past it the oldest is dropped: handled again)."""

Work = Callable[[], Coroutine[Any, Any, None]]
MessageKey = tuple[str, int, int, bytes]
"""Topic, partition, offset and body: one message, whichever delivery of it."""
E = TypeVar("E", bound=Event)
_MESSAGE = Context("message")  # FastStream hands the handler the raw message: its offset keys the work


def message_key(msg: KafkaMessage) -> MessageKey:
    """The key of ``msg``'s work (the body too: in-memory test brokers give every message offset 0)."""
    record = msg.raw_message
    if isinstance(record, tuple):
        raise TypeError("a batch subscriber's messages have no single offset")
    return (record.topic, record.partition, record.offset, msg.body)


@dataclass
class _Lane:
    """One Kafka consumer's work: the task in hand (its message's key), and ended tasks kept for their messages."""

    key: MessageKey | None = None
    task: asyncio.Task[None] | None = None
    ended: dict[MessageKey, asyncio.Task[None]] = field(default_factory=dict)

    def task_of(self, key: MessageKey) -> asyncio.Task[None] | None:
        """The task of ``key``'s message, in hand or ended and kept; None when there is none."""
        if self.key == key:
            return self.task
        return self.ended.pop(key, None)

    def start(self, key: MessageKey, work: Work) -> asyncio.Task[None]:
        """Start ``key``'s work; the ended task in hand is kept for its message, which has not come back yet."""
        if self.key is not None and self.task is not None:
            self.ended[self.key] = self.task
            while len(self.ended) > KEPT_OUTCOMES:
                _retrieved(self.ended.pop(next(iter(self.ended))))
        self.key, self.task = key, asyncio.create_task(work(), name=f"kafka-message-{key[0]}-{key[1]}-{key[2]}")
        return self.task

    def finish(self, key: MessageKey) -> None:
        """``key``'s message has its outcome: the lane no longer holds its task."""
        self.ended.pop(key, None)
        if self.key == key:
            self.key = self.task = None

    async def stop(self) -> None:
        """Cancel the task in hand and wait until it has ended (again each second: a library may drop a cancel)."""
        task = self.task
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        _retrieved(task)


class PollDeadline:
    """Waits for each message's work within its poll deadline and gives the message back while the work goes on.

    One per subscriber (its consumers each get a lane: FastStream's ``max_workers`` runs several).
    """

    def __init__(self, max_poll_interval_ms: int, *, share: float = POLL_SHARE) -> None:
        self.seconds = max_poll_interval_ms / 1000 * share
        self._lanes: dict[object, _Lane] = {}

    async def handle(self, msg: KafkaMessage, work: Work) -> None:
        """Run ``msg``'s ``work`` (or wait on it, started by an earlier delivery) until the poll deadline.

        Returns or raises as the work did once it has ended. While it (or another message's work on this
        consumer) is still going at the deadline, gives ``msg`` back and returns: its nack rewinds the partition
        to it, and the ack that follows a handler's return commits nothing after a nack.
        """
        lane = self._lanes.setdefault(msg.consumer, _Lane())
        key = message_key(msg)
        deadline = asyncio.get_running_loop().time() + self.seconds
        try:
            task = lane.task_of(key)
            if task is None and await _ended_by(lane.task, deadline):
                task = lane.start(key, work)
            if task is not None and await _ended_by(task, deadline):
                lane.finish(key)
                if task.cancelled():  # by close(): the service stops, the message stays uncommitted
                    await msg.nack()
                    return
                task.result()
                return
        except asyncio.CancelledError:  # the consumer stops past its grace period: so does its work
            await lane.stop()
            raise
        where = {"topic": key[0], "partition": key[1], "offset": key[2], "poll_deadline_seconds": round(self.seconds)}
        log.info("message given back at its poll deadline, its work goes on", extra={**where, "ours": task is not None})
        await msg.nack()

    async def close(self) -> None:
        """Cancel the work no handler waits for any more (its partition went elsewhere, or the service stopped
        between a give-back and the next poll). Call it once the broker has stopped."""
        lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            await lane.stop()
            for task in lane.ended.values():
                _retrieved(task)


def held_subscriber(
    broker: KafkaBroker,
    consumer: Consumer,
    event_type: type[E],
    handler: Callable[[E], Awaitable[None]],
    give_up: GiveUp,
    *,
    group: str,
    max_poll_interval_ms: int,
    max_workers: int = 1,
    max_poll_records: int | None = None,
    session_timeout_ms: int = 10_000,
) -> PollDeadline:
    """Subscribe ``handler`` to ``event_type``'s topic in consumer group ``group`` (both under the topic prefix, so
    stacks or tests sharing a Kafka cluster never rebalance each other's consumers), before the broker starts.

    Each message is parsed and handled under the consumer policy (``consumer``: retries, dead letters, ``give_up``),
    its work held past its poll deadline by the :class:`PollDeadline` returned (close it once the broker has
    stopped); its offset is committed after the work, from the earliest offset for a new group. Above one
    ``max_workers`` FastStream runs one consumer per partition (up to that many): each key's messages stay in order.
    """
    topic = topic_name(consumer.infra, event_type.topic)
    deadline = PollDeadline(max_poll_interval_ms)
    subscriber = broker.subscriber(
        topic,
        group_id=topic_name(consumer.infra, group),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=min(3_000, session_timeout_ms // 3),
        max_workers=max_workers,
        max_poll_interval_ms=max_poll_interval_ms,
        max_poll_records=max_poll_records,
    )

    @subscriber
    async def on_message(message: KafkaMessage = _MESSAGE) -> None:
        await deadline.handle(message, partial(consumer.consume, topic, message.body, event_type, handler, give_up))

    return deadline


async def _ended_by(task: asyncio.Task[None] | None, deadline: float) -> bool:
    """Whether ``task`` (None: no task) has ended by ``deadline`` (loop time), waiting for it until then."""
    if task is None or task.done():
        return True
    left = deadline - asyncio.get_running_loop().time()
    if left > 0:
        await asyncio.wait({task}, timeout=left)
    return task.done()


def _retrieved(task: asyncio.Task[None]) -> None:
    """Dropping an ended task whose message never came back: its error is logged here, not lost."""
    if task.done() and not task.cancelled() and (error := task.exception()) is not None:
        log.warning("work of a message handled elsewhere ended with an error", extra={"error": scrub(repr(error), 500)})
