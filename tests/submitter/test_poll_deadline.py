"""A meeting whose work outlasts the poll interval keeps its consumer in the group and is submitted once.

aiokafka takes a consumer out of its group when it has not polled for ``max_poll_interval_ms``. A submitter's
handler had no bound below it (a wait for a provider slot, a split into parts nobody knows in advance, the
consumer policy's retries): Kafka then gave the partition to another replica, which submitted the same meeting
while the first still worked on it, and the first one's commit failed. Now the subscriber gives the message back
at its poll deadline (the partition rewound to it, nothing committed) while the work goes on, and the poll that
brings it back waits on the same work.

In memory (TestKafkaBroker, its consumer spied on); the last test against the real local Kafka with two replicas.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.errors import KafkaUnavailable, PoisonInputError
from zoomsymbl_common.events import AudioMixed, MeetingFailed
from zoomsymbl_common.kafka import Consumer, RetryPolicy, make_broker, start_broker, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter.handlers import GROUP_ID, register_subscribers

from tests.submitter.support import audio_mixed, wait_for_group
from tests.support.eventually import eventually
from tests.support.offsets import Offsets, offsets_spy  # noqa: F401 (the offsets fixture)

if TYPE_CHECKING:  # not imported at run time: the tests also run (and fail) against the code before it
    from zoomsymbl_common.poll_deadline import PollDeadline

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, AudioMixed.topic)
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
INTERVAL_MS = 200
"""A poll deadline of 0.18 s: every held meeting outlasts it."""
FIRST = audio_mixed(1, INFRA, "mixed/acme/x.flac", 10).model_dump_json().encode()
SECOND = audio_mixed(2, INFRA, "mixed/acme/y.flac", 10).model_dump_json().encode()
# Before the fix the first delivery held the consumer until its work ended: these waits never ended.
GUARD_SECONDS = 30


class HeldSubmitter:
    """Submits a meeting once ``release`` is set (then fails with ``failure``, if any); counts its runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.release = asyncio.Event()
        self.failure: Exception | None = None
        self.cancelled = False

    async def on_audio_mixed(self, event: AudioMixed) -> None:
        self.runs.append(event.meeting_uuid)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.failure is not None:
            raise self.failure


class FailedMeetings:
    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        return True


@dataclass
class Rig:
    broker: KafkaBroker
    submitter: HeldSubmitter
    deadline: PollDeadline | None
    kafka_down: bool = False

    async def deliver(self, body: bytes, partition: int = 0) -> None:
        """One poll's delivery of ``body`` to the subscriber; returns once it has given the message back or done."""
        async with asyncio.timeout(GUARD_SECONDS):
            await self.broker.publish(body, topic=TOPIC, partition=partition)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    broker, submitter = KafkaBroker(), HeldSubmitter()
    rig = Rig(broker, submitter, None)

    async def publish_failure(event: MeetingFailed) -> None:
        if rig.kafka_down:
            raise KafkaUnavailable("publish not acknowledged")

    rig.deadline = register_subscribers(
        broker,
        Consumer(broker, INFRA, "submitter", POLICY),
        submitter.on_audio_mixed,
        FailedMeetings(),
        publish_failure=publish_failure,
        max_poll_interval_ms=INTERVAL_MS,
    )
    async with TestKafkaBroker(broker):
        yield rig
    submitter.release.set()


async def test_a_meeting_outlasting_the_poll_deadline_is_given_back_and_submitted_once(
    rig: Rig, offsets: Offsets
) -> None:
    await rig.deliver(FIRST)
    assert rig.submitter.runs == ["uuid/1=="] and not rig.submitter.release.is_set()
    assert (offsets.rewound, offsets.commits) == ([(0, 0)], 0), "given back: rewound to it, nothing committed"

    await rig.deliver(FIRST)  # the next poll brings it back while its work goes on
    assert rig.submitter.runs == ["uuid/1=="], "the redelivery waits on the same work, it does not start it again"
    assert (offsets.rewound, offsets.commits) == ([(0, 0), (0, 0)], 0)

    rig.submitter.release.set()
    await rig.deliver(FIRST)
    assert rig.submitter.runs == ["uuid/1=="]
    assert (len(offsets.rewound), offsets.commits) == (2, 1), "committed once its work has ended"


async def test_a_meeting_of_another_partition_waits_for_the_work_in_hand(rig: Rig, offsets: Offsets) -> None:
    """One meeting at a time per consumer, as when the handler held the message: never two splits at once."""
    await rig.deliver(FIRST)
    await rig.deliver(SECOND, partition=1)
    assert rig.submitter.runs == ["uuid/1=="], "the second meeting did not start while the first one's work goes on"
    assert (offsets.rewound, offsets.commits) == ([(0, 0), (1, 0)], 0)

    rig.submitter.release.set()
    await rig.deliver(SECOND, partition=1)  # polled first: its work starts once the first one's has ended
    await rig.deliver(FIRST)  # the first one's outcome, kept for its message
    assert rig.submitter.runs == ["uuid/1==", "uuid/2=="]
    assert offsets.commits == 2


async def test_work_failing_after_its_message_was_given_back_fails_the_redelivery(rig: Rig, offsets: Offsets) -> None:
    """What the consumer policy lets out (here: the failure announcement not acknowledged) is the next delivery's
    outcome: the offset stays uncommitted and the event comes again, as before."""
    rig.submitter.failure = PoisonInputError("symbl answered HTTP 400: 'bad'", stage="submit")
    rig.kafka_down = True
    await rig.deliver(FIRST)
    rig.submitter.release.set()

    with pytest.raises(KafkaUnavailable):
        await rig.deliver(FIRST)
    assert offsets.commits == 0 and rig.submitter.runs == ["uuid/1=="]


async def test_work_no_handler_waits_for_is_cancelled_when_the_service_stops(rig: Rig) -> None:
    await rig.deliver(FIRST)
    assert rig.deadline is not None

    await rig.deadline.close()  # the broker has stopped between a give-back and the next poll
    assert rig.submitter.cancelled


async def test_a_consumer_stopped_past_its_grace_period_cancels_the_work_its_handler_waits_for(rig: Rig) -> None:
    delivery = asyncio.create_task(rig.broker.publish(FIRST, topic=TOPIC))

    async def started() -> list[str]:
        return rig.submitter.runs

    await eventually(started, what="the meeting's work started")

    delivery.cancel()  # FastStream cancels the handler in hand once the grace period is over
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert rig.submitter.cancelled


@pytest.mark.integration
@pytest.mark.slow
async def test_two_replicas_a_meeting_outlasting_the_poll_interval_is_submitted_once_and_committed(
    infra: InfraSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """Real Kafka: before, the replica holding the meeting left the group one poll interval in, the other one
    submitted it again at once, and the first one's commit failed."""
    interval_ms, runs, release = 6000, [], asyncio.Event()
    brokers = [make_broker(infra, "submitter") for _ in range(2)]
    for replica, broker in enumerate(brokers):

        async def on_audio_mixed(event: AudioMixed, replica: int = replica) -> None:
            runs.append(replica)
            await release.wait()

        async def publish_failure(event: MeetingFailed) -> None:
            raise AssertionError("nothing fails here")

        consumer = Consumer(broker, infra, "submitter", RetryPolicy())
        register_subscribers(
            broker, consumer, on_audio_mixed, FailedMeetings(), publish_failure=publish_failure,
            max_poll_interval_ms=interval_ms,
        )  # fmt: skip
    caplog.set_level(logging.INFO, logger="zoomsymbl.kafka.poll_deadline")
    group, topic = topic_name(infra, GROUP_ID), topic_name(infra, AudioMixed.topic)
    try:
        for broker in brokers:
            await start_broker(broker, timeout=30)
        await wait_for_group(infra, group, members=2)
        await brokers[0].publish(audio_mixed(1, infra, "mixed/acme/x.flac", 10).model_dump_json().encode(), topic=topic)

        async def rerun_or_given_back_thrice() -> bool:
            given_back = sum("given back at its poll deadline" in r.getMessage() for r in caplog.records)
            return len(runs) > 1 or given_back >= 3

        # Three poll deadlines (16 s) held by one replica: past the interval, when the other one took it before.
        started = time.monotonic()
        await eventually(rerun_or_given_back_thrice, timeout=60, what="3 give-backs or a second run")
        assert len(runs) == 1, f"submitted again by replica {runs[1:]} after {time.monotonic() - started:.0f} s"
        release.set()
        committed = await _committed(infra, group, TopicPartition(topic, 0))
        assert committed == 1 and len(runs) == 1
    finally:
        release.set()
        for broker in brokers:
            await broker.stop()


async def _committed(infra: InfraSettings, group: str, partition: TopicPartition) -> int | None:
    """The group's committed offset of ``partition``, once there is one (within 30 s)."""
    reader = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await eventually(lambda: reader.committed(partition), timeout=30, what="a committed offset")
    finally:
        await reader.stop()
