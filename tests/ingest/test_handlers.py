"""The webhook endpoint in memory (aiohttp test client, a recording publisher): every outcome Zoom sees."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.events import Event, RecordingCompleted
from zoomsymbl_common.kafka import topic_name
from zoomsymbl_common.service import TENANTS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_common.tenants import Tenants
from zoomsymbl_ingest import handlers
from zoomsymbl_ingest.app import create_app
from zoomsymbl_ingest.handlers import INTAKE
from zoomsymbl_ingest.intake import Intake, Publisher
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_sandbox.zoom import send_url_validation

from tests.ingest.support import (
    DOWNLOAD_TOKEN,
    OTHER_SECRET,
    SECRET,
    MemoryReceipts,
    MemoryTokens,
    RecordingPublisher,
    meeting_object,
    recording_body,
    signed_headers,
    tenants,
)

INFRA = InfraSettings(kafka_topic_prefix="unit-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)


@dataclass
class Ingest:
    client: TestClient[Any, Any]
    metrics: IngestMetrics
    receipts: MemoryReceipts
    tokens: MemoryTokens
    kafka: list[Event] = field(default_factory=list)

    async def post(self, body: bytes, headers: dict[str, str] | None = None, path: str = "/webhooks/zoom") -> Any:
        return await self.client.post(path, data=body, headers=signed_headers(body) if headers is None else headers)

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def events(self) -> list[RecordingCompleted]:
        # Through JSON, as the consumers read them off Kafka.
        return [RecordingCompleted.model_validate_json(e.model_dump_json()) for e in self.kafka]


async def serve(publisher: Publisher, registry: Tenants | None = None, **settings: Any) -> Ingest:
    values: dict[str, Any] = {"infra": INFRA, "max_body_bytes": 4096, **settings}
    metrics = IngestMetrics.create()
    app = create_app(Settings(**values), metrics)
    receipts, tokens = MemoryReceipts(), MemoryTokens()
    app[TENANTS] = registry or tenants(allowed_users=())
    app[INTAKE] = Intake(publisher, receipts, tokens, metrics, store_timeout=0.2)
    client = TestClient(TestServer(app))
    await client.start_server()
    return Ingest(client, metrics, receipts, tokens)


async def test_url_validation_answers_zooms_challenge(ingest: Ingest) -> None:
    async with aiohttp.ClientSession() as session:
        result = await send_url_validation(session, str(ingest.client.make_url("/webhooks/zoom")), SECRET)
    assert result.ok, result.reason
    assert ingest.count("zoomsymbl_ingest_webhook_seconds_count", outcome="validated") == 1


async def test_url_validation_must_be_signed_too(ingest: Ingest) -> None:
    body = b'{"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}'
    response = await ingest.post(body, headers={"content-type": "application/json"})
    assert response.status == 401
    assert "encryptedToken" not in await response.text()


async def test_url_validation_without_plain_token_is_a_bad_request(ingest: Ingest) -> None:
    response = await ingest.post(b'{"event": "endpoint.url_validation", "payload": {}}')
    assert response.status == 400


async def test_a_recording_is_on_kafka_before_the_200(ingest: Ingest) -> None:
    body = recording_body(meeting_object(names=("Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng")))
    response = await ingest.post(body)
    assert response.status == 200
    answer = await response.json()
    assert answer["status"] == "published"
    [event] = ingest.events()
    assert answer["event_id"] == event.event_id
    assert [t.participant_name for t in event.participant_tracks] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert event.has_download_token
    assert event.download_token_expires_at is not None
    assert event.source == "webhook"
    assert DOWNLOAD_TOKEN not in ingest.kafka[0].model_dump_json()  # headers: tests/ingest/test_producer.py
    stored = ingest.tokens.tokens[("acme", event.meeting_uuid)]
    assert stored.value.get_secret_value() == DOWNLOAD_TOKEN
    assert ingest.count("zoomsymbl_ingest_events_published_total", source="webhook") == 1


async def test_a_token_in_a_download_url_stays_off_kafka(ingest: Ingest) -> None:
    obj = meeting_object()
    signed = "?access_token=url-token-very-secret&type=m4a"
    for key in ("participant_audio_files", "recording_files"):
        obj[key] = [{**entry, "download_url": entry["download_url"] + signed} for entry in obj[key]]
    response = await ingest.post(recording_body(obj))
    assert response.status == 200
    [event] = ingest.events()
    assert event.participant_tracks[0].download_url == "https://zoom.us/rec/download/p0?type=m4a"
    assert "url-token-very-secret" not in ingest.kafka[0].model_dump_json()


async def test_a_retried_delivery_answers_200_and_publishes_nothing_new(ingest: Ingest) -> None:
    body = recording_body()
    first = await ingest.post(body)
    again = await ingest.post(body)
    resent_later = await ingest.post(recording_body())  # a new event_ts and signature: still the same recording
    assert [first.status, again.status, resent_later.status] == [200, 200, 200]
    assert (await again.json())["status"] == "duplicate"
    assert len(ingest.kafka) == 1
    assert ingest.count("zoomsymbl_ingest_duplicates_total", source="webhook") == 2


async def test_each_tenant_has_its_own_url_and_secret(ingest: Ingest) -> None:
    body = recording_body()
    assert (await ingest.post(body, signed_headers(body, OTHER_SECRET), "/webhooks/zoom/globex")).status == 200
    assert (await ingest.post(body, signed_headers(body, SECRET), "/webhooks/zoom/globex")).status == 401
    assert [e.tenant for e in ingest.events()] == ["globex"]


async def test_an_unknown_tenant_is_not_found(ingest: Ingest) -> None:
    response = await ingest.post(recording_body(), path="/webhooks/zoom/initech")
    assert response.status == 404
    assert ingest.count("zoomsymbl_ingest_webhooks_rejected_total", reason="unknown_tenant") == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"content-type": "application/json"}, "missing_signature"),
        ({"x-zm-request-timestamp": str(int(time.time())), "x-zm-signature": "v0=" + "0" * 64}, "bad_signature"),
        (None, "stale_timestamp"),
    ],
)
async def test_forged_or_replayed_webhooks_are_unauthorized(
    ingest: Ingest, headers: dict[str, str] | None, reason: str
) -> None:
    body = recording_body()
    if headers is None:
        headers = signed_headers(body, timestamp=int(time.time()) - 301)
    response = await ingest.post(body, headers)
    assert response.status == 401
    assert (await response.json())["error"] == reason
    assert ingest.kafka == []
    assert ingest.count("zoomsymbl_ingest_webhooks_rejected_total", reason=reason) == 1


async def test_a_body_signed_for_another_body_is_unauthorized(ingest: Ingest) -> None:
    honest = recording_body(meeting_object("honest=="))
    forged = recording_body(meeting_object("forged=="))
    assert (await ingest.post(forged, signed_headers(honest))).status == 401
    assert ingest.kafka == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not json", "invalid_json"),
        (b'["event"]', "invalid_json"),
        (b'{"payload": {}}', "missing_fields"),
        (b'{"event": "recording.completed", "payload": {}}', "missing_fields"),
        (b'{"event": "recording.completed", "payload": {"object": {"recording_files": []}}}', "missing_fields"),
    ],
)
async def test_unreadable_bodies_are_bad_requests(ingest: Ingest, body: bytes, reason: str) -> None:
    response = await ingest.post(body)
    assert response.status == 400
    assert (await response.json())["error"] == reason
    assert ingest.count("zoomsymbl_ingest_webhooks_rejected_total", reason=reason) == 1


async def test_a_body_over_the_limit_is_refused(ingest: Ingest) -> None:
    body = recording_body({**meeting_object(), "topic": "x" * 5000})
    response = await ingest.post(body)
    assert response.status == 413
    assert ingest.kafka == []
    assert ingest.count("zoomsymbl_ingest_webhooks_rejected_total", reason="body_too_large") == 1


async def test_unsupported_events_are_acknowledged_and_counted(ingest: Ingest) -> None:
    body = json.dumps({"event": "meeting.started", "payload": {"object": {"uuid": "x"}}}).encode()
    response = await ingest.post(body)
    assert response.status == 200
    assert (await response.json())["status"] == "ignored"
    assert ingest.kafka == []
    assert ingest.count("zoomsymbl_ingest_ignored_total", reason="unsupported_event") == 1


async def test_recordings_of_users_outside_the_allowlist_are_ignored() -> None:
    publisher = RecordingPublisher()
    running = await serve(publisher, tenants(allowed_users=("boss@example.com",)))
    try:
        response = await running.post(recording_body())
        assert response.status == 200
        assert (await response.json())["reason"] == "user_not_allowed"
        boss = recording_body({**meeting_object("boss=="), "host_email": "Boss@Example.com"})
        assert (await (await running.post(boss)).json())["status"] == "published"
    finally:
        await running.client.close()
    assert [e.meeting_uuid for e in publisher.events] == ["boss=="]
    assert running.count("zoomsymbl_ingest_ignored_total", reason="user_not_allowed") == 1


async def test_kafka_unreachable_answers_503_and_the_retry_publishes() -> None:
    producer = Producer(InfraSettings(kafka_bootstrap="127.0.0.1:1"))  # never connected
    running = await serve(producer)
    try:
        body = recording_body()
        response = await running.post(body)
        assert response.status == 503
        assert running.receipts.receipts == {}
        assert running.count("zoomsymbl_ingest_unavailable_total", component="kafka") == 1
        publisher = RecordingPublisher()
        running.client.app[INTAKE].publisher = publisher  # Kafka is back
        assert (await running.post(body)).status == 200
        assert len(publisher.events) == 1
    finally:
        await running.client.close()


async def test_a_token_that_cannot_be_kept_answers_503_for_a_tenant_without_oauth(ingest: Ingest) -> None:
    ingest.tokens.error = MongoUnavailable("ServerSelectionTimeoutError")
    response = await ingest.post(recording_body())
    assert response.status == 503
    assert ingest.kafka == []
    assert ingest.count("zoomsymbl_ingest_unavailable_total", component="mongodb") == 1


async def test_a_publish_slower_than_the_deadline_answers_503() -> None:
    publisher = RecordingPublisher()
    publisher.delay = 5.0
    running = await serve(publisher, request_deadline_seconds=0.1)
    try:
        response = await running.post(recording_body())
        assert response.status == 503
        assert running.receipts.receipts == {}
        assert running.count("zoomsymbl_ingest_unavailable_total", component="deadline") == 1
    finally:
        await running.client.close()


async def test_a_body_that_stalls_is_refused_at_the_deadline_and_not_kept_alive() -> None:
    # A sender that announces a body and stops (slowloris) must not hold a connection and a handler forever.
    running = await serve(RecordingPublisher(), request_deadline_seconds=0.3)
    try:
        body = recording_body()
        headers = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(body).items())
        reader, writer = await asyncio.open_connection(running.client.host, running.client.port)
        writer.write(
            f"POST /webhooks/zoom HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:20]
        )
        await writer.drain()
        async with asyncio.timeout(10):  # the bound of the test, not a measurement: the deadline is 0.3 s
            status_line = await reader.readline()
            head = await reader.readuntil(b"\r\n\r\n")
            answer = await reader.readexactly(int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0]))
        writer.close()
        assert status_line.split()[1] == b"408"
        assert b"connection: close" in head.lower()
        assert json.loads(answer) == {"error": "body_timeout"}
        assert running.kafka == []
        assert running.count("zoomsymbl_ingest_webhooks_rejected_total", reason="body_timeout") == 1
    finally:
        await running.client.close()


async def test_without_a_default_tenant_the_bare_url_is_not_found() -> None:
    running = await serve(RecordingPublisher(), Tenants([]))
    try:
        assert (await running.post(recording_body())).status == 404
    finally:
        await running.client.close()


async def test_metrics_and_health_are_served(ingest: Ingest) -> None:
    await ingest.post(recording_body())
    await ingest.post(b"{}", headers={})
    assert (await ingest.client.get("/healthz")).status == 200
    text = await (await ingest.client.get("/metrics")).text()
    assert "zoomsymbl_ingest_webhooks_received_total 2.0" in text
    assert 'zoomsymbl_ingest_webhooks_rejected_total{reason="missing_signature"} 1.0' in text
    assert 'zoomsymbl_ingest_webhook_seconds_count{outcome="published"} 1.0' in text


async def test_a_signed_recording_of_another_zoom_account_is_refused() -> None:
    """A leaked webhook secret must not let anyone feed another account's recordings (issue 18, item 6)."""
    publisher = RecordingPublisher()
    running = await serve(publisher, tenants(allowed_users=(), zoom_account_id="acct-2"))
    try:
        response = await running.post(recording_body())
        assert response.status == 403
        assert (await response.json())["error"] == "account_mismatch"
        assert running.tokens.tokens == {}, "the webhook's download token is not kept"
        assert running.count("zoomsymbl_ingest_webhooks_rejected_total", reason="account_mismatch") == 1
    finally:
        await running.client.close()
    assert publisher.events == []
    same = await serve(publisher, tenants(allowed_users=(), zoom_account_id="acct-1"))
    try:
        assert (await same.post(recording_body())).status == 200
    finally:
        await same.client.close()
    assert len(publisher.events) == 1


def transcript_body(meeting_uuid: str = "4444AAAiAAAAAiAiAiiAii==") -> bytes:
    """``recording.transcript_completed`` shaped as Zoom's webhook reference shows it: the meeting object
    listing only its transcript file (``TRANSCRIPT``, ``audio_transcript``, VTT)."""
    obj = {
        **{
            k: v
            for k, v in meeting_object(meeting_uuid).items()
            if k not in ("recording_files", "participant_audio_files")
        },
        "recording_count": 1,
        "recording_files": [
            {
                "id": f"tr-{meeting_uuid}",
                "meeting_id": meeting_uuid,
                "recording_start": "2024-05-02T10:00:00Z",
                "recording_end": "2024-05-02T10:30:00Z",
                "file_type": "TRANSCRIPT",
                "file_size": 4321,
                "file_extension": "VTT",
                "play_url": "https://zoom.us/rec/play/tr",
                "download_url": "https://zoom.us/rec/download/tr",
                "status": "completed",
                "recording_type": "audio_transcript",
            }
        ],
    }
    body = json.loads(recording_body(obj))
    return json.dumps({**body, "event": "recording.transcript_completed"}).encode()


async def test_a_transcript_completed_webhook_is_published_once_after_its_recording(ingest: Ingest) -> None:
    assert (await (await ingest.post(recording_body())).json())["status"] == "published"

    first = await ingest.post(transcript_body())
    again = await ingest.post(transcript_body())

    assert first.status == 200 and (await first.json())["status"] == "published"
    assert (await again.json())["status"] == "duplicate"
    recording, transcript = ingest.events()
    assert transcript.meeting_uuid == recording.meeting_uuid and transcript.event_id != recording.event_id
    assert [(f.file_type, f.recording_type) for f in transcript.fallback_files] == [("TRANSCRIPT", "audio_transcript")]
    assert transcript.participant_tracks == () and transcript.has_download_token


async def test_an_unsigned_transcript_completed_webhook_is_refused(ingest: Ingest) -> None:
    response = await ingest.post(transcript_body(), headers={"x-zm-signature": "v0=00", "x-zm-request-timestamp": "1"})
    assert response.status == 401
    assert ingest.kafka == []


async def test_a_meeting_uuid_too_long_for_an_event_is_a_bad_request_with_a_short_detail(ingest: Ingest) -> None:
    uuid = "u" * 2000
    response = await ingest.post(recording_body({**meeting_object(), "uuid": uuid}, token=None))
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "invalid_fields"
    assert "meeting_uuid" in answer["detail"] and len(answer["detail"]) <= 300
    assert ingest.kafka == []


async def test_an_event_refused_past_the_payload_mapping_is_a_bad_request_not_a_crash(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unchecked(tenant: str, obj: Any, **_: Any) -> RecordingCompleted:
        # A bound the mapping does not know of yet (libs/common tightens events on its own schedule).
        return RecordingCompleted(event_id="e", tenant=tenant, meeting_uuid=str(obj["uuid"]) * 300)

    monkeypatch.setattr(handlers, "recording_completed", unchecked)
    response = await ingest.post(recording_body())
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "invalid_fields" and "meeting_uuid" in answer["detail"]
    assert len(answer["detail"]) <= 300
    assert ingest.kafka == []


async def test_a_meeting_number_beyond_the_events_bound_is_a_bad_request(ingest: Ingest) -> None:
    response = await ingest.post(recording_body({**meeting_object(), "id": 10**20}))
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "invalid_fields" and "meeting_id" in answer["detail"]
    assert DOWNLOAD_TOKEN not in json.dumps(answer)
    assert ingest.kafka == []
