"""A worker keeps its lease while a channel runs longer than the lease: nobody takes the job over mid-run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ExecutionTimeout
from zoomsymbl_common.errors import HeldElsewhere
from zoomsymbl_common.mongo import Document, Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance

from tests.support.eventually import eventually
from tests.transcriber.test_handlers import StubTranscriber
from tests.transcriber.test_worker import M1_KEY, Reports, make_worker, request, submitted

pytestmark = pytest.mark.integration
LEASE = 0.9  # seconds: a channel held open far longer than this


class HeldChannel:
    """A model whose channel lasts until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finish = asyncio.Event()

    def language_for(self, tag: str | None) -> str | None:
        return "en"

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        self.started.set()
        await self.finish.wait()
        return [ChannelUtterance(channel=channel, start_seconds=0.0, end_seconds=1.0, text="done")]


def worker(
    mongo: Mongo,
    store: ObjectStore,
    model: Any,
    owner: str,
    tmp_path: Path,
    *,
    kind: Callable[..., Worker] = Worker,
    lease: float = LEASE,
) -> Worker:
    return make_worker(mongo, store, model, tmp_path, owner=owner, kind=kind, lease_seconds=lease)


async def test_the_lease_is_renewed_while_a_channel_outlasts_it(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    audio = tmp_path / "audio.flac"
    audio.write_bytes(b"not read by the stub model")
    await store.put_file(M1_KEY, str(audio))
    job = await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket, channels=1))
    model = HeldChannel()
    first_worker = worker(mongo, store, model, "first", tmp_path)
    running = asyncio.create_task(first_worker.on_job_submitted(submitted(job.job_id)))
    try:
        await asyncio.wait_for(model.started.wait(), 30)
        first = await lease_until(mongo, job.job_id)

        async def renewed_twice_past_the_first_lease() -> datetime | None:
            now = await lease_until(mongo, job.job_id)
            return now if (now - first).total_seconds() > LEASE else None

        await eventually(renewed_twice_past_the_first_lease, timeout=30, what="the lease renewed during the channel")
        with pytest.raises(HeldElsewhere):  # past the first lease, the job is still held
            await worker(mongo, store, HeldChannel(), "second", tmp_path).on_job_submitted(submitted(job.job_id))
    finally:
        model.finish.set()
        await asyncio.wait_for(running, 30)
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None and (doc["status"], doc["owner"]) == ("completed", "first")


async def lease_until(mongo: Mongo, job_id: str) -> datetime:
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
    assert doc is not None and doc.get("lease_until") is not None, doc
    return cast(datetime, doc["lease_until"])


class RenewalRefused:
    """``transcriptions``, whose first lease renewal MongoDB answers with an error (a reachable server that fails
    the write: an overloaded one past its time limit, FerretDB whose backing database failed it)."""

    def __init__(self, real: Any, refused: asyncio.Event) -> None:
        self._real = real
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def update_one(self, query: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        if set(update.get("$set", {})) == {"lease_until"} and not self.refused.is_set():
            self.refused.set()
            raise ExecutionTimeout("operation exceeded time limit", 50)
        return await self._real.update_one(query, update, *args, **kwargs)


@dataclass
class RefusedOnceWorker(Worker):
    refused: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        return cast(AsyncCollection[Document], RenewalRefused(self.mongo.db[TRANSCRIPTIONS], self.refused))


async def test_a_renewal_mongodb_fails_costs_neither_the_run_nor_its_outcome(
    mongo: Mongo, store: ObjectStore, tmp_path: Path
) -> None:
    """Before, the renewal's error ended the renewals for the rest of the run and was raised when the run ended:
    a channel transcribed in full was thrown away and transcribed again by the retry (a permanent failure such
    as undecodable audio retried as a bug instead)."""
    audio = tmp_path / "audio.flac"
    audio.write_bytes(b"not read by the stub model")
    await store.put_file(M1_KEY, str(audio))
    job = await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket, channels=1))
    model = StubTranscriber()
    this = worker(mongo, store, model, "this-worker", tmp_path, kind=RefusedOnceWorker, lease=0.3)
    assert isinstance(this, RefusedOnceWorker)
    model.gate = this.refused  # the channel ends once a renewal has failed under it

    await this.on_job_submitted(submitted(job.job_id))

    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job.job_id})
    assert doc is not None and (doc["status"], [u["text"] for u in doc["utterances"]]) == ("completed", ["line 1"])
    assert model.channels == [1], "transcribed once"
    assert [e.reported_status for e in cast(Reports, this.publish).events] == ["completed"]


async def test_the_renewals_go_on_after_one_mongodb_failed(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> None:
    # The job is not this worker's: the renewal after the failed one finds that, and the renewals return.
    job = await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket, channels=1))
    this = worker(mongo, store, StubTranscriber(), "this-worker", tmp_path, kind=RefusedOnceWorker, lease=0.03)
    assert isinstance(this, RefusedOnceWorker)

    await this._renew_lease(job.job_id)

    assert this.refused.is_set()
