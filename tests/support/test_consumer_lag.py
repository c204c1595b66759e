"""``ConsumerLag`` against the real local Kafka: what a group has not committed, until it has."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from zoomsymbl_common.settings import InfraSettings

from tests.support.consumer_lag import consumer_lag, wait_drained

pytestmark = pytest.mark.integration


async def produce(infra: InfraSettings, topic: str, count: int) -> int:
    """Send ``count`` messages to partition 0 of ``topic``; the offset of the last."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, b"event", partition=0) for _ in range(count)]
    finally:
        await producer.stop()
    return int(sent[-1].offset)


async def test_lag_counts_uncommitted_messages_until_the_group_commits(infra: InfraSettings) -> None:
    prefix = infra.kafka_topic_prefix
    topic = f"{prefix}work.v1"
    last = await produce(infra, topic, 3)
    group = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=f"{prefix}worker")
    await group.start()
    partition = TopicPartition(topic, 0)
    group.assign([partition])
    try:
        async with consumer_lag(infra.kafka_bootstrap, prefix) as lag:
            assert await lag() == {}, "a group that never committed is not known yet"
            await group.commit({partition: OffsetAndMetadata(1, "")})
            assert await lag() == {f"{prefix}worker {topic}[0]": 2}
            await group.commit({partition: OffsetAndMetadata(last + 1, "")})
            assert await lag() == {}
        await wait_drained(infra.kafka_bootstrap, prefix, timeout=10)
    finally:
        await group.stop()


async def test_waiting_for_a_group_that_never_catches_up_fails_naming_the_lag(infra: InfraSettings) -> None:
    prefix = infra.kafka_topic_prefix
    topic = f"{prefix}stuck.v1"
    await produce(infra, topic, 2)
    group = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=f"{prefix}stuck")
    await group.start()
    group.assign([TopicPartition(topic, 0)])
    try:
        await group.commit({TopicPartition(topic, 0): OffsetAndMetadata(1, "")})
        with pytest.raises(AssertionError, match=rf"last value: {{'{prefix}stuck {topic}\[0\]': 1}}"):
            await wait_drained(infra.kafka_bootstrap, prefix, timeout=2)
    finally:
        await group.stop()
