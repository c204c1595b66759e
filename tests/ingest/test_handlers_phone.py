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
