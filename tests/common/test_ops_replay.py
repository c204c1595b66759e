"""`zoomsymbl replay` against the real local Kafka and MongoDB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from zoomsymbl_common.events import AudioMixed, DeadLetter, InsightsReady, RecordingCompleted, stable_id
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.command import UsageError
from zoomsymbl_common.ops.replay import ReplayRequest, matches, regenerate, replay
from zoomsymbl_common.ops.replay_source import decode, reset_group
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_common.settings import InfraSettings

from tests.submitter.support import audio_mixed

pytestmark = pytest.mark.integration
TOPIC = RecordingCompleted.topic


def _event(tenant: str, meeting: str) -> RecordingCompleted:
    return RecordingCompleted(event_id=stable_id(tenant, meeting), tenant=tenant, meeting_uuid=meeting)


async def _produce(infra: InfraSettings, topic: str, bodies: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(infra.kafka_topic_prefix + topic, body)
    finally:
        await producer.stop()


async def _drain(infra: InfraSettings, topic: str, expected: int) -> list[RecordingCompleted]:
    consumer = AIOKafkaConsumer(
        infra.kafka_topic_prefix + topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[RecordingCompleted] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [RecordingCompleted.model_validate_json(r.value or b"") for r in records]
        await asyncio.sleep(0.5)
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found += [RecordingCompleted.model_validate_json(r.value or b"") for r in records]
    finally:
        await consumer.stop()
    return found


def test_filters_and_regeneration_are_pure() -> None:
    request = ReplayRequest(topic=TOPIC, tenant="acme", meeting="m1")
    event = _event("acme", "m1")
    assert matches(request, event)
    assert not matches(request, _event("acme", "m2"))
    assert not matches(request, _event("beta", "m1"))
    again = regenerate(event, 2)
    assert isinstance(again, RecordingCompleted)
    assert again.generation == 2
    assert again.source == "replay"
    assert again.event_id != event.event_id
    assert regenerate(event, 2).event_id == again.event_id


def test_dead_letters_replay_onto_their_source_topic() -> None:
    infra = InfraSettings()
    event = _event("acme", "m1")
    letter = DeadLetter(
        source_topic=TOPIC, service="mixer", reason="s3 down", error_type="X", attempts=5,
        payload=event.model_dump_json(),
    )  # fmt: skip
    assert decode(infra, TOPIC + ".dlq", letter.model_dump_json().encode()) == (TOPIC, event)


async def test_replay_filters_and_is_idempotent_without_force(infra: InfraSettings) -> None:
    events = [_event("acme", "m1"), _event("acme", "m2"), _event("beta", "m1")]
    await _produce(infra, TOPIC, [e.model_dump_json().encode() for e in events])
    dry = await replay(infra, None, ReplayRequest(topic=TOPIC, tenant="acme", dry_run=True))
    assert (dry.scanned, dry.matched, dry.published) == (3, 2, 0)
    counts = await replay(infra, None, ReplayRequest(topic=TOPIC, tenant="acme", meeting="m2"))
    assert (counts.matched, counts.published) == (1, 1)
    everything = await _drain(infra, TOPIC, 4)
    assert len(everything) == 4
    # Partitions interleave, so count instead of relying on order: m2 twice, unchanged; the others once.
    assert [everything.count(e) for e in events] == [1, 2, 1], "replayed unchanged: same event_id, same generation"


async def test_forced_replay_bumps_the_generation(infra: InfraSettings, mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1", "stage": "notified"})
    await _produce(infra, TOPIC, [_event("acme", "m1").model_dump_json().encode()])
    counts = await replay(infra, mongo, ReplayRequest(topic=TOPIC, force=True))
    assert counts.published == 1
    drained = await _drain(infra, TOPIC, 2)  # the original and the replay, in any order across partitions
    [replayed] = [e for e in drained if e.source == "replay"]
    assert replayed.generation == 1
    assert [e.generation for e in drained if e.source != "replay"] == [0]
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": "m1"})
    assert doc is not None
    assert doc["generation"] == 1
    assert "stage" not in doc, "the new generation's stage starts over"


async def test_a_replay_id_bumps_each_meeting_once(infra: InfraSettings, mongo: Mongo) -> None:
    """The same forced replay run again (resumed) keeps the generation it gave; another one bumps it."""
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1", "stage": "notified"})
    await _produce(infra, TOPIC, [_event(t, "m1").model_dump_json().encode() for t in ("acme", "beta")])
    first = await replay(infra, mongo, ReplayRequest(topic=TOPIC, force=True, replay_id="r1"))
    await mongo.db[MEETINGS].update_many({}, {"$set": {"stage": "processing"}})  # the new generation went on
    again = await replay(infra, mongo, ReplayRequest(topic=TOPIC, force=True, replay_id="r1"))
    assert first.generations == again.generations == {"acme/m1": 1, "beta/m1": 1}
    assert (first.replay_id, again.replay_id) == ("r1", "r1")
    other = await replay(infra, mongo, ReplayRequest(topic=TOPIC, force=True, tenant="acme"))
    assert other.replay_id not in (None, "r1")
    assert other.generations == {"acme/m1": 2}
    docs = {doc["tenant"]: doc async for doc in mongo.db[MEETINGS].find({})}
    assert (docs["acme"]["generation"], docs["beta"]["generation"]) == (2, 1)
    assert docs["acme"]["forced_replays"] == ["r1", other.replay_id]
    assert "stage" not in docs["acme"], "another replay starts the stage over"
    assert docs["beta"]["stage"] == "processing", "the resumed one changed nothing"


async def test_since_selects_by_time_and_group_reset(infra: InfraSettings) -> None:
    await _produce(infra, TOPIC, [_event("acme", "old").model_dump_json().encode()])
    await asyncio.sleep(1.2)
    cut = datetime.now(tz=UTC) - timedelta(milliseconds=200)
    await _produce(infra, TOPIC, [_event("acme", "new").model_dump_json().encode()])
    counts = await replay(infra, None, ReplayRequest(topic=TOPIC, since=cut, dry_run=True))
    assert (counts.scanned, counts.matched) == (1, 1)
    offsets = await reset_group(infra, "ops-test-group", TOPIC, cut)
    assert sum(offsets.values()) == 1, "the group now starts at the second message"


async def test_a_forced_replay_of_audio_mixed_notes_the_recorded_mix_as_the_new_generations(
    infra: InfraSettings, mongo: Mongo
) -> None:
    """The mixer sees no recording of the new generation, so the replay notes the mix it runs again
    (``mixed_generation``): Zoom's late transcript is announced with the current generation's mix only."""
    recorded, earlier = (
        audio_mixed(1, infra, "mixed/acme/m.mix-b.flac", 10),
        audio_mixed(2, infra, "mixed/acme/m.mix-a.flac", 10),
    )
    for event in (recorded, earlier):
        mix = {"object_key": recorded.object_key}
        await mongo.db[MEETINGS].insert_one({"tenant": event.tenant, "meeting_uuid": event.meeting_uuid,
                                             "stage": "mixed", "mix": mix, "mixed_generation": 0})  # fmt: skip
    await _produce(infra, AudioMixed.topic, [e.model_dump_json().encode() for e in (recorded, earlier)])

    counts = await replay(infra, mongo, ReplayRequest(topic=AudioMixed.topic, force=True))

    assert counts.published == 2
    docs = {d["meeting_uuid"]: d async for d in mongo.db[MEETINGS].find({})}
    assert (docs[recorded.meeting_uuid]["generation"], docs[recorded.meeting_uuid]["mixed_generation"]) == (1, 1)
    assert (docs[earlier.meeting_uuid]["generation"], docs[earlier.meeting_uuid]["mixed_generation"]) == (1, 0)


async def test_a_forced_replay_of_a_topic_that_starts_no_run_bumps_nothing(infra: InfraSettings, mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": "m1", "stage": "notified"})

    with pytest.raises(UsageError, match="--force reprocesses meetings"):
        await replay(infra, mongo, ReplayRequest(topic=InsightsReady.topic, meeting="m1", force=True))

    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": "m1"})
    assert doc is not None and "generation" not in doc and doc["stage"] == "notified"
