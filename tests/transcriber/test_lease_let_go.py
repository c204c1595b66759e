"""A run cut short lets its lease go wherever it is cut, and a lease MongoDB will not let go leaves the cut as it was.

Before, the lease was let go only when the cut came while the audio was downloaded or a channel transcribed: one
while the meeting was read (before) or the result stored (after, e.g. while an outage was tried out) kept the job
for the whole lease (15 min), and a let-go MongoDB refused (not an outage: Unauthorized, a backend's error) raised
that error in place of the cancellation, so the service's stop saw a failed task instead of a cancelled one.

Real MongoDB and S3 (the handler tests' rig), a stub model; a refusal is pymongo's own error, raised where the
collection would raise it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import JobSubmitted
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import TRANSCRIPTIONS, Meeting
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import KEY, Rig, rig  # noqa: F401 (the fixture)
from tests.transcriber.test_worker import request, submitted

pytestmark = [pytest.mark.integration]
REFUSALS = {
    "unauthorized": OperationFailure(
        "not authorized on zoomsymbl to execute command", 13, {"codeName": "Unauthorized"}
    ),
    "backend-error": OperationFailure("backend: relation locked", 1, {"codeName": "InternalError"}),
}
LOGGED_AS = {"unauthorized": "MongoUnauthorized", "backend-error": "OperationFailure"}
"""The error class the log names: ``guarded`` makes Unauthorized (13) a ``MongoUnauthorized`` (waited out elsewhere)."""


class Jobs:
    """``transcriptions``, whose let-go (a write of ``lease_until`` alone: no renewal comes within the rig's 900 s
    lease) raises ``refusal``, and whose result's write (``status`` set) first fails ``outages`` times."""

    def __init__(self, real: Any, refusal: BaseException | None, outages: int) -> None:
        self._real, self.refusal, self.outages = real, refusal, outages
        self.let_go_tries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def update_one(self, query: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        changed = set(update.get("$set", {}))
        if changed == {"lease_until"}:
            self.let_go_tries += 1
            if self.refusal is not None:
                raise self.refusal
        if "status" in changed and "owner" in query and self.outages > 0:
            self.outages -= 1
            raise MongoUnavailable("ServerSelectionTimeoutError")
        return await self._real.update_one(query, update, *args, **kwargs)


@dataclass
class CutWorker(Worker):
    """A worker whose ``transcriptions`` are :class:`Jobs`; with ``hold_meeting``, its read of the meeting never ends
    (``reading`` set once it began); its waits between the result's tries never end (``waiting`` set)."""

    jobs: Jobs | None = None
    hold_meeting: bool = False
    reading: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        assert self.jobs is not None
        return cast(AsyncCollection[Document], self.jobs)

    async def _meeting(self, event: JobSubmitted) -> Meeting | None:
        if self.hold_meeting:
            self.reading.set()
            await asyncio.Event().wait()
        return await super()._meeting(event)


def cut_worker(
    on: Rig, *, refusal: BaseException | None = None, outages: int = 0, hold_meeting: bool = False
) -> CutWorker:
    fields = {f.name: getattr(on.worker, f.name) for f in dataclasses.fields(Worker) if f.init}
    worker = CutWorker(**fields, hold_meeting=hold_meeting)
    worker.jobs = Jobs(on.worker.mongo.db[TRANSCRIPTIONS], refusal, outages)

    async def wait_for_ever(seconds: float) -> None:
        worker.waiting.set()
        await asyncio.Event().wait()

    worker.sleep = wait_for_ever
    return worker


async def cancelled_at(worker: CutWorker, job_id: str, reached: asyncio.Event) -> None:
    """Run the job, cancel it once ``reached`` is set (the service's stop), and see it end cancelled."""
    running = asyncio.create_task(worker.on_job_submitted(submitted(job_id)))
    arrived = asyncio.create_task(reached.wait())
    await asyncio.wait({running, arrived}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert reached.is_set() and not running.done(), "the run reached the point of its cut"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    arrived.cancel()


async def taken_over_at_once(on: Rig, job_id: str) -> None:
    """Another worker, a second later (not the 900 s of the lease), takes the job and completes it."""
    clock = on.worker.clock
    assert isinstance(clock, FakeClock)
    clock.advance(1.0)
    successor = dataclasses.replace(on.worker, owner="next-worker")
    await successor.on_job_submitted(submitted(job_id))
    job = await on.job(job_id)
    assert (job["status"], job["owner"]) == ("completed", "next-worker")


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
async def test_a_let_go_mongodb_refuses_is_logged_and_the_cancellation_stays_a_cancellation(
    rig: Rig,  # noqa: F811 (the imported fixture)
    refusal: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = await rig.provider.submit(request(KEY, rig.store.bucket, channels=1))
    rig.model.gate = asyncio.Event()
    worker = cut_worker(rig, refusal=REFUSALS[refusal])

    with caplog.at_level(logging.WARNING, logger="zoomsymbl.transcriber"):
        await cancelled_at(worker, job.job_id, rig.model.started)  # the service stops while channel 1 runs

    assert worker.jobs is not None and worker.jobs.let_go_tries == 1
    [said] = [r for r in caplog.records if r.getMessage() == "lease not let go, it runs out"]
    assert (said.__dict__["job_id"], said.__dict__["error"]) == (job.job_id, LOGGED_AS[refusal])
    stored = await rig.job(job.job_id)
    assert (stored["status"], stored["owner"]) == ("in_progress", "this-worker"), "the lease left to run out"


async def test_a_run_cut_while_it_reads_the_meeting_lets_its_lease_go(rig: Rig) -> None:  # noqa: F811
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    worker = cut_worker(rig, hold_meeting=True)

    await cancelled_at(worker, job.job_id, worker.reading)

    assert worker.jobs is not None and worker.jobs.let_go_tries == 1
    await taken_over_at_once(rig, job.job_id)


async def test_a_run_cut_while_its_result_waits_for_mongodb_lets_its_lease_go_and_loses_no_channel(
    rig: Rig,  # noqa: F811 (the imported fixture)
) -> None:
    """MongoDB out of reach at the result's write; the service stops while the worker waits to try it again."""
    job = await rig.provider.submit(request(KEY, rig.store.bucket))
    worker = cut_worker(rig, outages=1)

    await cancelled_at(worker, job.job_id, worker.waiting)

    assert worker.jobs is not None and worker.jobs.let_go_tries == 1
    await taken_over_at_once(rig, job.job_id)
    assert (rig.store.downloads, rig.model.channels) == (1, [1, 2]), "the successor took both from the checkpoints"
