"""``zoomsymbl replay --since/--until`` select by the record's time exactly as they say, however the records of a
partition are ordered: a producer's clock behind another's leaves an older timestamp after a newer one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from zoomsymbl_common.events import RecordingCompleted, stable_id
from zoomsymbl_common.ops.replay import ReplayRequest, replay
from zoomsymbl_common.settings import InfraSettings

pytestmark = pytest.mark.integration
TOPIC = RecordingCompleted.topic


async def _produce_at(infra: InfraSettings, stamped: list[tuple[str, datetime]]) -> None:
    """One event per meeting, in this order, each with the record timestamp given (one partition: one key)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for meeting, at in stamped:
            event = RecordingCompleted(event_id=stable_id("acme", meeting), tenant="acme", meeting_uuid=meeting)
            await producer.send_and_wait(
                infra.kafka_topic_prefix + TOPIC,
                event.model_dump_json().encode(),
                key=b"one-partition",
                timestamp_ms=int(at.timestamp() * 1000),
            )
    finally:
        await producer.stop()


async def test_since_leaves_out_an_older_record_written_after_a_newer_one(infra: InfraSettings) -> None:
    now = datetime.now(tz=UTC)
    stamped = [
        ("before", now - timedelta(hours=3)),
        ("inside", now - timedelta(minutes=5)),
        ("late-clock", now - timedelta(hours=2)),  # written after "inside" by a producer whose clock is behind
        ("inside-too", now - timedelta(minutes=1)),
    ]
    await _produce_at(infra, stamped)
    since = now - timedelta(hours=1)

    counts = await replay(infra, None, ReplayRequest(topic=TOPIC, since=since, dry_run=True))
    assert counts.matched == 2, "only the two records stamped after --since"

    window = ReplayRequest(
        topic=TOPIC, since=now - timedelta(hours=2, minutes=30), until=now - timedelta(hours=1), dry_run=True
    )
    counts = await replay(infra, None, window)
    assert counts.matched == 1, "only the record stamped inside the window"
