"""Two workers, one job: a worker whose lease ran out and was taken over stops and leaves the job to its new owner.

A lease runs out under a live worker when its renewals do not land (MongoDB out of reach for longer than the
lease, a paused process): another worker then takes the job over, as after a crash. The first worker must not
keep transcribing (a second model run for nothing), nor store its result over the new owner's run, nor report.

Real MongoDB and S3; stub models that hold their channel until the test lets them finish.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import HeldElsewhere
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.providers.whisper import WhisperProvider
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_transcriber.worker import Worker
from zoomsymbl_whisper import ChannelUtterance

from tests.support.eventually import eventually
from tests.transcriber.test_worker import M1_KEY, Reports, make_worker, request, submitted

pytestmark = pytest.mark.integration


class HeldChannel:
    """A model whose channel lasts until the test lets it finish; says whether its caller went away."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.cancelled = False

    def language_for(self, tag: str | None) -> str | None:
        return "en"

    async def transcribe_channel(
        self, path: Path, channel: int, *, language: str | None = None
    ) -> list[ChannelUtterance]:
        self.started.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return [ChannelUtterance(channel=channel, start_seconds=0.0, end_seconds=1.0, text=self.text)]


def worker(mongo: Mongo, store: ObjectStore, model: HeldChannel, owner: str, tmp_path: Path, **kw: Any) -> Worker:
    return make_worker(mongo, store, model, tmp_path, owner=owner, **kw)


@pytest.fixture
async def job_id(mongo: Mongo, store: ObjectStore, tmp_path: Path) -> str:
    audio = tmp_path / "audio.flac"
    audio.write_bytes(b"not read by the stub models")
    await store.put_file(M1_KEY, str(audio))
    return (await WhisperProvider(mongo).submit(request(M1_KEY, store.bucket, channels=1))).job_id


async def stored(mongo: Mongo, job_id: str) -> dict[str, Any]:
    doc = await mongo.db[TRANSCRIPTIONS].find_one({"_id": job_id})
    assert doc is not None
    return doc


async def test_a_worker_whose_renewal_finds_the_job_taken_over_stops_its_run_and_leaves_the_job_alone(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, job_id: str
) -> None:
    # The first worker's clock stands still: each renewal writes the same lease, which real time passes,
    # as when its renewals do not land. The second worker (real clock) then finds the lease run out.
    slow_model, new_model = HeldChannel("first"), HeldChannel("second")
    first = worker(mongo, store, slow_model, "first", tmp_path, lease_seconds=0.9, clock=FakeClock())
    second = worker(mongo, store, new_model, "second", tmp_path)
    running = asyncio.create_task(first.on_job_submitted(submitted(job_id)))
    taking_over: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(slow_model.started.wait(), 30)

        async def lease_run_out() -> bool:
            doc = await stored(mongo, job_id)
            return bool(doc["lease_until"].replace(tzinfo=utcnow().tzinfo) < utcnow())

        await eventually(lease_run_out, timeout=30, what="the first worker's lease to run out")
        taking_over = asyncio.create_task(second.on_job_submitted(submitted(job_id)))
        await asyncio.wait_for(new_model.started.wait(), 30)

        async def first_stopped() -> bool:
            return running.done()

        await eventually(first_stopped, timeout=30, what="the first worker to stop once its lease was taken over")
        with pytest.raises(HeldElsewhere, match="taken over"):
            await running  # waited out without spending attempts: the next try finds the new owner's outcome
        assert slow_model.cancelled, "its model run was stopped, not left running for nothing"
        doc = await stored(mongo, job_id)
        assert (doc["status"], doc["owner"]) == ("in_progress", "second")
        assert cast(Reports, first.publish).events == []

        new_model.finish.set()
        await asyncio.wait_for(taking_over, 30)
    finally:
        slow_model.finish.set()
        new_model.finish.set()
        for task in (running, taking_over):
            if task is not None:
                await asyncio.wait([task], timeout=30)
    doc = await stored(mongo, job_id)
    assert (doc["status"], doc["owner"]) == ("completed", "second")
    assert [u["text"] for u in doc["utterances"]] == ["second"]
    assert [e.reported_status for e in cast(Reports, second.publish).events] == ["completed"]


async def test_a_worker_that_finishes_after_its_job_was_taken_over_neither_stores_nor_reports(
    mongo: Mongo, store: ObjectStore, tmp_path: Path, job_id: str
) -> None:
    # The first worker's lease ran out before its next renewal was due (a long pause of the process):
    # its clock is a lease behind, so the lease it writes is over when written.
    behind = FakeClock(utcnow() - timedelta(seconds=1000))
    slow_model, new_model = HeldChannel("first"), HeldChannel("second")
    first = worker(mongo, store, slow_model, "first", tmp_path, clock=behind)
    second = worker(mongo, store, new_model, "second", tmp_path)
    running = asyncio.create_task(first.on_job_submitted(submitted(job_id)))
    taking_over: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(slow_model.started.wait(), 30)
        taking_over = asyncio.create_task(second.on_job_submitted(submitted(job_id)))
        await asyncio.wait_for(new_model.started.wait(), 30)

        slow_model.finish.set()  # the first worker's channel ends while the second worker runs the job
        with pytest.raises(HeldElsewhere, match="taken over"):
            await asyncio.wait_for(running, 30)
        doc = await stored(mongo, job_id)
        assert (doc["status"], doc["owner"]) == ("in_progress", "second"), "the new owner's run is not overwritten"
        assert "utterances" not in doc
        assert cast(Reports, first.publish).events == []

        new_model.finish.set()
        await asyncio.wait_for(taking_over, 30)
    finally:
        slow_model.finish.set()
        new_model.finish.set()
        for task in (running, taking_over):
            if task is not None:
                await asyncio.wait([task], timeout=30)
    doc = await stored(mongo, job_id)
    assert (doc["status"], doc["owner"], [u["text"] for u in doc["utterances"]]) == ("completed", "second", ["second"])
    assert [e.reported_status for e in cast(Reports, second.publish).events] == ["completed"]
