"""How many files a recording.completed, and how many recordings a phone.recording_completed, may name.

Before: a signed webhook of 20,000 participant files (0.9 MB, under the body limit) built a 4.7 MB event that no
Kafka publish could take; it was answered 503 "kafka unavailable", and Zoom sent the same body again and again. A
phone webhook of thousands of recordings was as many publishes and log lines. Now each is refused at once (400,
``invalid_fields``), before any entry is read, and an event that still outgrows a Kafka message is the body's
fault (400), not Kafka being away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from zoomsymbl_common.event_fields import MAX_FALLBACK_FILES, MAX_PARTICIPANT_TRACKS
from zoomsymbl_common.events import RecordingCompleted, RecordingFile
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_ingest.phone_payload import MAX_PHONE_RECORDINGS
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.zoom_payload import PayloadError

from tests.ingest.support import RecordingPublisher, meeting_object, read_events, recording_body, tenants
from tests.ingest.test_handlers import Ingest, serve
from tests.ingest.test_handlers_phone import DOCUMENTED


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    publisher = RecordingPublisher()
    running = await serve(
        publisher,
        tenants(allowed_users=(), zoom_account_id="acct-1", zoom_client_id="c", zoom_client_secret="s"),
        max_body_bytes=16 << 20,
    )
    running.kafka = publisher.events
    yield running
    await running.client.close()


def with_files(count: int, key: str) -> bytes:
    obj = meeting_object("many-files==")
    template = obj["participant_audio_files"][0] if key == "participant_audio_files" else obj["recording_files"][0]
    obj[key] = [template | {"id": f"f{n}"} for n in range(count)]
    return recording_body(obj)


@pytest.mark.parametrize(
    ("key", "most"),
    [("participant_audio_files", MAX_PARTICIPANT_TRACKS), ("recording_files", MAX_FALLBACK_FILES)],
)
async def test_more_files_than_an_event_holds_is_a_400_and_the_most_is_published(
    ingest: Ingest, key: str, most: int
) -> None:
    refused = await ingest.post(with_files(most + 1, key))
    assert refused.status == 400
    answer = await refused.json()
    assert answer["error"] == "invalid_fields" and f"has {most + 1} entries, more than {most}" in answer["detail"]
    assert ingest.kafka == []
    accepted = await ingest.post(with_files(most, key))
    assert accepted.status == 200, await accepted.text()
    [event] = ingest.events()
    assert len(event.participant_tracks if key == "participant_audio_files" else event.fallback_files) >= most - 1


async def test_a_phone_webhook_of_more_recordings_than_a_call_has_is_a_400(ingest: Ingest) -> None:
    data = json.loads(DOCUMENTED.read_text())
    data["event_ts"] = int(datetime.now(UTC).timestamp() * 1000)
    data["payload"]["account_id"] = "acct-1"
    entry = data["payload"]["object"]["recordings"][0]
    data["payload"]["object"]["recordings"] = [entry | {"id": f"r{n}"} for n in range(MAX_PHONE_RECORDINGS + 1)]
    refused = await ingest.post(json.dumps(data).encode())
    assert refused.status == 400
    assert f"more than {MAX_PHONE_RECORDINGS}" in (await refused.json())["detail"]
    assert ingest.kafka == []


def huge_event() -> RecordingCompleted:
    """An event within every bound that still outgrows one Kafka message (long URLs and names on every file)."""
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    track = RecordingFile(
        file_id="f",
        participant_name="N" * 256,
        participant_email=("e" * 300) + "@example.com",
        recording_start=start,
        recording_end=start,
        download_url="https://zoom.us/rec/download/" + "u" * 2000,
    )
    tracks = tuple(track.model_copy(update={"file_id": f"f{n}"}) for n in range(MAX_PARTICIPANT_TRACKS))
    return RecordingCompleted(event_id="huge", tenant="acme", meeting_uuid="huge==", participant_tracks=tracks)


@pytest.mark.integration
async def test_an_event_kafka_cannot_hold_is_the_bodys_fault_not_kafka_being_away(infra: InfraSettings) -> None:
    event = huge_event()
    assert len(event.model_dump_json()) > 1 << 20
    producer = Producer(infra)
    await producer.wait_connected(timeout=20.0)
    try:
        with pytest.raises(PayloadError, match="more than one Kafka message holds") as caught:
            await producer.publish(event, timeout=10.0)
        assert caught.value.reason == "invalid_fields"
        small = RecordingCompleted(event_id="small", tenant="acme", meeting_uuid="small==")
        await producer.publish(small, timeout=10.0)  # the producer goes on
    finally:
        await producer.close()
    assert [e.event_id for e in await read_events(infra, expect=1, quiet=0.5)] == ["small"]
