"""A whisper job longer than the poll interval keeps its consumer in the group: transcribed once, never started over.

A job takes as long as its channels (each within its own deadline; their number and length are the work
order's), so no ``max_poll_interval_ms`` fixed in advance outlasts every job. Before, a longer job lost its
partition to another replica, which waited on the job's lease for as long as it ran (its own poll interval
running out too) while the first one's commit failed. Now the work order is given back at its poll deadline while
the job goes on, and the poll that brings it back waits on the same job.

Real MongoDB and S3 (test_handlers' rig: a stub model, held at its channel here); the Kafka side in memory
(TestKafkaBroker, its consumer spied on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.events import JobSubmitted
from zoomsymbl_common.kafka import Consumer, topic_name
from zoomsymbl_transcriber.handlers import register_subscribers

from tests.support.offsets import Offsets, offsets_spy  # noqa: F401 (the offsets fixture)
from tests.transcriber.test_handlers import POLICY, Rig, rig  # noqa: F401 (the rig fixture)
from tests.transcriber.test_worker import M1_KEY, request, submitted

if TYPE_CHECKING:  # not imported at run time: the tests also run (and fail) against the code before it
    from zoomsymbl_common.poll_deadline import PollDeadline

pytestmark = [pytest.mark.integration]
INTERVAL_MS = 300
"""A poll deadline of 0.27 s: a job held at its first channel outlasts it."""
GUARD_SECONDS = 30
"""Before the fix a delivery held the consumer until its job ended: waits for it never ended."""


@dataclass
class Subscriber:
    """The transcriber's subscriber on ``rig``'s worker, with a short poll interval."""

    broker: KafkaBroker
    deadline: PollDeadline | None
    topic: str

    async def deliver(self, work_order: bytes) -> None:
        """One poll's delivery of the work order (one Kafka record: the same bytes each time); returns once the
        subscriber gave it back or is done with it."""
        async with asyncio.timeout(GUARD_SECONDS):
            await self.broker.publish(work_order, topic=self.topic)


@pytest.fixture
async def subscriber(rig: Rig) -> AsyncIterator[Subscriber]:  # noqa: F811 (the imported fixture)
    rig.model.gate = asyncio.Event()
    broker = KafkaBroker()
    consumer = Consumer(broker, rig.infra, "transcriber", POLICY)
    worker = rig.worker
    deadline = register_subscribers(broker, consumer, worker, worker.on_job_submitted, max_poll_interval_ms=INTERVAL_MS)
    async with TestKafkaBroker(broker):
        yield Subscriber(broker, deadline, topic_name(rig.infra, JobSubmitted.topic))
        rig.model.gate.set()


async def test_a_job_outlasting_the_poll_deadline_is_given_back_and_transcribed_once(
    rig: Rig,  # noqa: F811 (the imported fixture)
    subscriber: Subscriber,
    offsets: Offsets,
) -> None:
    job = await rig.provider.submit(request(M1_KEY, rig.store.bucket))
    work_order = submitted(job.job_id).model_dump_json().encode()
    await subscriber.deliver(work_order)
    assert rig.model.channels == [1], "the job is at its first channel"
    assert (offsets.rewound, offsets.commits) == ([(0, 0)], 0), "given back: rewound to it, nothing committed"

    await subscriber.deliver(work_order)  # the next poll brings the work order back while the job goes on
    assert rig.model.channels == [1], "the redelivery waits on the same job: not started over, not run twice"
    assert offsets.commits == 0

    assert rig.model.gate is not None
    rig.model.gate.set()
    await subscriber.deliver(work_order)
    assert (rig.store.downloads, rig.model.channels) == (1, [1, 2])
    assert offsets.commits == 1, "committed once the job has ended"
    assert (await rig.provider.job_status(job.job_id)).status == "completed"
    assert [e.reported_status for e in rig.reports.events] == ["completed"]


async def test_a_job_no_handler_waits_for_lets_its_lease_go_when_the_service_stops(
    rig: Rig,  # noqa: F811 (the imported fixture)
    subscriber: Subscriber,
) -> None:
    """The broker stopped between a give-back and the next poll: the job is cancelled as at the end of the grace
    period, and its lease let go, so that another replica takes it over at once."""
    job = await rig.provider.submit(request(M1_KEY, rig.store.bucket))
    await subscriber.deliver(submitted(job.job_id).model_dump_json().encode())
    assert subscriber.deadline is not None

    await subscriber.deadline.close()
    doc = await rig.job(job.job_id)
    assert (doc["status"], doc["owner"]) == ("in_progress", "this-worker")
    assert doc["lease_until"] <= rig.worker.clock(), "let go: the next worker need not wait the lease out"
    assert rig.reports.events == []
