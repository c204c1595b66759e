"""A result MongoDB refuses to store (reachable, not an outage) has a defined outcome.

Before, only an outage at the result's write was tried again; any other error MongoDB answered (a validator
added by hand, a backend's error, a document it will not take) left the run as a bare pymongo error: the consumer took
it for a bug (a traceback logged), the lease stayed behind for the whole lease time, and the job failed, after the
attempt budget, with the server's message as its reason (e-mailed to the host), which may quote the document: the
transcript's text. Now it is :class:`ResultRefused`: the lease is let go, the job is tried again within the attempt
budget from its checkpoints (no channel transcribed again), then failed naming the error's kind only.

Real MongoDB and S3, the shared consumer policy on the in-memory broker, a stub model; the refusal is pymongo's own
error, raised where the collection would raise it.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, cast

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.mongo import Document
from zoomsymbl_common.records import TRANSCRIPTIONS
from zoomsymbl_transcriber.lease import ResultRefused
from zoomsymbl_transcriber.worker import Worker

from tests.transcriber.test_handlers import KEY, POLICY, Rig, rig  # noqa: F401 (the fixture)
from tests.transcriber.test_worker import request, submitted

pytestmark = [pytest.mark.integration]
QUOTED = "line 1 of the meeting, quoted back"
"""What the server's message quotes of the refused document: never in a reason, a log line or a dead letter."""


class Refusing:
    """``transcriptions``, whose next ``left`` writes of a completed result fail a validator MongoDB holds (one added
    by hand: ``DocumentValidationFailure``, 121). Not ``Unauthorized`` (13): that one is waited out as an outage."""

    def __init__(self, real: Any, left: int) -> None:
        self._real, self.left, self.refused = real, left, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def update_one(self, query: Any, update: Any, *args: Any, **kwargs: Any) -> Any:
        if update.get("$set", {}).get("status") == "completed" and self.left > 0:
            self.left -= 1
            self.refused += 1
            raise OperationFailure(
                f"Document failed validation: {QUOTED}",
                121,
                {"codeName": "DocumentValidationFailure", "errmsg": QUOTED},
            )
        return await self._real.update_one(query, update, *args, **kwargs)


@dataclass
class RefusedWorker(Worker):
    jobs: Refusing | None = None

    @property
    def _jobs(self) -> AsyncCollection[Document]:
        assert self.jobs is not None
        return cast(AsyncCollection[Document], self.jobs)


def refusing(on: Rig, times: int) -> RefusedWorker:
    """``on``'s worker, whose result's first ``times`` writes MongoDB refuses."""
    fields = {f.name: getattr(on.worker, f.name) for f in dataclasses.fields(Worker) if f.init}
    worker = RefusedWorker(**fields)
    worker.jobs = Refusing(on.worker.mongo.db[TRANSCRIPTIONS], times)
    on.worker = worker
    return worker


async def test_a_refused_result_lets_the_lease_go_and_the_next_try_needs_no_channel_again(rig: Rig) -> None:  # noqa: F811
    order = await rig.provider.submit(request(KEY, rig.store.bucket))
    first, clock = refusing(rig, times=1), rig.worker.clock
    assert isinstance(clock, FakeClock)

    with pytest.raises(ResultRefused) as refused:
        await first.on_job_submitted(submitted(order.job_id))

    assert str(refused.value).endswith("mongodb refused the write (OperationFailure 121 DocumentValidationFailure)")
    assert QUOTED not in str(refused.value) and refused.value.__cause__ is None
    clock.advance(1.0)  # another worker a second later, not the 900 s of the lease
    successor = Worker(**{f.name: getattr(first, f.name) for f in dataclasses.fields(Worker) if f.init})
    successor.owner = "next-worker"
    await successor.on_job_submitted(submitted(order.job_id))

    job = await rig.job(order.job_id)
    assert (job["status"], job["owner"]) == ("completed", "next-worker")
    assert [u["text"] for u in job["utterances"]] == ["line 1", "line 2"]
    assert (rig.store.downloads, rig.model.channels) == (1, [1, 2]), "both channels taken from the checkpoints"


async def test_a_result_mongodb_keeps_refusing_fails_the_job_with_the_kind_of_refusal_after_the_budget(
    rig: Rig,  # noqa: F811 (the imported fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    order = await rig.provider.submit(request(KEY, rig.store.bucket))
    worker = refusing(rig, times=1_000)

    with caplog.at_level(logging.DEBUG):
        await rig.deliver(submitted(order.job_id))

    assert worker.jobs is not None and worker.jobs.refused == POLICY.max_attempts, "tried within the attempt budget"
    state = await rig.provider.job_status(order.job_id)
    assert state.status == "failed" and state.reason is not None
    assert "mongodb refused the write (OperationFailure 121 DocumentValidationFailure)" in state.reason
    [letter] = rig.letters
    assert letter.error_type == "ResultRefused"
    assert QUOTED not in state.reason and QUOTED not in letter.model_dump_json()
    assert [e.reported_status for e in rig.reports.events] == ["failed"]
    assert (rig.store.downloads, rig.model.channels) == (1, [1, 2]), "the retries transcribed nothing again"
    assert [r.getMessage() for r in caplog.records if QUOTED in repr(r.__dict__)] == []
