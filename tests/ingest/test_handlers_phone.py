"""phone.recording_completed through the webhook endpoint (in memory): signed, deduplicated, account-checked."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.support import RecordingPublisher, signed_headers, tenants
from tests.ingest.test_handlers import Ingest, serve

DOCUMENTED = Path(__file__).parent / "fixtures" / "phone.recording_completed.json"


def phone_body(account_id: str = "AAAAAABBBB", **entry_changes: Any) -> bytes:
    """Zoom's documented example, sent a second ago (optionally for another account or recording)."""
    data = json.loads(DOCUMENTED.read_text())
    data["event_ts"] = int(time.time() * 1000)
    data["payload"]["account_id"] = account_id
    data["payload"]["object"]["recordings"][0].update(entry_changes)
    return json.dumps(data).encode()


@pytest.fixture
async def phone_ingest() -> AsyncIterator[Ingest]:
    publisher = RecordingPublisher()
    running = await serve(
        publisher,
        tenants(allowed_users=(), zoom_account_id="AAAAAABBBB", zoom_client_id="c", zoom_client_secret="s"),
    )
    running.kafka = publisher.events
    yield running
    await running.client.close()


async def test_a_phone_recording_is_on_kafka_before_the_200(phone_ingest: Ingest) -> None:
    response = await phone_ingest.post(phone_body())
    assert response.status == 200
    answer = await response.json()
    assert answer["status"] == "published"
    [event] = phone_ingest.events()
    assert answer["event_ids"] == [event.event_id]
    assert event.platform == "zoom_phone"
    assert event.phone_call is not None and event.phone_call.caller.name == "Caller Name"
    assert not event.has_download_token
    assert phone_ingest.tokens.tokens == {}, "phone recordings come without a download token"


async def test_a_repeated_phone_webhook_publishes_nothing_new(phone_ingest: Ingest) -> None:
    first = await phone_ingest.post(phone_body())
    again = await phone_ingest.post(phone_body())  # Zoom's retry: new timestamp, new signature, same recording
    assert [first.status, again.status] == [200, 200]
    assert (await again.json())["status"] == "duplicate"
    assert len(phone_ingest.kafka) == 1
    other = await phone_ingest.post(phone_body(id="another-recording-id"))
    assert (await other.json())["status"] == "published"
    assert len(phone_ingest.kafka) == 2


async def test_a_signed_phone_recording_of_another_account_is_refused(phone_ingest: Ingest) -> None:
    response = await phone_ingest.post(phone_body(account_id="someone-else"))
    assert response.status == 403
    assert (await response.json())["error"] == "account_mismatch"
    assert phone_ingest.kafka == []


async def test_an_unsigned_phone_recording_is_unauthorized(phone_ingest: Ingest) -> None:
    body = phone_body()
    headers = signed_headers(body)
    headers["x-zm-signature"] = "v0=" + "0" * 64
    response = await phone_ingest.post(body, headers=headers)
    assert response.status == 401
    assert phone_ingest.kafka == []


async def test_a_phone_payload_without_recordings_is_a_bad_request(phone_ingest: Ingest) -> None:
    body = json.dumps({"event": "phone.recording_completed", "payload": {"account_id": "AAAAAABBBB", "object": {}}})
    response = await phone_ingest.post(body.encode())
    assert response.status == 400
    assert phone_ingest.kafka == []


async def test_a_phone_user_outside_the_allowlist_is_ignored() -> None:
    publisher = RecordingPublisher()
    running = await serve(publisher, tenants(allowed_users=("someone-else",)))
    try:
        response = await running.post(phone_body())
        assert response.status == 200
        assert (await response.json())["reason"] == "user_not_allowed"
    finally:
        await running.client.close()
    assert publisher.events == []


def phone_entries_body(*changes: dict[str, Any], account_id: str = "AAAAAABBBB") -> bytes:
    """Zoom's documented example with one recording per ``changes`` (each applied to the documented entry)."""
    data = json.loads(DOCUMENTED.read_text())
    data["event_ts"] = int(time.time() * 1000)
    data["payload"]["account_id"] = account_id
    documented = data["payload"]["object"]["recordings"][0]
    data["payload"]["object"]["recordings"] = [{**documented, **change} for change in changes]
    return json.dumps(data).encode()


# 250 characters is the most a recording id may have: "phone:" + id is the event's meeting_uuid (at most 256).
OVERSIZE_ID = "r" * 251
SIGNED_URL = "https://zoom.us/v2/phone/recording/download/abc?access_token=very-secret-access-token"


@pytest.fixture
async def roomy_phone_ingest() -> AsyncIterator[Ingest]:
    """Like ``phone_ingest``, with room for a webhook of several recordings."""
    publisher = RecordingPublisher()
    running = await serve(
        publisher,
        tenants(allowed_users=(), zoom_account_id="AAAAAABBBB", zoom_client_id="c", zoom_client_secret="s"),
        max_body_bytes=16384,
    )
    running.kafka = publisher.events
    yield running
    await running.client.close()


async def test_a_recording_id_too_long_for_an_event_is_a_bad_request_not_a_crash(phone_ingest: Ingest) -> None:
    response = await phone_ingest.post(phone_body(id=OVERSIZE_ID, download_url=SIGNED_URL))
    assert response.status == 400
    answer = await response.json()
    assert answer["error"] == "invalid_fields"
    assert "meeting_uuid" in answer["detail"]
    assert len(answer["detail"]) <= 300 and OVERSIZE_ID not in answer["detail"]
    assert "very-secret-access-token" not in json.dumps(answer)
    assert phone_ingest.kafka == []
    assert phone_ingest.count("zoomsymbl_ingest_webhooks_rejected_total", reason="invalid_fields") == 1


async def test_an_account_id_too_long_for_an_event_is_a_bad_request_not_a_crash() -> None:
    publisher = RecordingPublisher()
    running = await serve(publisher, tenants(allowed_users=(), zoom_client_id="c", zoom_client_secret="s"))
    try:
        response = await running.post(phone_body(account_id="a" * 129))  # no zoom_account_id to compare with
        assert response.status == 400
        assert "account_id" in (await response.json())["detail"]
    finally:
        await running.client.close()
    assert publisher.events == []


async def test_the_good_recordings_of_a_webhook_are_published_and_the_broken_ones_skipped(
    roomy_phone_ingest: Ingest,
) -> None:
    body = phone_entries_body({"id": OVERSIZE_ID}, {"id": "good-recording"}, {"id": "no-url", "download_url": ""})
    response = await roomy_phone_ingest.post(body)
    assert response.status == 200
    answer = await response.json()
    assert (answer["status"], answer["skipped"]) == ("published", 2)
    [event] = roomy_phone_ingest.events()
    assert event.meeting_uuid == "phone:good-recording" and answer["event_ids"] == [event.event_id]
    assert roomy_phone_ingest.count("zoomsymbl_ingest_invalid_recordings_total", source="webhook") == 2
    # Zoom's retry of the same body finds the good recording published already, and nothing else to publish.
    again = await roomy_phone_ingest.post(body)
    assert again.status == 200 and (await again.json())["status"] == "duplicate"
    assert len(roomy_phone_ingest.kafka) == 1


async def test_a_webhook_of_broken_recordings_only_is_a_bad_request(roomy_phone_ingest: Ingest) -> None:
    body = phone_entries_body({"id": OVERSIZE_ID}, {"id": "no-url", "download_url": ""})
    response = await roomy_phone_ingest.post(body)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_fields"
    assert roomy_phone_ingest.kafka == []


async def test_a_token_in_a_phone_download_url_stays_off_kafka(roomy_phone_ingest: Ingest) -> None:
    response = await roomy_phone_ingest.post(phone_entries_body({"id": "signed", "download_url": SIGNED_URL}))
    assert response.status == 200
    [event] = roomy_phone_ingest.events()
    assert event.fallback_files[0].download_url == "https://zoom.us/v2/phone/recording/download/abc"
    assert "very-secret-access-token" not in roomy_phone_ingest.kafka[0].model_dump_json()


async def test_a_phone_download_url_too_long_for_an_event_is_skipped_not_cut(roomy_phone_ingest: Ingest) -> None:
    long_url = "https://zoom.us/v2/phone/recording/download/" + "x" * 2048
    body = phone_entries_body({"id": "long-url", "download_url": long_url}, {"id": "good-recording"})
    response = await roomy_phone_ingest.post(body)
    assert response.status == 200
    assert (await response.json())["skipped"] == 1
    [event] = roomy_phone_ingest.events()
    assert event.meeting_uuid == "phone:good-recording"
    alone = await roomy_phone_ingest.post(phone_entries_body({"id": "long-url", "download_url": long_url}))
    assert alone.status == 400
    answer = await alone.json()
    assert answer["error"] == "invalid_fields" and "download_url" in answer["detail"]
    assert long_url[:60] not in json.dumps(answer)
