"""A whisper job through the shared consumer policy: a failure inside the job is retried, not blamed on a lease.

Real MongoDB and S3; the Kafka side in memory (TestKafkaBroker); a stub model, so only the job's flow runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import ConfigError, RetryableError, StorageUnavailable
from zoomsymbl_common.events import DeadLetter, JobSubmitted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStat, ObjectStore
from zoomsymbl_transcriber.handlers import register_subscribers
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance, ModelConfig, Transcriber

from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

pytestmark = [pytest.mark.integration]
KEY = M1_KEY
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


class FlakyStore(ObjectStore):
    """The real bucket, whose downloads first raise ``failures`` in turn; ``downloads`` and ``sizes`` count every try
    of a download and of the size (and ETag) read before it."""

    def __init__(self, infra: InfraSettings, failures: list[BaseException]) -> None:
        super().__init__(infra)
        self.failures = failures
        self.downloads = 0
        self.sizes = 0

    async def stat(self, key: str) -> ObjectStat:
        self.sizes += 1
        return await super().stat(key)

    async def get_file(self, key: str, path: str, *, chunk_size: int = 1 << 20) -> None:
        self.downloads += 1
        if self.failures:
            raise self.failures.pop(0)
        await super().get_file(key, path, chunk_size=chunk_size)


class StubTranscriber(Transcriber):
    """One utterance per channel; ``gate`` (when set) holds every channel until it opens."""

    def __init__(self) -> None:
        super().__init__(ModelConfig(Path("no-model")))
        self.channels: list[int] = []
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.busy = False

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        if self.busy:
            raise AssertionError("a second transcription started while one is in flight")
        self.busy = True
        self.channels.append(channel)
        self.started.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
        finally:
            self.busy = False
        return [ChannelUtterance(channel, float(channel), channel + 1.0, f"line {channel}")]


@dataclass
class Rig:
    worker: Worker
    store: FlakyStore
    model: StubTranscriber
    reports: Reports
    provider: WhisperProvider
    infra: InfraSettings
    letters: list[DeadLetter] = field(default_factory=list)

    async def deliver(self, event: JobSubmitted, sleep: Callable[[float], Awaitable[None]] = _no_sleep) -> None:
        """The work order through the transcriber's subscriber and the shared consumer policy."""
        broker = KafkaBroker()
        consumer = Consumer(broker, self.infra, "transcriber", POLICY, sleep=sleep)
        worker = self.worker
        register_subscribers(broker, consumer, worker, worker.on_job_submitted, max_poll_interval_ms=60_000)
        topic = topic_name(self.infra, JobSubmitted.topic)

        @broker.subscriber(DeadLetter.topic_for(topic))
        async def dead(message: KafkaMessage) -> None:
            self.letters.append(DeadLetter.model_validate_json(message.body))

        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(event.model_dump_json().encode(), topic=topic)

    async def job(self, job_id: str) -> dict[str, Any]:
        doc = await self.worker.mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
        assert doc is not None
        return doc


@pytest.fixture
async def rig(mongo: Mongo, store: ObjectStore, infra: InfraSettings, tmp_path: Path) -> AsyncIterator[Rig]:
    audio = tmp_path / "m1.flac"
    audio.write_bytes(b"stub audio: the stub model does not read it")
    await store.put_file(KEY, str(audio))
    flaky, model, reports = FlakyStore(infra, []), StubTranscriber(), Reports()
    worker = Worker(
        mongo=mongo,
        store_for=lambda bucket: flaky,
        transcriber=model,
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
        clock=FakeClock(),  # stands still: every retry comes while the first claim's lease is live
    )
    yield Rig(worker, flaky, model, reports, WhisperProvider(mongo), infra)


async def test_an_s3_outage_during_the_download_is_waited_out_and_the_job_completes(rig: Rig) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    rig.store.failures.append(StorageUnavailable("ReadTimeout: read timed out"))

    await rig.deliver(submitted(job.job_id))

    assert (await rig.provider.job_status(job.job_id)).status == "completed"
    assert [e.reported_status for e in rig.reports.events] == ["completed"]
    assert rig.letters == []
    assert (rig.store.downloads, rig.model.channels) == (2, [1, 2]), "transcribed once, after the outage"
    assert [u["text"] for u in (await rig.job(job.job_id))["utterances"]] == ["line 1", "line 2"]


async def test_a_bug_inside_the_job_is_retried_by_the_same_worker_and_the_job_completes(rig: Rig) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    rig.store.failures.append(KeyError("Content-Length"))

    await rig.deliver(submitted(job.job_id))

    assert (await rig.provider.job_status(job.job_id)).status == "completed"
    assert [e.reported_status for e in rig.reports.events] == ["completed"]
    assert rig.letters == []


async def test_a_job_that_keeps_failing_gives_up_with_what_really_failed(rig: Rig) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    rig.store.failures.extend(KeyError("Content-Length") for _ in range(POLICY.max_attempts))

    await rig.deliver(submitted(job.job_id))

    state = await rig.provider.job_status(job.job_id)
    assert state.status == "failed"
    assert state.reason is not None and "KeyError" in state.reason and "another worker" not in state.reason
    assert rig.store.downloads == POLICY.max_attempts, "every attempt ran the job again"
    [letter] = rig.letters
    assert letter.error_type == "KeyError"
    assert [e.reported_status for e in rig.reports.events] == ["failed"]


async def test_a_job_held_by_another_worker_is_waited_for_without_spending_attempts_and_taken_over_when_its_lease_ends(
    rig: Rig,
) -> None:
    """A restart after kill -9 (a new owner id) finds its old lease: it waits the lease out, never fails the job."""
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    clock = rig.worker.clock
    assert isinstance(clock, FakeClock)
    lease = clock() + timedelta(minutes=15)
    await rig.worker.mongo.db[TRANSCRIPTIONS].update_one(
        {"_id": job.job_id}, {"$set": {"status": "in_progress", "owner": "other-worker", "lease_until": lease}}
    )
    waits: list[tuple[float, int]] = []

    async def sleep(seconds: float) -> None:  # time passes while the consumer waits: the lease runs out
        waits.append((seconds, rig.store.downloads))
        clock.advance(seconds)

    await rig.deliver(submitted(job.job_id), sleep=sleep)

    assert len(waits) > POLICY.max_attempts, "more waits than the attempt budget: none of them spent it"
    assert all(downloads == 0 for _, downloads in waits), "not run while the other worker's lease was live"
    assert rig.letters == []
    assert (await rig.provider.job_status(job.job_id)).status == "completed"
    assert (rig.store.downloads, rig.model.channels) == (1, [1, 2]), "taken over once the lease ran out"
    assert (await rig.job(job.job_id))["owner"] == "this-worker"


async def test_a_second_delivery_while_this_worker_runs_the_job_does_not_run_it_again(rig: Rig) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket, channels=1))
    rig.model.gate = asyncio.Event()
    first = asyncio.create_task(rig.worker.on_job_submitted(submitted(job.job_id)))
    await rig.model.started.wait()

    with pytest.raises(RetryableError, match="already being transcribed"):
        await rig.worker.on_job_submitted(submitted(job.job_id))

    rig.model.gate.set()
    await first
    assert (rig.store.downloads, rig.model.channels) == (1, [1])
    assert (await rig.provider.job_status(job.job_id)).status == "completed"


async def test_audio_gone_from_the_bucket_fails_the_job_at_once_naming_it(rig: Rig) -> None:
    """Deleted, or expired by a lifecycle rule before its turn came: no retry brings it back."""
    gone = M1_KEY.replace(".flac", ".part2.flac")  # a key of the meeting that the bucket does not hold
    job = await rig.provider.submit(request(gone, rig.store.bucket))

    await rig.deliver(submitted(job.job_id))

    state = await rig.provider.job_status(job.job_id)
    assert state.status == "failed"
    assert state.reason is not None and f"{gone!r} not found" in state.reason
    assert (rig.store.sizes, rig.store.downloads) == (1, 0), "found gone by the size read before the download"
    assert rig.letters == []
    assert [e.reported_status for e in rig.reports.events] == ["failed"]


async def test_a_job_naming_a_bucket_that_is_not_ours_fails_at_once(rig: Rig) -> None:
    job = await rig.provider.submit(request(KEY, "someone-elses-bucket"))

    def store_for(bucket: str) -> ObjectStore:  # the rule of the service's own (app.py) store_for
        if bucket != rig.store.bucket:
            raise ConfigError(f"transcription audio in bucket {bucket!r}, not the configured {rig.store.bucket!r}")
        return rig.store

    rig.worker.store_for = store_for
    await rig.deliver(submitted(job.job_id))

    state = await rig.provider.job_status(job.job_id)
    assert state.status == "failed" and state.reason is not None and "someone-elses-bucket" in state.reason
    assert rig.store.downloads == 0 and rig.letters == []


async def test_a_run_cancelled_by_a_shutdown_lets_its_lease_go_and_another_worker_takes_the_job_at_once(
    rig: Rig,
) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket, channels=1))
    rig.model.gate = asyncio.Event()
    running = asyncio.create_task(rig.worker.on_job_submitted(submitted(job.job_id)))
    await rig.model.started.wait()

    running.cancel()  # SIGTERM: the service cancels what is still running after its grace period
    with pytest.raises(asyncio.CancelledError):
        await running
    stored = await rig.job(job.job_id)
    assert (stored["status"], stored["owner"]) == ("in_progress", "this-worker")

    clock = rig.worker.clock
    assert isinstance(clock, FakeClock)
    clock.advance(1.0)  # a second later, not the 900 s of the lease
    rig.model.gate.set()
    successor = dataclasses.replace(rig.worker, owner="next-worker")
    await successor.on_job_submitted(submitted(job.job_id))
    assert (await rig.provider.job_status(job.job_id)).status == "completed"
    assert (await rig.job(job.job_id))["owner"] == "next-worker"
