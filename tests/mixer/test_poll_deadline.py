"""A meeting whose mix outlasts the poll interval keeps its consumer in the group and is mixed once.

A mix (two ffmpeg runs and the transfers), the consumer policy's retries and its outage waits run in the same
handler and can outlast ``kafka_max_poll_interval_ms``; Kafka then gave the partition to another replica, which mixed
the meeting again. Now its message is given back at the poll
deadline (partition rewound to it, nothing committed) while the work goes on, as in the other services
(``tests/submitter/test_poll_deadline.py`` has the real-Kafka run with two replicas).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from zoomsymbl_common.events import Event, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy, topic_name
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.handlers import register_subscribers

from tests.support.offsets import Offsets, offsets_spy  # noqa: F401 (the offsets fixture)

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
BODY = RecordingCompleted(event_id="e1", tenant="acme", meeting_uuid="m1", generation=1).model_dump_json().encode()
INTERVAL_MS = 200
"""A poll deadline of 0.18 s: the held meeting outlasts it."""
GUARD_SECONDS = 30  # before the fix the first delivery held the consumer until the mix ended: this never ended


@dataclass
class HeldMix:
    """Mixes a meeting once ``release`` is set; counts its runs."""

    runs: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, event: RecordingCompleted) -> None:
        self.runs.append(event.meeting_uuid)
        await self.release.wait()


@pytest.fixture
async def held() -> AsyncIterator[tuple[KafkaBroker, HeldMix]]:
    broker, mix = KafkaBroker(), HeldMix()

    async def give_up(event: Event | None, stage: str, reason: str) -> None:
        raise AssertionError(f"unexpected give-up at {stage}: {reason}")

    consumer = Consumer(broker, INFRA, "mixer", RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002))
    register_subscribers(broker, consumer, mix, give_up, max_poll_interval_ms=INTERVAL_MS)
    async with TestKafkaBroker(broker):
        yield broker, mix
    mix.release.set()


async def _deliver(broker: KafkaBroker) -> None:
    async with asyncio.timeout(GUARD_SECONDS):
        await broker.publish(BODY, topic=TOPIC)


async def test_a_meeting_outlasting_the_poll_deadline_is_given_back_and_mixed_once(
    held: tuple[KafkaBroker, HeldMix], offsets: Offsets
) -> None:
    broker, mix = held
    await _deliver(broker)
    assert mix.runs == ["m1"]
    assert (offsets.rewound, offsets.commits) == ([(0, 0)], 0), "given back: rewound to it, nothing committed"

    await _deliver(broker)  # the next poll brings it back while the mix goes on
    assert mix.runs == ["m1"], "the redelivery waits on the same mix, it does not start it again"
    assert offsets.commits == 0

    mix.release.set()
    await _deliver(broker)
    assert mix.runs == ["m1"]
    assert (len(offsets.rewound), offsets.commits) == (2, 1), "committed once the mix has ended"
