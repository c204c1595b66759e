"""Zoom Phone payloads (Zoom's documented examples) → RecordingCompleted: the call metadata survives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_ingest.phone_payload import (
    call_title,
    phone_call,
    phone_recording_completed,
    phone_recordings,
)
from zoomsymbl_ingest.zoom_payload import PayloadError, parse_webhook

FIXTURES = Path(__file__).parent / "fixtures"


def documented(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def test_the_documented_webhook_becomes_one_phone_event_with_its_call() -> None:
    webhook = parse_webhook((FIXTURES / "phone.recording_completed.json").read_bytes())
    [entry] = phone_recordings(webhook.payload)
    event = phone_recording_completed("acme", entry, source="webhook", account_id="AAAAAABBBB")
    assert event.platform == "zoom_phone"
    assert event.meeting_uuid == "phone:c71b360f6e774e3aa101453117b7e1a7"
    assert event.host_id == "rw3dIsBRTpOyMOJmeKgdaQ"
    assert event.host_email == "", "Zoom sends no e-mail: the mixer asks GET /users/{id}"
    assert event.account_id == "AAAAAABBBB"
    [file] = event.fallback_files
    assert (file.file_id, file.file_type, file.file_extension) == ("c71b360f6e774e3aa101453117b7e1a7", "MP3", "mp3")
    assert file.download_url == "https://some.url.com"
    assert file.file_size is None
    call = event.phone_call
    assert call is not None
    assert (call.caller.number, call.caller.did_number, call.caller.name) == ("1026", "+12092592844", "Caller Name")
    assert (call.callee.number, call.callee.did_number, call.callee.name) == ("1045", "+12058945456", "Callee Name")
    assert call.direction == "outbound"
    assert call.duration_seconds == 43
    assert call.call_id == "6998252113337041462"
    assert call.call_log_id == "a297ae04-a875-4cfd-85ab-4adcead91edb"
    assert call.start_time == datetime(2021, 8, 19, 21, 12, 38, tzinfo=UTC)
    assert call.end_time == datetime(2021, 8, 19, 21, 12, 44, tzinfo=UTC)
    assert call.recording_type == "OnDemand"
    assert (call.owner_type, call.owner_name, call.owner_extension) == ("user", "Owner name", "6666")
    assert call.user_id == "z8yCxjabcdEFGHfp8uQ"
    assert event.duration_minutes == 1
    assert event.topic_text == "Zoom Phone call: Caller Name (+12092592844) → Callee Name (+12058945456)"


def test_the_documented_listing_entry_gives_the_same_shape() -> None:
    [entry] = documented("phone_recordings.response.json")["recordings"]
    event = phone_recording_completed("acme", entry, source="backfill")
    assert event.source == "backfill"
    assert event.phone_call is not None and event.phone_call.direction == "outbound"
    assert event.phone_call.owner_extension == "1026"
    assert event.fallback_files[0].download_url.startswith("https://zoom.us/v2/phone/recording/download/")


def test_the_event_id_is_the_recordings_so_webhook_and_backfill_deduplicate() -> None:
    [entry] = documented("phone_recordings.response.json")["recordings"]
    webhook = phone_recording_completed("acme", entry, source="webhook")
    backfill = phone_recording_completed("acme", entry, source="backfill")
    assert webhook.event_id == backfill.event_id
    assert phone_recording_completed("other", entry, source="webhook").event_id != webhook.event_id


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload.object"),
        ({"object": {}}, "payload.object.recordings"),
        ({"object": {"recordings": []}}, "payload.object.recordings"),
    ],
)
def test_a_payload_without_recordings_is_refused(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        phone_recordings(payload)
    assert caught.value.field == field


def test_a_recording_without_id_or_url_is_refused() -> None:
    with pytest.raises(PayloadError):
        phone_call({"download_url": "https://zoom.us/x"})
    with pytest.raises(PayloadError):
        phone_recording_completed("acme", {"id": "r1"}, source="webhook")


def test_odd_values_are_dropped_not_fatal() -> None:
    call = phone_call({"id": "r1", "direction": "sideways", "duration": -3, "date_time": "yesterday", "owner": []})
    assert call.direction == "unknown"
    assert call.duration_seconds is None and call.start_time is None
    assert call_title(call) == "Zoom Phone call: unknown → unknown"
