"""``zoomsymbl replay --force --resume``: what a resumed forced replay publishes again, and why no meeting gets a
second provider job or e-mail from it, against the real local Kafka, MongoDB and S3 and the Symbl sandbox.

A forced replay that stopped part-way, resumed, publishes again the events the stopped run published: the same
event, under the same id (``regenerate`` is deterministic in the event id and the generation), and, when the
window also holds the copies the stopped run wrote onto the topic it reads, those copies re-derived under new
ids. All of them are in the generation the stopped run gave the meeting (``bump_generation`` bumps once per
replay id), and downstream work is keyed by generation, never by event id: the submitter's submission key is
(meeting, input, provider, generation, part), the notifier's e-mail key (meeting, generation, kind). The test
pins both halves: what is re-published, and that feeding every message of the topic to the real submitter makes
one provider job per meeting, whose report key is one per meeting.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from zoomsymbl_common.consumer import event_key
from zoomsymbl_common.events import AudioMixed, JobSubmitted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.replay import ReplayRequest, ReplayStopped, replay
from zoomsymbl_common.records import JOBS, MEETINGS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_notifier.jobs import JobRecord
from zoomsymbl_notifier.notices import mail_key
from zoomsymbl_sandbox.provider_jobs import JobTimings
from zoomsymbl_sandbox.symbl import SYMBL_STATE

from tests.common.test_ops_cli import kafka_stops_after_one_send
from tests.submitter.support import SYMBL_ACCOUNT, Completer, audio_mixed, build_submitter, tenants_for, upload_for
from tests.support.eventually import eventually
from tests.support.providers import ProviderSandboxes, drain

pytestmark = pytest.mark.integration
TOPIC = AudioMixed.topic
MEETINGS_REPLAYED = 3


async def _produce(infra: InfraSettings, events: list[AudioMixed]) -> None:
    """The mixer's events, keyed as the mixer keys them (a meeting's events on one partition, in order)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                infra.kafka_topic_prefix + TOPIC, event.model_dump_json().encode(), key=event_key(event)
            )
    finally:
        await producer.stop()


async def _topic(infra: InfraSettings, least: int) -> list[AudioMixed]:
    """Every message of the topic up to its end offsets now, each partition in offset order; read again (up to 30 s)
    while fewer than ``least`` came: under load a fresh client's first answers may not show the topic's messages yet
    (seen as an empty read right after acknowledged publishes)."""
    return await eventually(
        lambda: _read_topic(infra), lambda found: len(found) >= least, timeout=30, what=f"{least} messages on the topic"
    )


async def _read_topic(infra: InfraSettings) -> list[AudioMixed]:
    """One read of every message of the topic up to its end offsets now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        name = infra.kafka_topic_prefix + TOPIC
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[TopicPartition, list[AudioMixed]] = {tp: [] for tp in partitions}
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                found[tp] += [AudioMixed.model_validate_json(r.value or b"") for r in records if r.offset < ends[tp]]
        return [event for tp in partitions for event in found[tp]]
    finally:
        await consumer.stop()


def _replayed(events: list[AudioMixed]) -> dict[str, list[AudioMixed]]:
    """The replay's copies on the topic (generation above the mixer's 0), by meeting."""
    found: dict[str, list[AudioMixed]] = {}
    for event in events:
        if event.generation > 0:
            found.setdefault(event.meeting_uuid, []).append(event)
    return found


async def test_a_resumed_forced_replay_republishes_in_the_same_generation_and_makes_no_second_job(
    infra: InfraSettings,
    mongo: Mongo,
    store: ObjectStore,
    tone_audio: Path,
    sandboxes: ProviderSandboxes,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    originals = [audio_mixed(i, infra, *await upload_for(store, tone_audio, i)) for i in range(MEETINGS_REPLAYED)]
    await mongo.db[MEETINGS].insert_many(
        [{"tenant": e.tenant, "meeting_uuid": e.meeting_uuid, "generation": 0, "stage": "notified"} for e in originals]
    )
    await _produce(infra, originals)
    request = ReplayRequest(topic=TOPIC, tenant="acme", force=True, replay_id="resumed-1")

    with monkeypatch.context() as patched:
        patched.setattr(AIOKafkaProducer, "send_and_wait", kafka_stops_after_one_send())
        with pytest.raises(ReplayStopped) as stopped:
            await replay(infra, mongo, request)
    assert stopped.value.counts.published == 1
    [(first, [published_before])] = _replayed(await _topic(infra, MEETINGS_REPLAYED + 1)).items()

    resumed = await replay(infra, mongo, request)
    assert resumed.generations == {f"acme/{e.meeting_uuid}": 1 for e in originals}, "no meeting bumped twice"
    topic = await _topic(infra, 2 * (MEETINGS_REPLAYED + 1))
    replayed = _replayed(topic)
    # What is published again: the stopped run's event under its own id, and the copy of it the resumed run read
    # back from the topic, under a new id. Every copy of every meeting is generation 1, the one the stopped run gave.
    assert (resumed.matched, resumed.published) == (MEETINGS_REPLAYED + 1, MEETINGS_REPLAYED + 1)
    assert Counter(e.event_id for e in replayed[first])[published_before.event_id] == 2
    assert len({e.event_id for e in replayed[first]}) == 2
    assert {m: len(copies) for m, copies in replayed.items() if m != first} == dict.fromkeys(
        {e.meeting_uuid for e in originals} - {first}, 1
    )
    assert {e.generation for copies in replayed.values() for e in copies} == {1}
    stored = {doc["meeting_uuid"]: doc["generation"] async for doc in mongo.db[MEETINGS].find({})}
    assert stored == {e.meeting_uuid: 1 for e in originals}

    # Downstream: the real submitter fed every message of the topic, in order, as its consumer would be.
    server = await sandboxes.symbl(timings=JobTimings(0.05, 0.05), max_concurrent_jobs=5)
    completer = Completer(mongo, SYMBL_ACCOUNT)
    await completer.start()
    announced: list[JobSubmitted] = []
    try:
        submitter = build_submitter(
            infra, mongo, tenants_for("symbl", str(server.make_url(""))), session, completer.base_url, announced
        )
        for event in topic:
            await submitter.on_audio_mixed(event)
        submitted = server.app[SYMBL_STATE].stats()["submissions_by_name"]
        assert submitted == {e.topic_text: 1 for e in originals}, "one provider job per meeting"
        jobs = [JobRecord.from_doc(doc) for doc in await mongo.db[JOBS].find({}).to_list(None)]
        assert sorted((j.meeting_uuid, j.generation) for j in jobs) == sorted((e.meeting_uuid, 1) for e in originals)
        assert len({mail_key(job, "report") for job in jobs}) == MEETINGS_REPLAYED, "one report per meeting"
        assert len({e.event_id for e in announced}) == MEETINGS_REPLAYED
    finally:
        await drain(server.app[SYMBL_STATE].board)
        await completer.close()
