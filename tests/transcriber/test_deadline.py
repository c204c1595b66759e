"""A channel that never finishes (a stalled ffmpeg, a model stuck in a window) no longer holds its job for ever.

Real MongoDB, S3, the whisper Transcriber and its ffmpeg pipeline; the Kafka side in memory (TestKafkaBroker);
stand-ins for ffmpeg (tests/whisper/test_stalled_decoder.py) and the model. Each attempt runs past the channel's
deadline: the decoder is killed, the attempt counts against the retry budget, and once it is spent the job fails
with the reason and is reported, like every other transcriber failure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.events import DeadLetter, JobSubmitted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.deadline import ChannelDeadline
from zoomsymbl_transcriber.handlers import register_subscribers
from zoomsymbl_transcriber.settings import Settings
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ModelConfig, Transcriber

from tests.support.audio import sine_flac
from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted
from tests.whisper.test_stalled_decoder import STALLS, HeldModel, decoder_stand_in, end, gone, started

pytestmark = [pytest.mark.integration]
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
DEADLINE = ChannelDeadline(factor=0.1, min_seconds=1.0)
"""1 s for the work order's 10 s of audio."""


async def deliver(worker: Worker, infra: InfraSettings, event: JobSubmitted) -> list[DeadLetter]:
    """The work order through the transcriber's subscriber and the shared consumer policy; its dead letters."""
    broker, letters = KafkaBroker(), []
    consumer = Consumer(broker, infra, "transcriber", POLICY)
    register_subscribers(broker, consumer, worker, worker.on_job_submitted, max_poll_interval_ms=60_000)
    topic = topic_name(infra, JobSubmitted.topic)

    @broker.subscriber(DeadLetter.topic_for(topic))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        # Generous: each attempt ends at its 1 s deadline; without one, the first never ends.
        async with asyncio.timeout(120):
            await test_broker.publish(event.model_dump_json().encode(), topic=topic)
    return letters


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    """The work order's 10 s of audio: a tone, so every window reaches the model."""
    return sine_flac(tmp_path / "m1.flac", 10)


@pytest.mark.parametrize("stuck", ["decoder", "model"])
async def test_a_channel_that_never_finishes_is_stopped_retried_and_fails_the_job_with_the_reason(
    mongo: Mongo,
    store: ObjectStore,
    infra: InfraSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stuck: Literal["decoder", "model"],
    tone: Path,
) -> None:
    await store.put_file(M1_KEY, str(tone))
    pids = decoder_stand_in(tmp_path, monkeypatch, STALLS if stuck == "decoder" else 'exec REAL "$@"')
    model = HeldModel()
    transcriber = Transcriber(ModelConfig(Path("no-model"), window_seconds=1.0))
    transcriber._model = model  # loaded: the stand-in
    reports = Reports()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=transcriber,
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
        clock=FakeClock(),
        deadline=DEADLINE,
    )
    provider = WhisperProvider(mongo)
    job = await provider.submit(request(M1_KEY, store.bucket, channels=1))

    decoders: list[int] = []
    try:
        letters = await deliver(worker, infra, submitted(job.job_id))
        decoders = await started(pids, POLICY.max_attempts)
        for pid in decoders:  # killed, even while the model still holds a window
            await gone(pid)
    finally:
        model.gate.set()
        end(decoders)

    state = await provider.job_status(job.job_id)
    assert state.status == "failed"
    assert state.reason is not None
    assert f"gave up after {POLICY.max_attempts} attempts" in state.reason
    assert "channel 1 of 1 not transcribed within its deadline of 1 s" in state.reason
    assert [e.reported_status for e in reports.events] == ["failed"]
    [letter] = letters
    assert letter.error_type == "ChannelOverdue"
    assert len(decoders) == POLICY.max_attempts, "every attempt ran the channel again"
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None and "lease_until" not in doc


def test_the_deadline_scales_with_the_audio_and_has_a_floor() -> None:
    deadline = ChannelDeadline(factor=4.0, min_seconds=900.0)
    assert deadline.seconds(3600.0) == 14_400.0
    assert deadline.seconds(60.0) == 900.0, "a short meeting gets the floor"
    assert deadline.seconds(None) == 4.0 * 24 * 3600, "an unknown length counts as the longest work order"
    defaults = Settings.model_fields
    assert ChannelDeadline() == ChannelDeadline(
        defaults["channel_deadline_factor"].default, defaults["channel_deadline_min_seconds"].default
    ), "the worker's default is the service's"
