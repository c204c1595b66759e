"""A Zoom meeting number is bounded at the event: a forged giant fails where the event is built or read."""

from __future__ import annotations

import json

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from pydantic import ValidationError
from zoomsymbl_common.events import DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings

INFRA = InfraSettings(kafka_topic_prefix="unit-consumer-meeting-id-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
GIANT = int("9" * 257)


def _event(meeting_id: int | None) -> RecordingCompleted:
    return RecordingCompleted(event_id="evt-1", tenant="acme", meeting_uuid="m1==", meeting_id=meeting_id)


@pytest.mark.parametrize("meeting_id", [None, 0, 84712345678, 999_999_999_999, 10**19 - 1])
def test_every_real_zoom_meeting_number_is_kept(meeting_id: int | None) -> None:
    event = _event(meeting_id)
    assert RecordingCompleted.model_validate_json(event.model_dump_json()).meeting_id == meeting_id


@pytest.mark.parametrize("meeting_id", [10**19, GIANT, -1], ids=["10**19", "257 digits", "negative"])
def test_a_meeting_number_out_of_range_is_refused(meeting_id: int) -> None:
    with pytest.raises(ValidationError) as caught:
        _event(meeting_id)
    assert [error["loc"] for error in caught.value.errors()] == [("meeting_id",)]


async def test_a_kafka_event_with_a_giant_meeting_number_is_dead_lettered_as_invalid_input() -> None:
    broker = KafkaBroker()
    letters: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    calls: list[RecordingCompleted] = []

    async def handler(event: RecordingCompleted) -> None:
        calls.append(event)

    body = json.dumps(json.loads(_event(1).model_dump_json()) | {"meeting_id": GIANT}).encode()
    async with TestKafkaBroker(broker):
        await Consumer(broker, INFRA, "svc", RetryPolicy()).consume(TOPIC, body, RecordingCompleted, handler)
    assert calls == []
    [letter] = letters
    assert letter.error_type == "ValidationError" and letter.reason.startswith(
        "invalid RecordingCompleted: 1 error(s): meeting_id: "
    )
