"""A finished job keeps its outcome: giving up on its message (the report could not be published) never fails it.

A transcription is stored ``completed`` before its report is published. When Kafka does not acknowledge the
report for longer than the consumer's outage wait, the consumer gives up on the message and the give-up hook
runs: it must report what was stored, not turn an hour of transcription into a failed meeting.

Real MongoDB and S3; the Kafka side in memory (TestKafkaBroker); a stub model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import JobStatusReported, JobSubmitted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.handlers import register_subscribers
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, request, submitted

pytestmark = [pytest.mark.integration]
# A short outage wait: the consumer gives up on the message after a few backoffs of a millisecond.
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_outage_wait=0.005)


class Kafka:
    """The report's destination: refuses every publish while ``down``; keeps what it acknowledged."""

    def __init__(self) -> None:
        self.down = False
        self.refused: list[str] = []
        self.acknowledged: list[str] = []

    async def __call__(self, event: JobStatusReported) -> None:
        if self.down:
            self.refused.append(event.reported_status)
            raise KafkaUnavailable("publish to 'provider.job-status.v1' not acknowledged: KafkaTimeoutError")
        self.acknowledged.append(event.reported_status)


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


async def deliver(worker: Worker, infra: InfraSettings, event: JobSubmitted) -> None:
    broker = KafkaBroker()
    consumer = Consumer(broker, infra, "transcriber", POLICY, sleep=_no_sleep)
    register_subscribers(broker, consumer, worker, worker.on_job_submitted, max_poll_interval_ms=60_000)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), topic=topic_name(infra, JobSubmitted.topic))


async def test_a_completed_job_whose_report_cannot_be_published_is_never_failed_and_is_reported_completed(
    mongo: Mongo, store: ObjectStore, infra: InfraSettings, tmp_path: Path
) -> None:
    audio = tmp_path / "m1.flac"
    audio.write_bytes(b"stub audio: the stub model does not read it")
    await store.put_file(M1_KEY, str(audio))
    job = await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket))
    kafka, model = Kafka(), StubTranscriber()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=model,
        publish=kafka,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
    )
    kafka.down = True

    # The hook's own report fails too: the outage propagates, the offset is not committed (redelivered later).
    with pytest.raises(KafkaUnavailable):
        await deliver(worker, infra, submitted(job.job_id))

    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None
    assert doc["status"] == "completed", f"the stored transcript was failed by the give-up: {doc.get('error')!r}"
    assert [u["text"] for u in doc["utterances"]] == ["line 1", "line 2"]
    assert "failed" not in kafka.refused, "no failure was ever announced for a transcribed meeting"

    kafka.down = False  # Kafka is back: the message comes again
    await deliver(worker, infra, submitted(job.job_id))
    assert kafka.acknowledged == ["completed"]
    assert model.channels == [1, 2], "transcribed once"
    assert (await WhisperProvider(mongo).job_status(job.job_id)).status == "completed"


async def test_giving_up_on_a_finished_job_reports_its_stored_outcome(
    mongo: Mongo, store: ObjectStore, infra: InfraSettings, tmp_path: Path
) -> None:
    """The hook also runs after a poison verdict or spent attempts; a job already finished keeps its outcome."""
    provider = WhisperProvider(mongo)
    kafka = Kafka()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=StubTranscriber(),
        publish=kafka,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
    )
    done = await provider.submit(request(M1_KEY, store.bucket))
    await mongo.db[TRANSCRIPTIONS].update_one(
        {"_id": done.job_id}, {"$set": {"status": "completed", "utterances": [], "model": "stub"}}
    )
    failed = await provider.submit(request(M1_KEY, store.bucket))
    await mongo.db[TRANSCRIPTIONS].update_one(
        {"_id": failed.job_id}, {"$set": {"status": "failed", "error": "ffmpeg could not decode channel 1: 'x'"}}
    )
    running = await provider.submit(request(M1_KEY, store.bucket))

    for job_id in (done.job_id, failed.job_id, running.job_id):
        await worker.give_up(submitted(job_id), "retry", "gave up after 3 attempts: KeyError: 'x'")

    assert kafka.acknowledged == ["completed", "failed", "failed"]
    assert (await provider.job_status(done.job_id)).status == "completed"
    first_reason = (await provider.job_status(failed.job_id)).reason
    assert first_reason is not None and "could not decode" in first_reason, "the first reason is kept"
    last = await provider.job_status(running.job_id)
    assert last.status == "failed" and last.reason is not None and "KeyError" in last.reason
