"""A positive signal that a pipeline has finished with everything it was given: its consumers' lag is zero.

The services commit an offset only after the handler returned, and a handler publishes what it
produces (and waits for Kafka's acknowledgement) before it returns. So when every consumer group
under a topic prefix has committed up to the end of every partition it reads, each message was
handled, and whatever a handler published in turn was handled too. A test that must show that
"nothing happened" waits for this instead of sleeping, then looks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.eventually import eventually


@dataclass
class ConsumerLag:
    """Reads, for the consumer groups whose names start with ``prefix``, what they have not committed yet."""

    prefix: str
    admin: AIOKafkaAdminClient
    offsets: AIOKafkaConsumer

    async def __call__(self) -> dict[str, int]:
        """Messages not committed yet, by ``"group topic[partition]"``; empty when every group is done."""
        groups = sorted(g[0] for g in await self.admin.list_consumer_groups() if str(g[0]).startswith(self.prefix))
        # Commits first, end offsets after: a message a handler published before its commit is then counted.
        committed = {group: await self.admin.list_consumer_group_offsets(group) for group in groups}
        topics = sorted({tp.topic for offsets in committed.values() for tp in offsets})
        described = await self.admin.describe_topics(topics) if topics else []
        partitions = [TopicPartition(d["topic"], int(p["partition"])) for d in described for p in d["partitions"]]
        ends = await self.offsets.end_offsets(partitions) if partitions else {}
        lag: dict[str, int] = {}
        for group, offsets in committed.items():
            read = {tp.topic for tp in offsets}
            for tp in (tp for tp in partitions if tp.topic in read):
                done = offsets.get(tp)
                behind = ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
                if behind > 0:
                    lag[f"{group} {tp.topic}[{tp.partition}]"] = behind
        return lag


@asynccontextmanager
async def consumer_lag(bootstrap: str, prefix: str) -> AsyncIterator[ConsumerLag]:
    """A :class:`ConsumerLag` on the Kafka at ``bootstrap`` (its clients closed on the way out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    try:
        await offsets.start()
        try:
            yield ConsumerLag(prefix, admin, offsets)
        finally:
            await offsets.stop()
    finally:
        await admin.close()


async def wait_drained(bootstrap: str, prefix: str, *, timeout: float = 120.0) -> None:
    """Wait until every consumer group under ``prefix`` has committed every message of its topics."""
    async with consumer_lag(bootstrap, prefix) as lag:
        await eventually(
            lag, lambda behind: not behind, timeout=timeout, max_interval=1.0,
            what=f"the consumer groups under {prefix!r} to commit every message",
        )  # fmt: skip
