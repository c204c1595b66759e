"""Forged ``audio.mixed.v1`` events: whoever can write to the topic must not make the submitter work without bound.

The submitter plans its parts from the event's ``duration_seconds`` (one ffmpeg silence pass per cut, then one
part object and one provider job per part) and builds its ffmpeg mono-mix filter from ``channels`` (one term per
channel); the whisper work order copies ``channels`` for the transcriber's per-channel loop. A forged
``duration_seconds`` of 1e9 planned 27,871 parts (27,870 ffmpeg passes, one after the other), and ``channels``
of 3,000,000 took 5 s and a 26 MB filter string (10**9: about half an hour and gigabytes). Such an event is
now invalid: dead-lettered when it is parsed, before any handler runs. In memory (TestKafkaBroker).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.event_fields import MAX_MIX_CHANNELS, MAX_MIX_SECONDS
from zoomsymbl_common.events import AudioMixed, DeadLetter, MeetingFailed
from zoomsymbl_common.kafka import Consumer, RetryPolicy, publish_event, topic_name
from zoomsymbl_common.providers.assemblyai import ASSEMBLYAI_LIMITS
from zoomsymbl_common.providers.symbl import SYMBL_LIMITS
from zoomsymbl_common.providers.whisper import WHISPER_LIMITS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_submitter import splitting
from zoomsymbl_submitter.downmix import downmix_args
from zoomsymbl_submitter.handlers import register_subscribers

from tests.submitter.support import audio_mixed

INFRA = InfraSettings(kafka_topic_prefix="unit-hostile-")
TOPIC = topic_name(INFRA, AudioMixed.topic)
VALID = json.loads(audio_mixed(1, INFRA, "mixed/acme/dXVpZC8xPT0.flac", 10).model_dump_json())
ASSIGNMENT = VALID["channel_map"][0]
STATS = {"channel": 1, "talk_seconds": 1.0, "silence_ratio": 0.5, "talk_over_ratio": 0.0, "longest_silence_seconds": 1}

HOSTILE: dict[str, dict[str, Any]] = {
    "a billion seconds of audio": {"duration_seconds": 1e9},
    "the largest float of audio": {"duration_seconds": 1.7e308},
    "a billion channels": {"channels": 10**9},
    "a channel numbered a billion": {"channel_map": [{**ASSIGNMENT, "channel": 10**9}]},
    "a channel delayed by a year": {"channel_map": [{**ASSIGNMENT, "offset_seconds": 365 * 86400.0}]},
    "a thousand channel assignments": {"channel_map": [{**ASSIGNMENT, "channel": 1}] * 1000},
    "talk analytics of channel a billion": {"speaker_stats": [{**STATS, "channel": 10**9}]},
    "a thousand talk analytics": {"speaker_stats": [STATS] * 1000},
    "a 100 kB object key": {"object_key": "mixed/acme/" + "a" * 100_000 + ".flac"},
    "a 10 kB bucket name": {"bucket": "b" * 10_000},
    "a 100 kB input hash": {"input_hash": "h" * 100_000},
    "a 100 kB meeting topic": {"topic_text": "t" * 100_000},
    "an empty file id on a channel": {"channel_map": [{**ASSIGNMENT, "file_ids": [""]}]},
}


class Recorder:
    """Stands in for ``Submitter.on_audio_mixed``: counts what reached it."""

    def __init__(self) -> None:
        self.handled: list[AudioMixed] = []
        self.failed: list[str] = []

    async def on_audio_mixed(self, event: AudioMixed) -> None:
        self.handled.append(event)

    async def mark_failed(self, event: AudioMixed, stage: str, reason: str) -> bool:
        self.failed.append(event.meeting_uuid)
        return True


class Rig:
    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker
        self.submitter = Recorder()
        self.letters: list[DeadLetter] = []
        self.announced: list[MeetingFailed] = []
        policy = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)

        async def publish_failure(event: MeetingFailed) -> None:
            await publish_event(broker, INFRA, event)

        register_subscribers(
            broker,
            Consumer(broker, INFRA, "submitter", policy),
            self.submitter.on_audio_mixed,
            self.submitter,
            publish_failure=publish_failure,
            max_poll_interval_ms=60_000,
        )

        @broker.subscriber(DeadLetter.topic_for(TOPIC))
        async def dead(message: KafkaMessage) -> None:
            self.letters.append(DeadLetter.model_validate_json(message.body))

        @broker.subscriber(topic_name(INFRA, MeetingFailed.topic))
        async def failed(message: KafkaMessage) -> None:
            self.announced.append(MeetingFailed.model_validate_json(message.body))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    broker = KafkaBroker()
    rig = Rig(broker)
    async with TestKafkaBroker(broker):
        yield rig


async def test_the_valid_event_of_these_tests_reaches_the_submitter(rig: Rig) -> None:
    await rig.broker.publish(json.dumps(VALID).encode(), topic=TOPIC)
    assert len(rig.submitter.handled) == 1
    assert rig.letters == []


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_forged_audio_mixed_out_of_bounds_is_dead_lettered_before_the_submitter_runs(
    rig: Rig, name: str
) -> None:
    body = json.dumps({**VALID, **HOSTILE[name]}).encode()
    assert len(body) < 1_000_000, "fits in one Kafka message (the broker's default limit)"

    await rig.broker.publish(body, topic=TOPIC)

    assert rig.submitter.handled == [], "no part planned, no mono mix built, no provider job"
    [letter] = rig.letters
    assert letter.reason.startswith("invalid AudioMixed")
    assert (rig.submitter.failed, rig.announced) == ([], []), "the victim meeting is not failed either"


@pytest.mark.parametrize("limits", [ASSEMBLYAI_LIMITS, SYMBL_LIMITS, WHISPER_LIMITS])
def test_the_longest_valid_event_plans_a_handful_of_parts_and_a_short_filter(limits: Any) -> None:
    # What the bounds buy: the work the event's numbers decide stays small whatever a writer puts in them.
    parts = splitting.part_count(MAX_MIX_SECONDS, 1, limits.max_file_seconds, limits.max_upload_bytes)
    assert parts <= 25
    assert len(splitting.cut_windows(MAX_MIX_SECONDS, parts, limits.max_file_seconds, 120.0, 300.0)) < parts
    assert len(" ".join(downmix_args("in.opus", "out.flac", MAX_MIX_CHANNELS))) < 1000
