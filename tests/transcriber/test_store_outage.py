"""MongoDB out of reach for a moment while a job runs costs the job nothing it has already transcribed.

A job's channels live only in the worker's memory until the job's result is stored. Before, an outage at the
progress write after a channel, or at the final write of the transcript, left the run as an outage: the consumer
waited it out and ran the job again from the download, every channel transcribed again (hours of a long meeting
on CPU) for one failed write. A failover of the replica set or a restart of the database outlasts the client's
2 s timeout.

Real MongoDB (the failed write is sent to a port nobody listens on: pymongo's own error), real S3, the shared
consumer policy on the in-memory broker, a stub model that counts the channels it transcribes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.mongo import Document, Mongo, make_mongo
from zoomsymbl_common.records import MEETINGS, TRANSCRIPTIONS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import KEY, Rig, rig  # noqa: F401 (the fixture)
from tests.transcriber.test_worker import request, submitted

pytestmark = [pytest.mark.integration]
Writes = Callable[[Document], bool]


@pytest.fixture
def job_rig(rig: Rig) -> Rig:  # noqa: F811 (the imported fixture)
    """The handler tests' rig: a stub model, a two-channel job's audio in the real bucket."""
    return rig


@pytest.fixture
async def away(infra: InfraSettings) -> AsyncIterator[Mongo]:
    """A client of a MongoDB nobody runs: its writes fail as an outage does (ServerSelectionTimeoutError)."""
    nowhere = {"mongo_uri": SecretStr("mongodb://127.0.0.1:1/"), "mongo_timeout_ms": 200}
    client = make_mongo(infra.model_copy(update=nowhere))
    yield client
    await client.close()


class Outage:
    """A collection whose next ``count`` updates that ``hit`` picks are sent to ``away`` (which fails them)."""

    def __init__(self, real: Any, away: Any, hit: Writes, count: int) -> None:
        self._real, self._away, self.hit, self.left, self.failed = real, away, hit, count, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def update_one(self, query: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        if self.left > 0 and self.hit(update):
            self.left -= 1
            self.failed += 1
            return await self._away.update_one(query, update, *args, **kwargs)
        return await self._real.update_one(query, update, *args, **kwargs)


@dataclass
class OutageWorker(Worker):
    """A worker whose ``transcriptions`` and ``meetings`` writes go through :class:`Outage` s."""

    outages: dict[str, Outage] = field(default_factory=dict)

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        return cast(AsyncCollection[Document], self.outages[TRANSCRIPTIONS])


def progress(update: Document) -> bool:
    return any(name == "progress" or name.startswith("transcription_parts.") for name in update.get("$set", {}))


def transcript(update: Document) -> bool:
    return bool(update.get("$set", {}).get("status") == "completed")


def never(update: Document) -> bool:
    return False


def with_outage(on: Rig, away: Mongo, jobs: Writes, meetings: Writes, count: int) -> tuple[OutageWorker, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    mongo = on.worker.mongo
    fields = {f.name: getattr(on.worker, f.name) for f in dataclasses.fields(Worker) if f.init}
    worker = OutageWorker(**fields)
    worker.sleep = sleep  # the waits of the worker's own tries, not the consumer's
    worker.outages = {
        TRANSCRIPTIONS: Outage(mongo.db[TRANSCRIPTIONS], away.db[TRANSCRIPTIONS], jobs, count),
        MEETINGS: Outage(mongo.db[MEETINGS], away.db[MEETINGS], meetings, count),
    }
    # The meeting's progress is written through ``mongo.db[MEETINGS]``: the worker's client, whose db is swapped.
    worker.mongo = cast(Mongo, _Client(mongo, worker.outages[MEETINGS]))
    on.worker = worker
    return worker, waits


@dataclass
class _Client:
    """``mongo`` whose ``db[MEETINGS]`` is the outage's collection."""

    real: Mongo
    meetings: Outage

    @property
    def db(self) -> Any:
        return _Db(self.real.db, self.meetings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@dataclass
class _Db:
    real: Any
    meetings: Outage

    def __getitem__(self, name: str) -> Any:
        return self.meetings if name == MEETINGS else self.real[name]


async def _transcribed(on: Rig, job_id: str) -> tuple[str, list[str]]:
    doc = await on.job(job_id)
    return doc["status"], [u["text"] for u in doc.get("utterances", [])]


@pytest.mark.parametrize(
    ("jobs", "meetings"),
    [(progress, never), (never, progress)],
    ids=["job-progress", "meeting-progress"],
)
async def test_an_outage_at_a_progress_write_transcribes_no_channel_twice(
    job_rig: Rig, away: Mongo, jobs: Writes, meetings: Writes
) -> None:
    await job_rig.worker.mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1"})
    worker, _ = with_outage(job_rig, away, jobs, meetings, count=1)
    order = await job_rig.provider.submit(request(KEY, job_rig.store.bucket))

    await job_rig.deliver(submitted(order.job_id))

    outage = worker.outages[TRANSCRIPTIONS if jobs is progress else MEETINGS]
    assert outage.failed == 1, "the progress write after channel 1 met the outage"
    assert (job_rig.store.downloads, job_rig.model.channels) == (1, [1, 2]), "each channel transcribed once"
    assert await _transcribed(job_rig, order.job_id) == ("completed", ["line 1", "line 2"])
    assert [e.reported_status for e in job_rig.reports.events] == ["completed"]
    assert job_rig.letters == []


async def test_an_outage_at_the_transcripts_write_stores_it_once_mongodb_is_back(job_rig: Rig, away: Mongo) -> None:
    worker, waits = with_outage(job_rig, away, transcript, never, count=3)
    order = await job_rig.provider.submit(request(KEY, job_rig.store.bucket))

    await job_rig.deliver(submitted(order.job_id))

    assert worker.outages[TRANSCRIPTIONS].failed == 3
    assert (job_rig.store.downloads, job_rig.model.channels) == (1, [1, 2]), "the transcript kept in memory, not redone"
    assert len(waits) == 3 and waits == sorted(waits), "waited before each new try, longer each time"
    assert await _transcribed(job_rig, order.job_id) == ("completed", ["line 1", "line 2"])
    assert [e.reported_status for e in job_rig.reports.events] == ["completed"]
    assert job_rig.letters == []


async def test_an_outage_outlasting_the_lease_is_left_to_the_consumer(job_rig: Rig, away: Mongo) -> None:
    """Past the lease (no renewals while the result waits) the job may be another worker's: the write is not tried
    in place any longer, and the outage is the consumer's to wait out, as before."""
    worker, waits = with_outage(job_rig, away, transcript, never, count=1_000)
    worker.lease_seconds = 60.0
    order = await job_rig.provider.submit(request(KEY, job_rig.store.bucket))

    with pytest.raises(MongoUnavailable):
        await worker.on_job_submitted(submitted(order.job_id))

    assert 0 < sum(waits) <= 60.0
    assert (await job_rig.job(order.job_id))["status"] == "in_progress"
    assert job_rig.reports.events == []
