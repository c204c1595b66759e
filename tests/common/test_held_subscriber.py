"""``held_subscriber``: the one way the consuming services subscribe (mixer, submitter, transcriber, notifier)."""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.subscriber.usecase import ConcurrentBetweenPartitionsSubscriber, DefaultSubscriber
from zoomsymbl_common.events import Event, MeetingFailed
from zoomsymbl_common.kafka import Consumer, RetryPolicy
from zoomsymbl_common.poll_deadline import PollDeadline, held_subscriber
from zoomsymbl_common.settings import InfraSettings

INFRA = InfraSettings(kafka_topic_prefix="held-")
FAILED = MeetingFailed(
    event_id="f1", tenant="acme", meeting_uuid="m1", service="mixer", stage="download", reason="no audio"
)


class Seen:
    """What the handler and the give-up were handed."""

    def __init__(self) -> None:
        self.handled: list[MeetingFailed] = []
        self.given_up: list[tuple[Event | None, str]] = []

    async def handle(self, event: MeetingFailed) -> None:
        self.handled.append(event)

    async def give_up(self, event: Event | None, stage: str, reason: str) -> None:
        self.given_up.append((event, stage))


def subscribe(broker: KafkaBroker, seen: Seen, **options: int) -> PollDeadline:
    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=1))
    return held_subscriber(
        broker, consumer, MeetingFailed, seen.handle, seen.give_up, group="zoomsymbl-test", max_poll_interval_ms=60_000,
        **options,
    )  # fmt: skip


def test_the_topic_and_the_group_are_under_the_prefix_and_offsets_are_committed_after_the_work() -> None:
    broker = KafkaBroker()
    subscribe(broker, Seen(), max_poll_records=1, session_timeout_ms=9_000)
    [subscriber] = broker.subscribers
    assert type(subscriber) is DefaultSubscriber  # one message at a time
    assert subscriber.topic_names == ["held-meeting.failed.v1"]
    assert subscriber.group_id == "held-zoomsymbl-test"  # stacks sharing one Kafka never rebalance each other
    assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR
    options = subscriber._connection_args
    assert options["auto_offset_reset"] == "earliest"
    assert options["enable_auto_commit"] is False
    assert (options["max_poll_interval_ms"], options["max_poll_records"]) == (60_000, 1)
    assert (options["session_timeout_ms"], options["heartbeat_interval_ms"]) == (9_000, 3_000)


def test_more_than_one_worker_is_a_worker_per_partition() -> None:
    broker = KafkaBroker()
    subscribe(broker, Seen(), max_workers=3)
    [subscriber] = broker.subscribers
    assert isinstance(subscriber, ConcurrentBetweenPartitionsSubscriber)
    assert subscriber._connection_args["heartbeat_interval_ms"] == 3_000  # aiokafka's default session: 10 s


async def test_a_message_is_parsed_and_handled_and_an_unreadable_one_given_up() -> None:
    broker, seen = KafkaBroker(), Seen()
    deadline = subscribe(broker, seen)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(FAILED.model_dump_json().encode(), topic="held-meeting.failed.v1")
        await test_broker.publish(b'{"event_id": 1}', topic="held-meeting.failed.v1")
    await deadline.close()
    assert seen.handled == [FAILED]
    assert seen.given_up == [(None, "parse")]
