"""What an in-memory Kafka subscriber did with a message's offset: committed it, or rewound its partition to it.

TestKafkaBroker's messages carry FastStream's fake consumer, whose ``commit`` and ``seek`` do nothing; the
``offsets`` fixture records them instead. A message given back (FastStream's nack) is rewound to, so the next
poll brings it again; a message done is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from faststream.kafka.message import FakeConsumer


@dataclass
class Offsets:
    """Each rewind as (partition, offset), and the number of commits."""

    rewound: list[tuple[int, int]] = field(default_factory=list)
    commits: int = 0


@pytest.fixture(name="offsets")
def offsets_spy(monkeypatch: pytest.MonkeyPatch) -> Offsets:
    """The fake consumer's seeks and commits, recorded."""
    seen = Offsets()

    def seek(self: FakeConsumer, partition: TopicPartition, offset: int) -> None:
        seen.rewound.append((partition.partition, offset))

    async def commit(self: FakeConsumer) -> None:
        seen.commits += 1

    monkeypatch.setattr(FakeConsumer, "seek", seek)
    monkeypatch.setattr(FakeConsumer, "commit", commit)
    return seen
