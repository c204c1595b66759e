"""A notifier message whose work outlasts its consumer's poll interval is given back, not handed to another consumer.

The notifier's consumers poll every 30 min (job statuses) or 5 min (failure notices, digests), and no attempt's
bound is known in advance (a provider's transcript in pages, the consumer policy's retries and its waits for 429s
and outages of our own servers). Before, work past the interval took the consumer out of its group: another one
handled the same message again while the first still did, and the first one's commit failed. Now the message is
given back at its poll deadline while the work goes on, and the poll that brings it back waits on the same work.

In memory (TestKafkaBroker, its consumer spied on), a stand-in pipeline holding its failure notice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.events import MeetingFailed, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import TenantConfig
from zoomsymbl_notifier import handlers
from zoomsymbl_notifier.pipeline import Pipeline

from tests.support.offsets import Offsets, offsets_spy  # noqa: F401 (the offsets fixture)

if TYPE_CHECKING:  # not imported at run time: the tests also run (and fail) against the code before it
    from zoomsymbl_common.poll_deadline import PollDeadline

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, MeetingFailed.topic)
INTERVAL_MS = 200
"""A poll deadline of 0.18 s: a held notice outlasts it."""
GUARD_SECONDS = 30
"""Before the fix a delivery held the consumer until its work ended: waits for it never ended."""
FAILURE = MeetingFailed.of(
    RecordingCompleted(event_id="rc", tenant="acme", meeting_uuid="m-1"), "mixer", "download", "zoom refused 'f1'"
)


class Tenants:
    def get(self, tenant: str) -> TenantConfig | None:
        return cast(TenantConfig, object())


@dataclass
class HeldPipeline:
    """Sends a meeting's failure notice once ``release`` is set; counts the notices it started."""

    tenants: Tenants = field(default_factory=Tenants)
    notices: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def on_meeting_failed(self, event: MeetingFailed, tenant: TenantConfig) -> None:
        self.notices.append(event.meeting_uuid)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


@dataclass
class Rig:
    broker: KafkaBroker
    pipeline: HeldPipeline
    deadlines: list[PollDeadline] | None

    async def deliver(self, body: bytes) -> None:
        """One poll's delivery of ``body``; returns once the subscriber gave it back or is done with it."""
        async with asyncio.timeout(GUARD_SECONDS):
            await self.broker.publish(body, topic=TOPIC)


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setattr(handlers, "POLL_INTERVAL_MS", INTERVAL_MS, raising=False)
    monkeypatch.setattr(handlers, "JOB_STATUS_POLL_INTERVAL_MS", INTERVAL_MS)
    broker, pipeline = KafkaBroker(), HeldPipeline()
    consumer = Consumer(broker, INFRA, "notifier", RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002))
    deadlines = handlers.register_subscribers(broker, consumer, cast(Pipeline, pipeline))
    async with TestKafkaBroker(broker):
        yield Rig(broker, pipeline, deadlines)
    pipeline.release.set()


async def test_a_failure_notice_outlasting_the_poll_deadline_is_given_back_and_sent_once(
    rig: Rig, offsets: Offsets
) -> None:
    body = FAILURE.model_dump_json().encode()
    await rig.deliver(body)
    assert rig.pipeline.notices == ["m-1"] and not rig.pipeline.release.is_set()
    assert (offsets.rewound, offsets.commits) == ([(0, 0)], 0), "given back: rewound to it, nothing committed"

    await rig.deliver(body)  # the next poll brings it back while the notice is still on its way
    assert rig.pipeline.notices == ["m-1"], "the redelivery waits on the same work: one notice"

    rig.pipeline.release.set()
    await rig.deliver(body)
    assert rig.pipeline.notices == ["m-1"]
    assert offsets.commits == 1, "committed once the notice has gone"


async def test_a_notice_no_handler_waits_for_is_cancelled_when_the_service_stops(rig: Rig) -> None:
    await rig.deliver(FAILURE.model_dump_json().encode())
    assert rig.deadlines is not None

    for deadline in rig.deadlines:
        await deadline.close()
    assert rig.pipeline.cancelled
