"""Raw object keys for the longest ids the events allow, and a refused key failing the meeting at once."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from zoomsymbl_common.errors import ObjectRejected
from zoomsymbl_common.events import AudioMixed, DeadLetter, Event, RecordingCompleted, RecordingFile
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.storage_keys import MAX_SEGMENT, meeting_key
from zoomsymbl_mixer.credentials import Credentials
from zoomsymbl_mixer.download import Fetcher
from zoomsymbl_mixer.errors import rejected_at
from zoomsymbl_mixer.handlers import MixerMetrics, on_recording_completed
from zoomsymbl_mixer.tracks import TrackLoader, raw_key

LONGEST = 256  # max_length of RecordingFile.file_id and Event.meeting_uuid
INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
any_id = st.text(min_size=1, max_size=LONGEST)


def file(file_id: str, size: int | None = None) -> RecordingFile:
    return RecordingFile(file_id=file_id, file_extension="M4A", download_url="https://zoom.us/x", file_size=size)


@given(any_id, any_id)
def test_every_segment_of_a_raw_key_fits(meeting_uuid: str, file_id: str) -> None:
    key = raw_key("acme", meeting_uuid, file(file_id))
    segments = key.split("/")
    assert len(segments) == 4 and segments[:2] == ["raw", "acme"]
    assert all(len(s.encode()) <= MAX_SEGMENT + len(".m4a") + 1 < 255 for s in segments)
    assert segments[2] == meeting_key(meeting_uuid)


@given(any_id, any_id)
def test_raw_keys_are_collision_free(a: str, b: str) -> None:
    assert (raw_key("acme", "m", file(a)) == raw_key("acme", "m", file(b))) == (a == b)


@pytest.mark.parametrize(
    ("file_id", "name"),
    [("a1b2-c3", "a1b2-c3.m4a"), ("f" * 200, "f" * 200 + ".m4a"), ("a b", "b64-YSBi.m4a"), ("abc\n", "b64-YWJjCg.m4a")],
)
def test_ids_that_fit_keep_their_names(file_id: str, name: str) -> None:
    """Objects stored before segments were bounded keep their keys."""
    assert raw_key("acme", "m", file(file_id)).split("/")[-1] == name


def test_a_long_plain_id_keeps_a_readable_prefix() -> None:
    name = raw_key("acme", "m", file("f" * LONGEST)).split("/")[-1]
    assert name.startswith("f" * 100) and len(name) == MAX_SEGMENT + 1 + len(".m4a")
    assert name == raw_key("acme", "m", file("f" * LONGEST)).split("/")[-1]


def test_an_id_that_looks_encoded_cannot_take_another_ids_key() -> None:
    assert raw_key("acme", "m", file("b64-YSBi")) != raw_key("acme", "m", file("a b"))


class RefusingStore:
    """An object store whose server refuses every key (as versitygw does an overlong segment)."""

    bucket = "audio"

    async def size(self, key: str) -> int:
        raise ObjectRejected(self.bucket, key, "KeyTooLongError", "Your key is too long.")


async def test_a_refused_raw_key_is_poison_at_the_download_stage(tmp_path: Path) -> None:
    loader = TrackLoader(
        cast(ObjectStore, RefusingStore()), cast(Fetcher, object()), cast(Credentials, object()), concurrency=1
    )
    with pytest.raises(ObjectRejected) as caught:
        await loader.load_all("acme", "m", [file("f1", size=5)], tmp_path)
    assert (caught.value.stage, caught.value.code) == ("download", "KeyTooLongError")
    assert "KeyTooLongError" in caught.value.reason


class RefusedMixer:
    """A mixer whose every meeting ends in a refused upload."""

    def __init__(self) -> None:
        self.calls = 0

    async def on_recording_completed(self, event: RecordingCompleted) -> AudioMixed:
        self.calls += 1
        raise rejected_at("upload", ObjectRejected("audio", "mixed/acme/k.flac", "KeyTooLongError"))


async def test_a_refused_key_fails_the_meeting_on_the_first_attempt() -> None:
    broker, mixer, metrics = KafkaBroker(), RefusedMixer(), MixerMetrics(CollectorRegistry())
    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002))
    failed: list[tuple[str, str]] = []
    letters: list[DeadLetter] = []

    async def handle(event: RecordingCompleted) -> None:
        await on_recording_completed(event, mixer, metrics)

    async def give_up(event: Event | None, stage: str, reason: str) -> None:
        failed.append((stage, reason))

    @broker.subscriber(TOPIC)
    async def on_message(message: KafkaMessage) -> None:
        await consumer.consume(TOPIC, message.body, RecordingCompleted, handle, give_up)

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        event = RecordingCompleted(event_id="e1", tenant="acme", meeting_uuid="m1")
        await test_broker.publish(event.model_dump_json().encode(), topic=TOPIC)
    assert mixer.calls == 1
    [(stage, reason)] = failed
    assert stage == "upload" and "KeyTooLongError" in reason and "mixed/acme/k.flac" in reason
    [letter] = letters
    assert letter.error_type == "ObjectRejected" and letter.attempts == 1


def test_an_extension_with_a_trailing_newline_is_not_a_safe_one() -> None:
    """``$`` matches before a trailing newline: "m4a\\n" went into the S3 key and the scratch file's name."""
    odd = RecordingFile(file_id="f1", file_extension="M4A\n", download_url="https://zoom.us/x")
    assert raw_key("acme", "m", odd).endswith("/f1.bin")
