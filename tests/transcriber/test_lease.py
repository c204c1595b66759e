"""A worker keeps its lease while a channel runs longer than the lease: nobody takes the job over mid-run."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
from zoomsymbl_common.errors import HeldElsewhere
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance, Transcriber

from tests.support.eventually import eventually
from tests.transcriber.test_worker import M1_KEY, Reports, request, submitted

pytestmark = pytest.mark.integration
LEASE = 0.9  # seconds: a channel held open far longer than this


class HeldChannel:
    """A model whose channel lasts until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finish = asyncio.Event()

    async def transcribe_channel(self, path: Path, channel: int) -> list[ChannelUtterance]:
        self.started.set()
        await self.finish.wait()
        return [ChannelUtterance(channel=channel, start_seconds=0.0, end_seconds=1.0, text="done")]


def worker(mongo: Mongo, store: ObjectStore, model: Any, owner: str, tmp_path: Path) -> Worker:
    return Worker(
        mongo=mongo,
        store_for=lambda bucket: store,
        transcriber=cast(Transcriber, model),
        publish=Reports(),
        scratch_dir=tmp_path / owner,
        owner=owner,
        lease_seconds=LEASE,
        model_name="stub",
    )


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
