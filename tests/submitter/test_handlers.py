"""The ``audio.mixed.v1`` subscriber in memory (TestKafkaBroker): what happens to good, bad and failing input."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.errors import (
    KafkaUnavailable,
    MongoUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
    StorageUnavailable,
)
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed
from zoomsymbl_common.kafka import Consumer, RetryPolicy, publish_event, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter.handlers import register_subscribers

from tests.submitter.support import audio_mixed

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, AudioMixed.topic)
EVENT = audio_mixed(1, INFRA, "mixed/acme/x.flac", 10)


class FakeMeetings:
    def __init__(self, *, moved: bool = True) -> None:
        self.failed: list[tuple[str, str, str]] = []
        self.moved = moved

    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        self.failed.append((event.meeting_uuid, stage, reason))
        return self.moved


class FakeSubmitter:
    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def on_audio_mixed(self, event: AudioMixed) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


class Rig:
    def __init__(self, broker: KafkaBroker, submitter: FakeSubmitter, meetings: FakeMeetings | None = None) -> None:
        self.broker = broker
        self.submitter = submitter
        self.meetings = meetings or FakeMeetings()
        self.letters: list[DeadLetter] = []
        self.announced: list[MeetingFailed] = []
        self.order: list[str] = []
        self.kafka_down = False
        policy = RetryPolicy(
            max_attempts=3, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=0.01, max_outage_wait=0.01
        )
        consumer = Consumer(broker, INFRA, "submitter", policy)

        async def publish_failure(event: MeetingFailed) -> None:
            if self.kafka_down:
                raise KafkaUnavailable("publish not acknowledged")
            await publish_event(broker, INFRA, event)

        register_subscribers(
            broker,
            consumer,
            submitter.on_audio_mixed,
            self.meetings,
            publish_failure=publish_failure,
            max_poll_interval_ms=60_000,
        )

        @broker.subscriber(DeadLetter.topic_for(TOPIC))
        async def dead(message: KafkaMessage) -> None:
            self.letters.append(DeadLetter.model_validate_json(message.body))
            self.order.append("dead-letter")

        @broker.subscriber(topic_name(INFRA, MeetingFailed.topic))
        async def failed(message: KafkaMessage) -> None:
            self.announced.append(MeetingFailed.model_validate_json(message.body))
            self.order.append("meeting-failed")

    async def send(self, body: bytes) -> None:
        await self.broker.publish(body, topic=TOPIC)


async def rig_for(*outcomes: Exception | None, meetings: FakeMeetings | None = None) -> AsyncIterator[Rig]:
    broker = KafkaBroker()
    rig = Rig(broker, FakeSubmitter(*outcomes), meetings)
    async with TestKafkaBroker(broker):
        yield rig


@pytest.fixture
async def ok() -> AsyncIterator[Rig]:
    async for rig in rig_for():
        yield rig


async def test_a_valid_event_is_submitted(ok: Rig) -> None:
    await ok.send(EVENT.model_dump_json().encode())
    assert ok.submitter.calls == 1
    assert ok.letters == []


async def test_an_invalid_event_is_dead_lettered_with_the_reason(ok: Rig) -> None:
    await ok.send(b'{"event_id": "x", "tenant": "acme"}')
    assert ok.submitter.calls == 0
    assert len(ok.letters) == 1
    assert "invalid AudioMixed" in ok.letters[0].reason
    assert ok.meetings.failed == []
    assert ok.announced == []


async def test_a_rejected_input_fails_the_meeting_at_once() -> None:
    async for rig in rig_for(PoisonInputError("symbl answered HTTP 400: 'bad'", stage="submit")):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.submitter.calls == 1
        assert rig.meetings.failed == [("uuid/1==", "submit", "symbl answered HTTP 400: 'bad'")]
        assert rig.letters[0].reason == "symbl answered HTTP 400: 'bad'"


async def test_a_failed_meeting_is_announced_for_its_host_before_it_is_dead_lettered() -> None:
    event = EVENT.model_copy(update={"generation": 3})
    async for rig in rig_for(PoisonInputError("symbl answered HTTP 400: 'bad'", stage="submit")):
        await rig.send(event.model_dump_json().encode())
        [failed] = rig.announced
        assert (failed.tenant, failed.meeting_uuid, failed.generation) == ("acme", "uuid/1==", 3)
        assert (failed.service, failed.stage, failed.reason) == (
            "submitter",
            "submit",
            "symbl answered HTTP 400: 'bad'",
        )
        assert rig.order == ["meeting-failed", "dead-letter"]


async def test_a_reason_quoting_a_signed_url_is_announced_without_it() -> None:
    leak = "symbl answered HTTP 400 for https://s3.example/mixed/x.flac?X-Amz-Signature=abc123 (token=s3cr3t)"
    async for rig in rig_for(PoisonInputError(leak, stage="submit")):
        await rig.send(EVENT.model_dump_json().encode())
        [failed] = rig.announced
        assert "abc123" not in failed.reason and "s3cr3t" not in failed.reason and "/mixed/" not in failed.reason
        assert failed.reason.startswith("symbl answered HTTP 400 for https://s3.example/")


async def test_no_announcement_when_the_meeting_completed_or_another_service_failed_it() -> None:
    async for rig in rig_for(PoisonInputError("late", stage="submit"), meetings=FakeMeetings(moved=False)):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.announced == []
        assert len(rig.letters) == 1


async def test_an_unacknowledged_announcement_is_not_dead_lettered_so_the_event_comes_again() -> None:
    async for rig in rig_for(PoisonInputError("bad", stage="submit")):
        rig.kafka_down = True
        with pytest.raises(KafkaUnavailable):  # the subscriber fails: its offset is not committed
            await rig.send(EVENT.model_dump_json().encode())
        assert rig.letters == [] and rig.announced == []
        assert rig.meetings.failed == [("uuid/1==", "submit", "bad")]


async def test_a_rate_limit_is_waited_out_without_spending_attempts() -> None:
    limited = [RateLimitedError("429", retry_after=0.001) for _ in range(5)]
    async for rig in rig_for(*limited):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.submitter.calls == 6
        assert rig.letters == []


async def test_an_outage_of_our_own_servers_is_waited_out_without_spending_attempts() -> None:
    outages = [
        MongoUnavailable("mongo down"),
        KafkaUnavailable("kafka down"),
        StorageUnavailable("s3 down"),
        MongoUnavailable("mongo down"),
    ]
    async for rig in rig_for(*outages):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.submitter.calls == 5  # 4 outages, more than max_attempts=3, then the success
        assert rig.letters == []
        assert rig.meetings.failed == []


async def test_an_outage_longer_than_the_outage_budget_is_dead_lettered_with_its_reason() -> None:
    async for rig in rig_for(*[MongoUnavailable("mongo down") for _ in range(200)]):
        await rig.send(EVENT.model_dump_json().encode())
        assert 5 < rig.submitter.calls < 200
        assert "of infrastructure outage: mongodb unavailable: mongo down" in rig.letters[0].reason
        assert rig.meetings.failed[0][1] == "retry"


async def test_server_errors_are_retried_then_dead_lettered_and_the_meeting_failed() -> None:
    errors = [RetryableError("symbl answered HTTP 503") for _ in range(3)]
    async for rig in rig_for(*errors):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.submitter.calls == 3
        assert "gave up after 3 attempts" in rig.letters[0].reason
        assert rig.meetings.failed[0][1] == "retry"
        [failed] = rig.announced
        assert failed.stage == "retry" and "gave up after 3 attempts: symbl answered HTTP 503" in failed.reason


@pytest.mark.parametrize("bug", [KeyError("conversationId"), TypeError("unsupported operand")])
async def test_a_bug_in_the_handler_is_retried_then_dead_lettered_not_redelivered_forever(bug: Exception) -> None:
    async for rig in rig_for(*[bug for _ in range(10)]):
        await rig.send(EVENT.model_dump_json().encode())
        assert rig.submitter.calls == 3
        [letter] = rig.letters
        assert letter.error_type == type(bug).__name__
        assert letter.reason == f"gave up after 3 attempts: {type(bug).__name__}: {bug}"
        assert rig.meetings.failed[0][1] == "retry"
        assert rig.order == ["meeting-failed", "dead-letter"]
