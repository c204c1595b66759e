"""The subscriber in memory (FastStream's TestKafkaBroker): bad input, poison, retries, unexpected bugs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from prometheus_client import CollectorRegistry
from zoomsymbl_common.errors import KafkaUnavailable, PoisonInputError, RetryableError
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, publish_event, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.errors import ZoomErrorBody
from zoomsymbl_mixer.handlers import MixerMetrics, give_up, on_recording_completed, register_subscribers

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
EVENT = RecordingCompleted(event_id="e1", tenant="acme", meeting_uuid="m1", generation=2)
MIXED = AudioMixed(
    event_id="a1",
    tenant="acme",
    meeting_uuid="m1",
    bucket="b",
    object_key="mixed/acme/x.flac",
    format="flac",
    channels=1,
    duration_seconds=1,
    size_bytes=1,
    input_hash="h",
    channel_map=(),
)


class FakeState:
    def __init__(self, *, moved_on: bool = False, sent: AudioMixed | None = None) -> None:
        self.failed: list[tuple[str, str, str]] = []
        self.moved_on = moved_on or sent is not None
        self.sent = sent

    async def mark_failed(self, event: RecordingCompleted, stage: str, reason: str) -> bool:
        self.failed.append((event.meeting_uuid, stage, reason))
        return not self.moved_on

    async def unconfirmed(self, event: RecordingCompleted) -> AudioMixed | None:
        return self.sent

    async def step_of(self, event: RecordingCompleted) -> None:
        return None  # no step noted on the meeting


class FakeMixer:
    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return MIXED


def metric(metrics: MixerMetrics, outcome: str) -> float:
    return metrics.meetings.labels(outcome)._value.get()  # type: ignore[no-any-return]


Run = Callable[[bytes], Awaitable[list[DeadLetter]]]
Published = list[DeadLetter | MeetingFailed | AudioMixed]
PublishFailure = Callable[[MeetingFailed], Awaitable[None]]


def wire(
    broker: KafkaBroker,
    mixer: FakeMixer,
    state: FakeState,
    metrics: MixerMetrics,
    publish: PublishFailure | None = None,
    outage_wait: float = 1800.0,
) -> tuple[list[DeadLetter], Published]:
    """Dead letters, and everything published in order (dead letters, ``MeetingFailed``, ``AudioMixed``)."""
    letters: list[DeadLetter] = []
    published: Published = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_outage_wait=outage_wait)
    consumer = Consumer(broker, INFRA, "mixer", policy)

    async def handle(event: RecordingCompleted) -> AudioMixed | None:
        return await on_recording_completed(event, mixer, metrics)

    async def publish_failure(event: MeetingFailed) -> None:
        await publish_event(broker, INFRA, event)

    async def announce(event: RecordingCompleted, mixed: AudioMixed) -> None:
        await publish_event(broker, INFRA, mixed)

    register_subscribers(broker, consumer, handle, give_up(state, metrics, publish or publish_failure, announce))

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))
        published.append(letters[-1])

    @broker.subscriber(topic_name(INFRA, MeetingFailed.topic))
    async def failed(message: KafkaMessage) -> None:
        published.append(MeetingFailed.model_validate_json(message.body))

    @broker.subscriber(topic_name(INFRA, AudioMixed.topic))
    async def mixed(message: KafkaMessage) -> None:
        published.append(AudioMixed.model_validate_json(message.body))

    return letters, published


async def deliver(
    body: bytes,
    mixer: FakeMixer,
    state: FakeState | None = None,
    publish: PublishFailure | None = None,
    *,
    outage_wait: float = 1800.0,
) -> tuple[list[DeadLetter], FakeState, MixerMetrics, Published]:
    broker = KafkaBroker()
    state, metrics = state or FakeState(), MixerMetrics(CollectorRegistry())
    letters, published = wire(broker, mixer, state, metrics, publish, outage_wait)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(body, topic=TOPIC)
    return letters, state, metrics, published


async def test_a_good_event_is_mixed_once_and_nothing_is_dead_lettered() -> None:
    mixer = FakeMixer()
    letters, state, metrics, _ = await deliver(EVENT.model_dump_json().encode(), mixer)
    assert (mixer.calls, letters, state.failed) == (1, [], [])
    assert metric(metrics, "mixed") == 1


async def test_invalid_json_is_dead_lettered_without_touching_a_meeting() -> None:
    mixer = FakeMixer()
    letters, state, _, _ = await deliver(b'{"event_id": "x", "tenant": "NOT VALID"', mixer)
    [letter] = letters
    assert letter.reason.startswith("invalid RecordingCompleted")
    assert letter.service == "mixer"
    assert (mixer.calls, state.failed) == (0, [])


async def test_poison_marks_the_meeting_failed_with_stage_and_reason() -> None:
    mixer = FakeMixer(ZoomErrorBody("f1", 200, 124, "Invalid access token."))
    letters, state, metrics, _ = await deliver(EVENT.model_dump_json().encode(), mixer)
    [(meeting, stage, reason)] = state.failed
    assert (meeting, stage) == ("m1", "download")
    assert "code 124" in reason
    [letter] = letters
    assert letter.error_type == "ZoomErrorBody" and letter.event_id == "e1"
    assert json.loads(letter.payload)["meeting_uuid"] == "m1"
    assert metric(metrics, "failed") == 1


async def test_a_given_up_meeting_is_announced_for_its_host_before_it_is_dead_lettered() -> None:
    mixer = FakeMixer(ZoomErrorBody("f1", 200, 124, "Invalid access token."))
    _, _, _, published = await deliver(EVENT.model_dump_json().encode(), mixer)
    [failed, letter] = published
    assert isinstance(failed, MeetingFailed) and isinstance(letter, DeadLetter)
    assert (failed.tenant, failed.meeting_uuid, failed.generation) == ("acme", "m1", 2)
    assert (failed.service, failed.stage) == ("mixer", "download")
    assert "zoom refused file 'f1'" in failed.reason and "code 124" in failed.reason
    assert failed.event_id == MeetingFailed.of(EVENT, "mixer", "verify", "other").event_id, "one id per meeting"


async def test_a_spent_retry_budget_is_announced_too() -> None:
    mixer = FakeMixer(*[RetryableError("zoom 503") for _ in range(3)])
    _, _, _, published = await deliver(EVENT.model_dump_json().encode(), mixer)
    [failed] = [p for p in published if isinstance(p, MeetingFailed)]
    assert failed.stage == "retry" and "gave up after 3 attempts: zoom 503" in failed.reason


async def test_nothing_is_announced_when_the_meeting_had_moved_on_or_the_event_was_unreadable() -> None:
    poison = ZoomErrorBody("f1", 200, 124, "Invalid access token.")
    letters, _, _, published = await deliver(
        EVENT.model_dump_json().encode(), FakeMixer(poison), FakeState(moved_on=True)
    )
    assert len(letters) == 1 and not [p for p in published if isinstance(p, MeetingFailed)]
    letters, _, _, published = await deliver(b"{not json", FakeMixer())
    assert len(letters) == 1 and not [p for p in published if isinstance(p, MeetingFailed)]


async def test_a_mix_that_may_have_gone_out_is_announced_again_at_give_up_not_failed() -> None:
    mixer = FakeMixer(*[KafkaUnavailable("publish not acknowledged") for _ in range(3)])
    letters, state, metrics, published = await deliver(
        EVENT.model_dump_json().encode(), mixer, FakeState(sent=MIXED), outage_wait=0.0
    )
    assert [type(p).__name__ for p in published] == ["AudioMixed", "DeadLetter"]
    assert published[0] == MIXED
    assert [stage for _, stage, _ in state.failed] == ["retry"]  # tried first, refused: it may have gone out
    [letter] = letters
    assert "infrastructure outage" in letter.reason
    assert (metric(metrics, "announced_at_give_up"), metric(metrics, "failed")) == (1, 0)


async def test_an_unacknowledged_announcement_is_not_dead_lettered_so_the_event_comes_again() -> None:
    async def kafka_down(event: MeetingFailed) -> None:
        raise KafkaUnavailable("publish not acknowledged")

    broker = KafkaBroker()
    state, metrics = FakeState(), MixerMetrics(CollectorRegistry())
    letters, _ = wire(broker, FakeMixer(PoisonInputError("bad", stage="verify")), state, metrics, kafka_down)
    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(KafkaUnavailable):  # the subscriber fails: its offset is not committed
            await test_broker.publish(EVENT.model_dump_json().encode(), topic=TOPIC)
    assert letters == []
    assert state.failed == [("m1", "verify", "bad")]


async def test_a_retryable_failure_is_retried_then_succeeds() -> None:
    mixer = FakeMixer(RetryableError("zoom 503"), RetryableError("zoom 503"))
    letters, state, _, _ = await deliver(EVENT.model_dump_json().encode(), mixer)
    assert (mixer.calls, letters, state.failed) == (3, [], [])


async def test_a_bug_becomes_a_dead_letter_after_the_attempt_budget_not_a_crash() -> None:
    mixer = FakeMixer(*[KeyError("surprise") for _ in range(5)])
    letters, state, _, _ = await deliver(EVENT.model_dump_json().encode(), mixer)
    assert mixer.calls == 3
    [letter] = letters
    assert "unexpected KeyError" in letter.reason
    [(_, stage, reason)] = state.failed
    assert stage == "retry" and "gave up after 3 attempts" in reason


async def test_the_wrapper_keeps_zoomsymbl_errors_as_they_are() -> None:
    metrics = MixerMetrics(CollectorRegistry())
    with pytest.raises(PoisonInputError):
        await on_recording_completed(EVENT, FakeMixer(PoisonInputError("bad", stage="verify")), metrics)
    with pytest.raises(RetryableError, match="unexpected ZeroDivisionError"):
        await on_recording_completed(EVENT, FakeMixer(ZeroDivisionError()), metrics)
    assert metric(metrics, "error") == 2


def test_the_consumer_group_keeps_its_name_under_the_topic_prefix() -> None:
    # A renamed group starts from the earliest offset again: every retained recording would be mixed anew.
    broker = KafkaBroker()
    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=1))
    register_subscribers(
        broker, consumer, _unused, give_up(FakeState(), MixerMetrics(CollectorRegistry()), _never, _never_again)
    )
    [subscriber] = broker.subscribers
    assert getattr(subscriber, "group_id", None) == "unit-zoomsymbl-mixer"


async def _unused(event: RecordingCompleted) -> None:
    raise AssertionError(f"unexpected meeting {event!r}")


async def test_several_meetings_at_once_is_a_per_partition_worker_pool() -> None:
    broker = KafkaBroker()
    mixer, state, metrics = FakeMixer(), FakeState(), MixerMetrics(CollectorRegistry())
    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=1))

    async def handle(event: RecordingCompleted) -> AudioMixed | None:
        return await on_recording_completed(event, mixer, metrics)

    on_give_up = give_up(state, metrics, _never, _never_again)
    register_subscribers(broker, consumer, handle, on_give_up, concurrent_meetings=3)
    async with TestKafkaBroker(broker) as test_broker:
        for n in range(3):
            event = EVENT.model_copy(update={"event_id": f"e{n}", "meeting_uuid": f"m{n}"})
            await test_broker.publish(event.model_dump_json().encode(), topic=TOPIC)
    assert mixer.calls == 3
    assert type(broker.subscribers[0]).__name__ == "ConcurrentBetweenPartitionsSubscriber"


async def _never(event: MeetingFailed) -> None:
    raise AssertionError(f"unexpected failure announcement {event!r}")


async def _never_again(event: RecordingCompleted, mixed: AudioMixed) -> None:
    raise AssertionError(f"unexpected announcement {mixed!r}")
