"""Every number an event carries is finite and fits what MongoDB stores.

Kafka messages are outside input. Python's JSON reader (and pydantic's) takes ``NaN`` and ``Infinity``;
infinity passes ``ge=0``, the MongoDB-wire server refuses it on write (and cannot read a NaN back), and an
integer past int64 fails every write of it in pymongo (``OverflowError``): a bug's retries, not a refusal.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from pydantic import BaseModel, ValidationError
from zoomsymbl_common.event_fields import INT64_MAX
from zoomsymbl_common.events import EVENT_TYPES, AudioMixed, ChannelAssignment, DeadLetter, JobSubmitted, SpeakerStats
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings

INFRA = InfraSettings(kafka_topic_prefix="unit-event-numbers-")


def _numeric_properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every integer or number property of ``schema`` and its ``$defs``, as (model.field, its schema)."""
    found: list[tuple[str, dict[str, Any]]] = []
    models = {schema.get("title", "?"): schema, **schema.get("$defs", {})}
    for model, definition in models.items():
        for field, prop in definition.get("properties", {}).items():
            for branch in prop.get("anyOf", [prop]):
                if branch.get("type") in {"integer", "number"}:
                    found.append((f"{model}.{field}", branch))
    return found


def _every_model() -> list[type[BaseModel]]:
    return [*EVENT_TYPES, DeadLetter]


@pytest.mark.parametrize("model", _every_model(), ids=lambda m: m.__name__)
def test_every_number_of_every_event_has_an_upper_bound_within_int64(model: type[BaseModel]) -> None:
    unbounded = [
        name
        for name, prop in _numeric_properties(model.model_json_schema())
        if prop.get("maximum", prop.get("exclusiveMaximum", INT64_MAX + 1)) > INT64_MAX
        and not name.endswith(".meeting_id")  # below 10**19: a string wherever it is stored
    ]
    assert unbounded == []


def _audio_mixed(**stats: float) -> AudioMixed:
    return AudioMixed(
        event_id="e1",
        tenant="acme",
        meeting_uuid="m1==",
        bucket="b",
        object_key="mixed/acme/m.flac",
        format="flac",
        channels=1,
        duration_seconds=60.0,
        size_bytes=10,
        input_hash="h",
        channel_map=(ChannelAssignment(channel=1, participant_name="A", file_ids=("f1",), offset_seconds=0.0),),
        speaker_stats=(
            SpeakerStats(
                channel=1,
                talk_seconds=stats.get("talk_seconds", 30.0),
                silence_ratio=0.5,
                talk_over_ratio=0.0,
                longest_silence_seconds=stats.get("longest_silence_seconds", 10.0),
            ),
        ),
    )


@pytest.mark.parametrize("field", ["talk_seconds", "longest_silence_seconds"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf"), 1e300])
def test_non_finite_or_giant_talk_analytics_are_refused(field: str, value: float) -> None:
    fields = json.loads(_audio_mixed().model_dump_json())
    fields["speaker_stats"][0][field] = value
    with pytest.raises(ValidationError) as caught:
        AudioMixed.model_validate_json(json.dumps(fields))  # json writes NaN and Infinity as Python reads them
    assert [error["loc"][-1] for error in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [("part_offset_seconds", float("inf")), ("part_offset_seconds", float("nan")), ("generation", 2**63)],
)
async def test_a_job_submitted_with_a_number_mongodb_cannot_store_is_dead_lettered_unhandled(
    field: str, value: float
) -> None:
    topic = topic_name(INFRA, JobSubmitted.topic)
    good = JobSubmitted(
        event_id="e1", tenant="acme", meeting_uuid="m1==", provider="whisper", job_id="j1", conversation_id="c1"
    )
    body = json.dumps(json.loads(good.model_dump_json()) | {field: value}).encode()
    broker = KafkaBroker()
    letters: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(topic))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    handled: list[JobSubmitted] = []

    async def handler(event: JobSubmitted) -> None:
        handled.append(event)

    async with TestKafkaBroker(broker):
        await Consumer(broker, INFRA, "svc", RetryPolicy()).consume(topic, body, JobSubmitted, handler)
    assert handled == []
    [letter] = letters
    assert letter.error_type == "ValidationError"
    assert letter.reason.startswith(f"invalid JobSubmitted: 1 error(s): {field}: ")


def _models_within(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """``model`` and every model its fields hold, however nested (tuples, optionals)."""
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[object] = [field.annotation]
        while stack:
            kind = stack.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                _models_within(kind, seen)
            stack.extend(getattr(kind, "__args__", ()))
    return seen


def test_no_event_model_or_part_of_one_takes_nan_or_infinity() -> None:
    models: set[type[BaseModel]] = set()
    for model in _every_model():
        _models_within(model, models)
    assert {m.__name__ for m in models} >= {"ChannelAssignment", "SpeakerStats", "RecordingFile", "PhoneCall"}
    assert sorted(m.__name__ for m in models if m.model_config.get("allow_inf_nan") is not False) == []
