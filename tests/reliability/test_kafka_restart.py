"""Publishing goes on after Kafka restarts: ingest's producer and the services' FastStream brokers (private Kafka).

An idempotent aiokafka producer whose broker restarted can be refused OutOfOrderSequenceNumber on every later send
(aio-libs/aiokafka#1017). Before zoomsymbl_common.kafka_producer, ingest answered every webhook 503 for ten minutes
after the crash suite's Kafka outage, until the test gave up; the services' publishes would have failed the same way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import RecordingCompleted, stable_id
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.producer import Producer

from tests.reliability.private_infra import PrivateInfra
from tests.support.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
OUTAGE_S = 8.0
RECOVERY_DEADLINE_S = 120.0
WANTED_AFTER = 20  # acknowledged publishes per publisher after the restart


async def _publish_loop(
    name: str, send: Callable[[RecordingCompleted], Awaitable[None]], tally: Counter[str], stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        event = RecordingCompleted(
            event_id=stable_id(name, str(n)), tenant="acme", meeting_uuid=f"{name}-{n % 5}", topic_text=name
        )
        try:
            await send(event)
        except KafkaUnavailable as exc:
            tally[f"{name} refused"] += 1
            tally[f"{name} refused: {str(exc).rpartition(': ')[2]}"] += 1  # the error's class name
            await asyncio.sleep(0.05)
        else:
            tally[name] += 1
        await asyncio.sleep(0.01)


def _counts(
    tally: Counter[str], names: list[str], since: Counter[str] | None = None
) -> Callable[[], Awaitable[dict[str, int]]]:
    """A probe: each publisher's acknowledged publishes (since ``since``), and what refused the others."""

    async def probe() -> dict[str, int]:
        counts = {name: tally[name] - (since or Counter())[name] for name in names}
        return counts | {key: value for key, value in tally.items() if "refused" in key}

    return probe


async def test_publishers_go_on_after_kafka_restarts(tmp_path: Path) -> None:
    kafka = PrivateInfra(tmp_path)
    await asyncio.to_thread(kafka.up, "kafka")
    infra = InfraSettings(kafka_bootstrap=kafka.kafka_bootstrap, kafka_topic_prefix="restart-")
    producer = Producer(infra)
    broker = make_broker(infra, "test")
    stop = asyncio.Event()
    tally: Counter[str] = Counter()
    loops: list[asyncio.Task[None]] = []
    try:
        await producer.wait_connected(timeout=60.0)
        await start_broker(broker, timeout=30.0)

        async def ingest(event: RecordingCompleted) -> None:
            await producer.publish(event, timeout=2.0)

        async def service(event: RecordingCompleted) -> None:
            await publish_event(broker, infra, event, timeout=2.0)

        for n in range(4):
            loops.append(asyncio.create_task(_publish_loop(f"ingest{n}", ingest, tally, stop)))
            loops.append(asyncio.create_task(_publish_loop(f"service{n}", service, tally, stop)))
        names = [f"{kind}{n}" for kind in ("ingest", "service") for n in range(4)]
        await eventually(
            _counts(tally, names), lambda c: all(c[n] for n in names), timeout=60, what="every publisher through before"
        )
        await asyncio.to_thread(kafka.down, "kafka")
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(kafka.up, "kafka")
        before = Counter({name: tally[name] for name in names})
        await eventually(
            _counts(tally, names, since=before),
            lambda c: all(c[n] >= WANTED_AFTER for n in names),
            timeout=RECOVERY_DEADLINE_S,
            what=f"{WANTED_AFTER} acknowledged publishes of each publisher after the restart (with the refusals)",
        )
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        await producer.close()
        await broker.stop()
        await asyncio.to_thread(kafka.down)
