"""Replay retained Kafka events: re-publish a time range (optionally filtered), or rewind a group.

Without ``force`` a replay re-publishes events unchanged: every handler is idempotent, so nothing
is done twice. With ``force`` each meeting's generation is bumped in MongoDB (one atomic ``$inc``)
and the event is re-published under that generation with a new ``event_id``: the meeting is
processed again (new provider job, an e-mail marked as an update). Each forced replay has an id,
recorded on every meeting it bumped (``forced_replays``): run again with the same id (``--resume``)
after it stopped part-way, a replay re-publishes the meetings it already bumped under their current
generation instead of bumping them again (so no host gets a second update). A dead-letter topic replays
the original messages onto the topic it is the dead-letter topic of.

Retained messages are outside input: anyone who can write to Kafka chose them. Only the pipeline's
event topics are replayed, and only onto themselves: the destination is the topic read, or for
``<topic>.dlq`` the ``<topic>`` its name says, never a topic a letter names (a letter naming
another is counted in ``misrouted`` and skipped). Every message is validated against the
destination's event model before it is matched or published: one that is not (not JSON, not that
event, a letter without its payload) is counted in ``invalid`` and skipped, and the replay goes on.

An event of a meeting erased with ``zoomsymbl forget`` (it has a tombstone) is never re-published, forced or
not: it is counted in ``forgotten`` and skipped, before any generation is bumped (docs/forget.md). A dry run
reads the tombstones too, so its counts are those of the run it stands for.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import OffsetAndMetadata
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from zoomsymbl_common.errors import KafkaUnavailable, ZoomsymblError
from zoomsymbl_common.events import EVENT_TYPES, DeadLetter, Event, stable_id
from zoomsymbl_common.kafka import event_key, start_client
from zoomsymbl_common.kafka_security import client_options
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.ops.command import UsageError
from zoomsymbl_common.ops.forget import is_forgotten
from zoomsymbl_common.records import MEETINGS, Meeting, meeting_key
from zoomsymbl_common.settings import InfraSettings

EVENTS_BY_TOPIC: dict[str, type[Event]] = {event.topic: event for event in EVENT_TYPES}
DLQ_SUFFIX = DeadLetter.topic_for("")
"""What a dead-letter topic adds to its source topic's name (``DeadLetter.topic_for`` appends it)."""
READ_IDLE_S = 30.0
"""How long reading may go without a record or a moved position before the replay stops (Kafka is not serving)."""
FORCED_REPLAYS_KEPT = 16
"""How many forced replays' ids a meeting remembers (``forced_replays``, newest last)."""
REPLAY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a forced replay's id may be (it is stored on meetings and printed)."""
# What stops a replay part-way: our servers, and what their clients raise that our code does not translate.
STOPPING_ERRORS = (ZoomsymblError, KafkaError, PyMongoError, OSError)


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay."""

    topic: str
    since: datetime | None = None
    until: datetime | None = None
    tenant: str | None = None
    meeting: str | None = None
    dry_run: bool = False
    force: bool = False
    replay_id: str | None = None
    """A forced replay's id (a new one when None); the id of one that stopped part-way resumes it."""


@dataclass
class ReplayCounts:
    """What a replay did; ``invalid`` and ``misrouted`` messages are skipped, not counted as ``matched``.

    ``replay_id`` is the forced replay's id (None for any other replay).
    """

    scanned: int = 0
    matched: int = 0
    published: int = 0
    skipped: int = 0
    invalid: int = 0
    misrouted: int = 0
    generations: dict[str, int] = field(default_factory=dict)
    replay_id: str | None = None
    forgotten: int = 0


def new_replay_id() -> str:
    """A new forced replay's id."""
    return uuid.uuid4().hex[:16]


class Misrouted(ValueError):
    """A dead letter whose ``source_topic`` is not the topic its dead-letter topic belongs to."""


class ReplayStopped(ZoomsymblError):
    """A replay that stopped part-way (a server gone, a send refused): ``counts`` is what it had done by then."""

    def __init__(self, counts: ReplayCounts, cause: Exception) -> None:
        super().__init__(f"replay stopped after {progress(counts)}: {type(cause).__name__}: {cause}")
        self.counts = counts
        self.cause = cause


def progress(counts: ReplayCounts) -> str:
    """The counts as ``name=value`` pairs (no generations), for one line a person reads."""
    return (
        f"scanned={counts.scanned} matched={counts.matched} published={counts.published} skipped={counts.skipped}"
        f" invalid={counts.invalid} misrouted={counts.misrouted} forgotten={counts.forgotten}"
    )


def would_publish(counts: ReplayCounts) -> int:
    """How many events the run a dry run stands for would publish: those matched, but forgotten or retained twice."""
    return counts.matched - counts.forgotten - counts.skipped


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


def unfiltered(request: ReplayRequest) -> bool:
    """True when ``request`` selects every retained event of its topic (no tenant, meeting or time bound)."""
    return not (request.tenant or request.meeting or request.since or request.until)


def matches(request: ReplayRequest, event: Event) -> bool:
    """True when the event passes the tenant and meeting filters."""
    if request.tenant and event.tenant != request.tenant:
        return False
    return not (request.meeting and event.meeting_uuid != request.meeting)


async def bump_generation(mongo: Mongo, tenant: str, meeting_uuid: str, replay_id: str) -> int:
    """The meeting's generation for forced replay ``replay_id``: incremented once per replay id.

    The first call for a meeting and ``replay_id`` increments the generation and records the id in
    ``forced_replays`` in one atomic update; a later call with the same id (the replay resumed after
    it stopped) returns the meeting's current generation and changes nothing. A meeting never stored
    yet gets a document with its key, generation and ``forced_replays`` only (no stage).
    """
    meetings = mongo.db[MEETINGS]
    key = meeting_key(tenant, meeting_uuid)
    current = await guarded(meetings.find_one(key))
    if current is None or replay_id not in (current.get("forced_replays") or []):
        try:
            doc = await guarded(
                meetings.find_one_and_update(
                    {**key, "forced_replays": {"$ne": replay_id}},
                    {
                        "$inc": {"generation": 1},
                        "$push": {"forced_replays": {"$each": [replay_id], "$slice": -FORCED_REPLAYS_KEPT}},
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            )
        except DuplicateKeyError:  # bumped by this replay id since it was read: the upsert met the unique key
            doc = None
        current = doc or await guarded(meetings.find_one(key))
    return Meeting.from_document(current).generation if current else 1


def regenerate(event: Event, generation: int) -> Event:
    """``event`` under a new generation, with a new deterministic event id."""
    update: dict[str, Any] = {
        "generation": generation,
        "event_id": stable_id(event.event_id, "generation", str(generation)),
    }
    if "source" in type(event).model_fields:
        update["source"] = "replay"
    return event.model_copy(update=update)


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


async def replay(infra: InfraSettings, mongo: Mongo | None, request: ReplayRequest) -> ReplayCounts:
    """Re-publish the retained events that ``request`` selects, but a forgotten meeting's; returns the counts.

    ``mongo`` is where tombstones and generations are read (None only for a dry run, which then reads no tombstone).
    A dry run publishes nothing and counts as the run would (``forgotten``, ``skipped``), ``published`` staying 0:
    the run would publish ``matched - forgotten - skipped``.

    Raises :class:`UsageError` for a topic that is not an event topic (before reading anything), and
    :class:`ReplayStopped`, with the counts so far, when a server or a send stops it part-way.
    """
    target = destination(infra, request.topic)
    topic = infra.kafka_topic_prefix + base_topic(infra, request.topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True, **client_options(infra)
    )
    await start_client(producer)
    counts = ReplayCounts()
    if request.force and not request.dry_run:
        counts.replay_id = request.replay_id or new_replay_id()
    published: set[str] = set()
    forgotten: dict[tuple[str, str], bool] = {}
    try:
        async with aclosing(retained(infra, topic, request)) as messages:  # its consumer stops even on an error
            async for _, value in messages:
                counts.scanned += 1
                event = _readable(infra, topic, value, counts)
                if event is None or not matches(request, event):
                    continue
                counts.matched += 1
                if mongo is not None and await _forgotten(mongo, event, forgotten):
                    counts.forgotten += 1  # erased for good: re-published, it would come back
                    continue
                if request.dry_run:  # counted as the run would count it: a forced run's ids follow these one to one
                    body, key, event_id = b"", b"", event.event_id
                else:
                    body, key, event_id = await _prepare(mongo, request, event, counts)
                if event_id in published:
                    counts.skipped += 1  # the same event retained twice (a duplicate, or an earlier replay)
                    continue
                published.add(event_id)
                if request.dry_run:
                    continue
                await _send(producer, infra.kafka_topic_prefix + target, body, key)
                counts.published += 1
    except STOPPING_ERRORS as exc:
        raise ReplayStopped(counts, exc) from exc
    finally:
        await producer.stop()
    return counts


async def _forgotten(mongo: Mongo, event: Event, known: dict[tuple[str, str], bool]) -> bool:
    """True when the event's meeting has a tombstone (read once per meeting and replay)."""
    meeting = (event.tenant, event.meeting_uuid)
    if meeting not in known:
        known[meeting] = await is_forgotten(mongo, *meeting)
    return known[meeting]


def _readable(infra: InfraSettings, topic: str, value: bytes, counts: ReplayCounts) -> Event | None:
    """The event of one retained message, or None (counted as ``invalid`` or ``misrouted``) when there is none."""
    try:
        return decode(infra, topic, value)[1]
    except Misrouted:
        counts.misrouted += 1
    except ValueError:  # not JSON, not the event (pydantic's ValidationError), text that is not UTF-8
        counts.invalid += 1
    return None


async def _prepare(
    mongo: Mongo | None, request: ReplayRequest, event: Event, counts: ReplayCounts
) -> tuple[bytes, bytes, str]:
    """The body and key to publish, and the event id."""
    if request.force:
        if mongo is None or counts.replay_id is None:
            raise ValueError("--force needs MongoDB and a replay id to bump the meeting's generation")
        meeting = f"{event.tenant}/{event.meeting_uuid}"
        if meeting not in counts.generations:
            generation = await bump_generation(mongo, event.tenant, event.meeting_uuid, counts.replay_id)
            counts.generations[meeting] = generation
        event = regenerate(event, counts.generations[meeting])
    return event.model_dump_json().encode(), event_key(event), event.event_id


async def _send(producer: AIOKafkaProducer, topic: str, body: bytes, key: bytes) -> None:
    """Publish one event and wait for Kafka's acknowledgement; no answer in time is :class:`KafkaUnavailable`."""
    try:
        await producer.send_and_wait(topic, body, key=key)
    except (KafkaTimeoutError, KafkaConnectionError) as exc:
        raise KafkaUnavailable(f"publish to {topic!r} not acknowledged: {type(exc).__name__}") from exc


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
