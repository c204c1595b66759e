"""A forged ``provider.job-submitted.v1`` work order with an oversized job id is refused when it is parsed.

Before, the transcriber handled it: looked the id up in MongoDB, gave up (no such transcription) and reported
``JobStatusReported(status=failed)`` on ``provider.job-status.v1``, a 100 kB job id copied into it: one forged
message became a second one for the notifier. Real MongoDB; the Kafka side in memory (TestKafkaBroker); a stub model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.events import DeadLetter, JobSubmitted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import MEETINGS, TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.handlers import register_subscribers
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ModelConfig, Transcriber

from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

pytestmark = [pytest.mark.integration]
POLICY = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002)


def no_store(bucket: str) -> ObjectStore:
    raise ConfigError(f"no object may be read in this test (bucket {bucket!r})")


def stub_worker(mongo: Mongo, reports: Reports, tmp_path: Path, kind: Callable[..., Worker] = Worker) -> Worker:
    """A worker that may read no audio and has no model: these work orders must never get that far."""
    return kind(
        mongo=mongo,
        store_for=no_store,
        transcriber=Transcriber(ModelConfig(Path("no-model"))),
        publish=reports,
        scratch_dir=tmp_path / "scratch",
        owner="this-worker",
        lease_seconds=900,
        model_name="stub",
        decoding="test",
        clock=FakeClock(),
    )


@pytest.mark.parametrize("field", ["job_id", "conversation_id"])
async def test_a_work_order_with_a_100_kb_id_is_dead_lettered_and_not_echoed(
    mongo: Mongo, infra: InfraSettings, tmp_path: Path, field: str
) -> None:
    reports = Reports()
    worker = stub_worker(mongo, reports, tmp_path)
    broker = KafkaBroker()
    register_subscribers(
        broker,
        Consumer(broker, infra, "transcriber", POLICY),
        worker,
        worker.on_job_submitted,
        max_poll_interval_ms=60_000,
    )
    topic = topic_name(infra, JobSubmitted.topic)
    letters: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(topic))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    body = json.loads(submitted("whisper-0123").model_dump_json())
    body[field] = "whisper-" + "x" * 100_000
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(json.dumps(body).encode(), topic=topic)

    assert reports.events == [], "nothing echoed on provider.job-status.v1"
    [letter] = letters
    assert letter.reason.startswith("invalid JobSubmitted")


async def deliver_to(worker: Worker, infra: InfraSettings, event: JobSubmitted) -> list[DeadLetter]:
    broker = KafkaBroker()
    register_subscribers(
        broker, Consumer(broker, infra, "transcriber", POLICY), worker, worker.on_job_submitted,
        max_poll_interval_ms=60_000,
    )  # fmt: skip
    topic = topic_name(infra, JobSubmitted.topic)
    letters: list[DeadLetter] = []

    @broker.subscriber(DeadLetter.topic_for(topic))
    async def dead(message: KafkaMessage) -> None:
        letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event.model_dump_json().encode(), topic=topic)
    return letters


@pytest.mark.parametrize(("tenant", "meeting", "status"), [("beta", "m1", "scheduled"), ("acme", "m2", "completed")])
async def test_a_work_order_named_by_another_tenants_or_meetings_event_is_left_alone(
    mongo: Mongo, infra: InfraSettings, tmp_path: Path, tenant: str, meeting: str, status: str
) -> None:
    """acme's job id in an event of tenant beta (or of acme's meeting m2): dead-lettered, the job untouched.

    Before, a scheduled job was transcribed under the forger's ids (its progress written onto their meeting)
    and a finished one reported again; a give-up would have failed acme's transcription.
    """
    reports = Reports()
    worker = stub_worker(mongo, reports, tmp_path)
    job = await WhisperProvider(mongo).submit(request(M1_KEY, "zoomsymbl-audio"))
    await mongo.db[TRANSCRIPTIONS].update_one({"_id": job.job_id}, {"$set": {"status": status}})
    before = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})

    forged = submitted(job.job_id).model_copy(update={"tenant": tenant, "meeting_uuid": meeting})
    [letter] = await deliver_to(worker, infra, forged)

    assert "not a work order of this event's tenant and meeting" in letter.reason
    assert reports.events == [], "nothing reported for the job"
    assert await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id}) == before, "the job is untouched"
    assert await mongo.db[MEETINGS].count_documents({}) == 0, "no progress written onto any meeting"


class ReadsFailing:
    """``transcriptions``, whose first ``failures`` reads MongoDB answers with a refusal (reachable, failing them: a
    backend's error; a role without the read, a time limit or a lost cursor are waited out, which spends no attempt)."""

    def __init__(self, real: Any, failures: int) -> None:
        self._real = real
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise OperationFailure("backend: relation locked", 1, {"codeName": "InternalError"})
        return await self._real.find_one(*args, **kwargs)


@dataclass
class ReadsFailingWorker(Worker):
    reads: ReadsFailing | None = None

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        if self.reads is None:
            self.reads = ReadsFailing(self.mongo.db[TRANSCRIPTIONS], POLICY.max_attempts)
        return cast(AsyncCollection[Document], self.reads)


@pytest.mark.parametrize(("tenant", "meeting"), [("beta", "m1"), ("acme", "m2")])
async def test_a_foreign_work_order_given_up_before_its_check_leaves_the_job_alone(
    mongo: Mongo, infra: InfraSettings, tmp_path: Path, tenant: str, meeting: str
) -> None:
    """The work order's read fails on every attempt (MongoDB refusing it), so the retry budget is spent before
    the job is found foreign. Before, the give-up failed acme's scheduled job and reported it under the forger's ids."""
    reports = Reports()
    worker = stub_worker(mongo, reports, tmp_path, kind=ReadsFailingWorker)
    job = await WhisperProvider(mongo).submit(request(M1_KEY, "zoomsymbl-audio"))
    before = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})

    forged = submitted(job.job_id).model_copy(update={"tenant": tenant, "meeting_uuid": meeting})
    [letter] = await deliver_to(worker, infra, forged)

    assert f"gave up after {POLICY.max_attempts} attempts" in letter.reason
    assert reports.events == [], "nothing reported for the job"
    assert await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id}) == before, "the job is untouched"


async def test_a_work_order_naming_no_job_is_dead_lettered_and_nothing_is_reported(
    mongo: Mongo, infra: InfraSettings, tmp_path: Path
) -> None:
    """Before, the give-up reported ``failed`` for the job nobody recorded: a second message for the notifier, which
    dead-letters it (no such job); its sweeper already fails a job whose work order is gone."""
    reports = Reports()
    [letter] = await deliver_to(stub_worker(mongo, reports, tmp_path), infra, submitted("whisper-nobody-recorded"))

    assert "no transcription 'whisper-nobody-recorded'" in letter.reason
    assert reports.events == []


@pytest.mark.parametrize(
    ("stored", "field"),
    [({"channels": 10**9}, "channels"), ({"duration_seconds": 1e300}, "duration_seconds")],
)
async def test_a_work_order_of_more_channels_or_length_than_a_mix_has_is_refused_before_any_work(
    mongo: Mongo, infra: InfraSettings, tmp_path: Path, stored: dict[str, float], field: str
) -> None:
    """Before, a stored channel count was trusted: a billion channels meant a billion checkpoint queries and a
    dictionary as large before the count was checked against the audio (hours, or the process out of memory, the job
    retried); an infinite length made the channel deadline infinite (the local server refuses to store infinity, a
    MongoDB does not: 1e300 stands in here, as far past any mix). A work order is bounded as a mix is."""
    reports = Reports()
    job = await WhisperProvider(mongo).submit(request(M1_KEY, "zoomsymbl-audio"))
    await mongo.db[TRANSCRIPTIONS].update_one({"_id": job.job_id}, {"$set": stored})

    [letter] = await deliver_to(stub_worker(mongo, reports, tmp_path), infra, submitted(job.job_id))

    assert field in letter.reason and "no object may be read" not in letter.reason
