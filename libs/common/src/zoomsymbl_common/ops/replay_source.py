"""Where a replay reads: the retained messages of a topic, and the destination and event each one stands for.

Only the pipeline's event topics are read, and each message is validated against its destination's event model
(replay.py). A consumer group is rewound (``reset_group``) on the same offsets reading starts from.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import EVENT_TYPES, AudioMixed, DeadLetter, Event, RecordingCompleted
from zoomsymbl_common.kafka import start_client
from zoomsymbl_common.kafka_security import client_options
from zoomsymbl_common.ops.command import UsageError
from zoomsymbl_common.settings import InfraSettings

if TYPE_CHECKING:
    from zoomsymbl_common.ops.replay import ReplayRequest

EVENTS_BY_TOPIC: dict[str, type[Event]] = {event.topic: event for event in EVENT_TYPES}
DLQ_SUFFIX = DeadLetter.topic_for("")
"""What a dead-letter topic adds to its source topic's name (``DeadLetter.topic_for`` appends it)."""
READ_IDLE_S = 30.0
"""How long reading may go without a record or a moved position before the replay stops (Kafka is not serving)."""


class Misrouted(ValueError):
    """A dead letter whose ``source_topic`` is not the topic its dead-letter topic belongs to."""


def base_topic(infra: InfraSettings, topic: str) -> str:
    """``topic`` without the configured prefix (names are accepted with or without it)."""
    prefix = infra.kafka_topic_prefix
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def destination(infra: InfraSettings, topic: str) -> str:
    """The base topic messages of ``topic`` are replayed onto: ``topic`` itself, or the source of a dead-letter topic.

    Raises :class:`UsageError` when that topic has no event model: nothing else is ever published.
    """
    name = base_topic(infra, topic)
    target = name.removesuffix(DLQ_SUFFIX)
    if target not in EVENTS_BY_TOPIC:
        known = ", ".join(sorted(EVENTS_BY_TOPIC))
        raise UsageError(
            f"{topic!r} is not an event topic or its dead-letter topic; replay takes {known} (or <topic>{DLQ_SUFFIX})"
        )
    return target


RESTARTING = frozenset({RecordingCompleted.topic, AudioMixed.topic})
"""The topics a forced replay takes: their events start a meeting's run again (the mixer's from the recording, the
submitter's from the mix), which moves the meeting on in the new generation the replay gives it (the replay clears
the earlier generation's stage). The other topics' events belong to a run that is over (a provider job's status, a
failure, the insights announced): forced, they would leave the meeting in a generation nothing ever runs, with no
stage, its page "still being processed" for good."""


def refuse_force(infra: InfraSettings, topic: str) -> None:
    """Raise :class:`UsageError` when a forced replay of ``topic`` (or its dead-letter topic) would start nothing."""
    if destination(infra, topic) not in RESTARTING:
        takes = " or ".join(sorted(RESTARTING))
        raise UsageError(
            f"--force reprocesses meetings from their recording or their mix: it takes {takes} (or their dead-letter"
            f" topics), not {topic!r}; replay {topic!r} without --force to deliver its events again"
        )


def decode(infra: InfraSettings, topic: str, value: bytes) -> tuple[str, Event]:
    """(destination base topic, the event validated against its model) for one retained message of ``topic``.

    Raises :class:`Misrouted` for a dead letter of another topic, and ``ValueError`` (pydantic's
    ``ValidationError``) for anything that is not a valid event of the destination topic.
    """
    target = destination(infra, topic)
    body: bytes | str = value
    if target != base_topic(infra, topic):
        letter = DeadLetter.model_validate_json(value)
        if base_topic(infra, letter.source_topic) != target:
            raise Misrouted(f"a dead letter of {target!r} names {letter.source_topic!r}")
        body = letter.payload
    return target, EVENTS_BY_TOPIC[target].model_validate_json(body)


async def retained(infra: InfraSettings, topic: str, request: ReplayRequest) -> AsyncGenerator[tuple[str, bytes]]:
    """Every retained message of ``topic`` stamped between ``since`` and ``until`` (end offsets fixed at start).

    A partition is read once its position reaches the end offset read at the start, whether or not a
    record sits there: a transaction marker, or retention deleting the rest while it is read, leaves
    none (reading then goes on from the earliest offset still retained). Reading that makes no
    progress for :data:`READ_IDLE_S` seconds raises :class:`KafkaUnavailable`. Records of aborted
    transactions are skipped (``read_committed``); the end offsets then stop before any open transaction.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # An aborted transaction's records stay in the log; they were never acknowledged, so never replayed.
        isolation_level="read_committed",
        **client_options(infra),
    )
    await start_client(consumer)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        if not partitions:
            return
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await _start_offsets(consumer, partitions, request.since)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        window = _window_ms(request)
        positions = {tp: starts[tp] for tp in partitions if starts[tp] < ends[tp]}
        idle_since = asyncio.get_running_loop().time()
        while positions:
            batch = await consumer.getmany(*positions, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    if window[0] <= record.timestamp <= window[1] and record.value is not None:
                        yield topic, record.value
            moved = await _advance(consumer, positions, ends)
            if batch or moved:
                idle_since = asyncio.get_running_loop().time()
            elif asyncio.get_running_loop().time() - idle_since > READ_IDLE_S:
                raise KafkaUnavailable(_stalled(positions, ends))
    finally:
        await consumer.stop()


def _window_ms(request: ReplayRequest) -> tuple[float, float]:
    """(since, until) as record timestamps (ms), both inclusive; unbounded ends are infinite.

    Reading starts at the first offset stamped at or after ``since``, but a partition's timestamps need not grow
    with its offsets (producers' clocks differ, a producer may set the time): each record is checked against both.
    """
    since = int(request.since.timestamp() * 1000) if request.since else float("-inf")  # as offsets_for_times
    until = int(request.until.timestamp() * 1000) if request.until else float("inf")
    return since, until


async def _advance(
    consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> bool:
    """Update ``positions`` from the consumer, dropping the partitions read to their end; True when one moved."""
    moved = False
    for tp in list(positions):
        position = await consumer.position(tp)
        moved = moved or position != positions[tp]
        if position >= ends[tp]:
            del positions[tp]
        else:
            positions[tp] = position
    return moved


def _stalled(positions: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> str:
    """Why reading stopped: the partitions that gave nothing for :data:`READ_IDLE_S` seconds, and where."""
    where = ", ".join(
        f"{tp.topic}[{tp.partition}] at offset {offset} of {ends[tp]}" for tp, offset in positions.items()
    )
    return f"no record for {READ_IDLE_S:g} s reading {where}"


async def _start_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    """Where reading starts on each partition: the first offset at or after ``since`` (or the beginning)."""
    begins = await consumer.beginning_offsets(partitions)
    if since is None:
        return {tp: int(begins[tp]) for tp in partitions}
    ends = await consumer.end_offsets(partitions)
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
    return {tp: int(found[tp].offset) if found.get(tp) else int(ends[tp]) for tp in partitions}


async def reset_group(infra: InfraSettings, group: str, topic: str, since: datetime | None) -> dict[int, int]:
    """Move consumer group ``group`` on ``topic`` to ``since`` (or the beginning); the group must be idle."""
    full = infra.kafka_topic_prefix + base_topic(infra, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, group_id=group, enable_auto_commit=False, **client_options(infra)
    )
    await start_client(consumer)
    try:
        partitions = [TopicPartition(full, p) for p in sorted(await _partitions(consumer, full))]
        consumer.assign(partitions)
        positions = await _start_offsets(consumer, partitions, since)
        await consumer.commit({tp: OffsetAndMetadata(offset, "zoomsymbl replay") for tp, offset in positions.items()})
        return {tp.partition: offset for tp, offset in positions.items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of ``topic`` (empty when it does not exist), after a metadata refresh.

    A refresh no broker answered raises :class:`KafkaUnavailable`: "the topic does not exist" (nothing to read) is
    only said after Kafka answered. aiokafka gives such a refresh back as False, not as an error.
    """
    for _ in range(10):
        if not await consumer._client.force_metadata_update():
            raise KafkaUnavailable(
                f"metadata refresh for topic {topic!r} failed after connecting: no broker of the cluster answered"
            )
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.3)
    return set()
