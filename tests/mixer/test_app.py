"""The mixer service as deployed: real Kafka in and out, MongoDB, S3, the Zoom sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer
from zoomsymbl_common.attempts import AttemptKey, MongoAttempts
from zoomsymbl_common.events import AudioMixed, DeadLetter, RecordingCompleted
from zoomsymbl_common.kafka import make_broker, publish_event, start_broker, topic_name
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import CONSUMER_ATTEMPTS, MEETINGS
from zoomsymbl_common.scratch import LOCK
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.topics import TopicPlan, create_topics, topic_specs
from zoomsymbl_mixer.app import build_app
from zoomsymbl_mixer.settings import Settings
from zoomsymbl_sandbox.zoom import Fault, ZoomSandbox

from tests.mixer.conftest import TYPICAL, Rig
from tests.support.eventually import eventually

pytestmark = pytest.mark.integration


def tenants_file(rig: Rig, path: Path) -> Path:
    tenant = rig.tenant
    secrets = {
        "zoom_webhook_secret": tenant.zoom_webhook_secret.get_secret_value(),
        "zoom_client_secret": tenant.zoom_client_secret.get_secret_value(),
    }
    data = {
        "tenants": [{**tenant.model_dump(mode="json", exclude={"symbl_app_secret", "assemblyai_api_key"}), **secrets}]
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
async def service(
    rig: Rig, infra: InfraSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TestServer]:
    async with running_mixer(rig, infra, tmp_path, monkeypatch) as server:
        yield server


@contextlib.asynccontextmanager
async def running_mixer(
    rig: Rig, infra: InfraSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TestServer]:
    await create_topics(infra.kafka_bootstrap, topic_specs(TopicPlan(1, 1, prefix=infra.kafka_topic_prefix)))
    monkeypatch.setenv("ZOOMSYMBL_TENANTS_FILE", str(tenants_file(rig, tmp_path / "tenants.json")))
    settings = Settings(
        infra=infra,
        scratch_dir=rig.scratch,
        max_attempts=2,
        retry_base_delay_seconds=0.05,
        retry_max_delay_seconds=0.1,
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def test_the_scratch_of_a_killed_run_is_swept_when_the_mixer_starts(
    rig: Rig, infra: InfraSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OOM kill mid-mix: the container restarts in the same pod, whose emptyDir kept the meeting's files.
    left = rig.scratch / "meeting-k1ll3d"
    left.mkdir(parents=True)
    (left / "0001.m4a").write_bytes(b"\0" * 65536)
    (left / LOCK).touch()
    unrelated = rig.scratch / "operator-notes"
    unrelated.mkdir()
    async with running_mixer(rig, infra, tmp_path, monkeypatch):
        assert not left.exists()
        assert unrelated.exists()


async def read(infra: InfraSettings, topic: str, count: int = 1, timeout: float = 60) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while len(values) < count:
                record = await consumer.getone()
                assert record.value is not None
                values.append(record.value)
    finally:
        await consumer.stop()
    return values


async def send(infra: InfraSettings, event: RecordingCompleted | bytes) -> None:
    broker = make_broker(infra, "test")
    await start_broker(broker)
    try:
        if isinstance(event, bytes):
            await broker.publish(event, topic=topic_name(infra, RecordingCompleted.topic))
        else:
            await publish_event(broker, infra, event, timeout=20)
    finally:
        await broker.stop()


async def test_health_readiness_and_metrics(service: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(service.make_url("/healthz")) as response:
            assert response.status == 200
        async with http.get(service.make_url("/readyz")) as response:
            body = await response.json()
            assert (response.status, body["checks"]) == (200, {"mongo": "ok", "s3": "ok", "kafka": "ok"})
        async with http.get(service.make_url("/metrics")) as response:
            assert "zoomsymbl_mixer_meetings_total" in await response.text()


async def test_a_recording_becomes_one_audio_mixed_event(service: TestServer, rig: Rig, infra: InfraSettings) -> None:
    event = await rig.event(TYPICAL)
    await send(infra, event)
    [raw] = await read(infra, topic_name(infra, AudioMixed.topic))
    mixed = AudioMixed.model_validate_json(raw)
    assert (mixed.tenant, mixed.meeting_uuid, mixed.channels) == ("acme", TYPICAL, 3)
    assert [c.participant_name for c in mixed.channel_map] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert len(mixed.speaker_stats) == 3
    assert "download_token" not in raw.decode() and "Bearer" not in raw.decode()
    assert await rig.store.size(mixed.object_key) == mixed.size_bytes
    # The recordings API calls of this webhook-driven meeting counted in the account's shared quota, as priority work.
    async with aiohttp.ClientSession() as http, http.get(service.make_url("/metrics")) as response:
        metrics = await response.text()
    counted = [line for line in metrics.splitlines() if line.startswith("zoomsymbl_zoom_api_requests_total{")]
    assert counted and all('priority="priority"' in line for line in counted), counted


async def test_zooms_error_body_fails_the_meeting_and_dead_letters_the_event(
    service: TestServer, rig: Rig, infra: InfraSettings, mongo: Mongo, sandbox: ZoomSandbox
) -> None:
    event = await rig.event(TYPICAL)
    sandbox.faults.add(Fault(route="download", kind="error_body", file_id=event.participant_tracks[2].file_id))
    await send(infra, event)
    [raw] = await read(infra, DeadLetter.topic_for(topic_name(infra, RecordingCompleted.topic)))
    letter = DeadLetter.model_validate_json(raw)
    assert letter.event_id == event.event_id and "code 124" in letter.reason
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "failed"
    assert doc["failure"]["stage"] == "download" and "code 124" in doc["failure"]["reason"]


async def test_garbage_on_the_topic_is_dead_lettered_and_the_service_keeps_working(
    service: TestServer, rig: Rig, infra: InfraSettings
) -> None:
    await send(infra, b"\xff not an event")
    await send(infra, await rig.event(TYPICAL))
    [raw] = await read(infra, DeadLetter.topic_for(topic_name(infra, RecordingCompleted.topic)))
    assert DeadLetter.model_validate_json(raw).reason.startswith("invalid RecordingCompleted")
    [mixed] = await read(infra, topic_name(infra, AudioMixed.topic))
    assert AudioMixed.model_validate_json(mixed).meeting_uuid == TYPICAL


async def test_an_event_whose_attempts_all_died_with_the_process_is_dead_lettered_not_mixed_again(
    service: TestServer, rig: Rig, infra: InfraSettings, mongo: Mongo
) -> None:
    event = await rig.event(TYPICAL)
    topic = topic_name(infra, RecordingCompleted.topic)
    # What two earlier mixers left behind when they were evicted mid-merge (max_attempts=2 here).
    for _ in range(2):
        await MongoAttempts(mongo).begin(AttemptKey("mixer", topic, event.event_id))
    downloads = rig.downloads()
    await send(infra, event)
    [raw] = await read(infra, DeadLetter.topic_for(topic))
    letter = DeadLetter.model_validate_json(raw)
    assert (letter.event_id, letter.error_type, letter.attempts) == (event.event_id, "Interrupted", 2)
    assert rig.downloads() == downloads, "not downloaded or mixed a third time"
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None and doc["stage"] == "failed" and "cut short" in doc["failure"]["reason"]
    # The count is dropped (and the metric counted) right after the dead letter.
    await eventually(
        lambda: mongo.db[CONSUMER_ATTEMPTS].count_documents({}), lambda n: n == 0, timeout=30,
        what="the attempt count dropped after the dead letter",
    )  # fmt: skip
    async with aiohttp.ClientSession() as http, http.get(service.make_url("/metrics")) as response:
        metrics = await response.text()
    assert f'zoomsymbl_consumer_dead_letters_total{{error_type="Interrupted",topic="{topic}"}} 1.0' in metrics
