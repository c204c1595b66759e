"""Replay retained Kafka events: re-publish a time range (optionally filtered), or rewind a group.

Without ``force`` a replay re-publishes events unchanged: every handler is idempotent, so nothing
is done twice. With ``force`` each meeting's generation is bumped in MongoDB (one atomic ``$inc``)
and the event is re-published under that generation with a new ``event_id``: the meeting is
processed again (new provider job, an e-mail marked as an update). Each forced replay has an id,
recorded on every meeting it bumped (``forced_replays``): run again with the same id (``--resume``)
after it stopped part-way, a replay re-publishes the meetings it already bumped under their current
generation instead of bumping them again (so no host gets a second update). What the stopped run published
goes out again: the same events under the same ids, and, when the window also holds the copies it wrote onto
the topic read, those copies under new ids; all in the generation the stopped run gave the meeting. That is
harmless because downstream work is keyed by generation, not by event id (the mixer's mix and ``AudioMixed`` id,
the submitter's submission key, the notifier's e-mail key; tests/common/test_ops_replay_resume.py). A
dead-letter topic replays the original messages onto the topic it is the dead-letter topic of.

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

import re
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from zoomsymbl_common.errors import KafkaUnavailable, ZoomsymblError
from zoomsymbl_common.events import AudioMixed, Event, stable_id
from zoomsymbl_common.kafka import event_key, start_client
from zoomsymbl_common.kafka_security import client_options
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.ops.forget import is_forgotten
from zoomsymbl_common.ops.replay_source import Misrouted, base_topic, decode, destination, refuse_force, retained
from zoomsymbl_common.records import MEETINGS, MIXED_GENERATION, Meeting, meeting_key
from zoomsymbl_common.records.order import FAILURE_FIELDS
from zoomsymbl_common.settings import InfraSettings

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


def unfiltered(request: ReplayRequest) -> bool:
    """True when ``request`` selects every retained event of its topic (no tenant, meeting or time bound)."""
    return not (request.tenant or request.meeting or request.since or request.until)


def matches(request: ReplayRequest, event: Event) -> bool:
    """True when the event passes the tenant and meeting filters."""
    if request.tenant and event.tenant != request.tenant:
        return False
    return not (request.meeting and event.meeting_uuid != request.meeting)


RESTARTED = dict.fromkeys(FAILURE_FIELDS, "")
"""What a forced replay clears on its meeting with the generation bump: the earlier generation's stage and failure
(``stages`` keeps when each stage was last reached)."""


async def bump_generation(mongo: Mongo, tenant: str, meeting_uuid: str, replay_id: str) -> int:
    """The meeting's generation for forced replay ``replay_id``: incremented once per replay id.

    The first call for a meeting and ``replay_id`` increments the generation, records the id in
    ``forced_replays`` and clears the stage and failure (:data:`RESTARTED`) in one atomic update; a later call with
    the same id (the replay resumed after it stopped) returns the meeting's current generation and changes nothing. A
    meeting never stored yet gets a document with its key, generation and ``forced_replays`` only (no stage).

    The stage is the new generation's from then on: every stage move names its generation, so the earlier one's
    late news moves nothing. Left as it was, a meeting the notifier had failed stayed ``failed`` through its re-run
    (the re-run's report was withheld as "failed in this generation", the host never heard of it), and a notified
    meeting stayed ``notified`` (the re-run could not be marked failed: no notice, no earlier report standing in).
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
                        "$unset": RESTARTED,
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


async def carry_mix(mongo: Mongo, mixed: AudioMixed) -> None:
    """Note the meeting's mix as ``mixed``'s generation's (``mixed_generation``) when ``mixed`` names it: a forced
    replay of ``audio.mixed.v1`` runs the recorded mix again under the new generation, and the mixer never sees a
    recording of that generation to note it. Zoom's transcript arriving since is announced only with the current
    generation's mix: without the note a ``zoom``-source meeting replayed this way waited for its transcript for ever.
    The replay of an event naming another mix (an earlier one) leaves the note as it is."""
    query = {**meeting_key(mixed.tenant, mixed.meeting_uuid), "generation": mixed.generation,
             "mix.object_key": mixed.object_key}  # fmt: skip
    await guarded(mongo.db[MEETINGS].update_one(query, {"$set": {MIXED_GENERATION: mixed.generation}}))


def regenerate(event: Event, generation: int) -> Event:
    """``event`` under a new generation, with a new deterministic event id."""
    update: dict[str, Any] = {
        "generation": generation,
        "event_id": stable_id(event.event_id, "generation", str(generation)),
    }
    if "source" in type(event).model_fields:
        update["source"] = "replay"
    return event.model_copy(update=update)


async def replay(infra: InfraSettings, mongo: Mongo | None, request: ReplayRequest) -> ReplayCounts:
    """Re-publish the retained events that ``request`` selects, but a forgotten meeting's; returns the counts.

    ``mongo`` is where tombstones and generations are read (None only for a dry run, which then reads no tombstone).
    A dry run publishes nothing and counts as the run would (``forgotten``, ``skipped``), ``published`` staying 0:
    the run would publish ``matched - forgotten - skipped``.

    Raises :class:`UsageError` for a topic that is not an event topic, or that a forced replay does not take
    (:data:`~zoomsymbl_common.ops.replay_source.RESTARTING`), before reading anything; and
    :class:`ReplayStopped`, with the counts so far, when a server or a send stops it part-way.
    """
    target = destination(infra, request.topic)
    if request.force:
        refuse_force(infra, request.topic)
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
        if isinstance(event, AudioMixed):
            await carry_mix(mongo, event)
    return event.model_dump_json().encode(), event_key(event), event.event_id


async def _send(producer: AIOKafkaProducer, topic: str, body: bytes, key: bytes) -> None:
    """Publish one event and wait for Kafka's acknowledgement; no answer in time is :class:`KafkaUnavailable`."""
    try:
        await producer.send_and_wait(topic, body, key=key)
    except (KafkaTimeoutError, KafkaConnectionError) as exc:
        raise KafkaUnavailable(f"publish to {topic!r} not acknowledged: {type(exc).__name__}") from exc
