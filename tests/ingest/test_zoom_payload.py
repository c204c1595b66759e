"""Zoom's recording shapes → RecordingCompleted: names, files, statuses, ids, and secrets kept out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoomsymbl_ingest.zoom_payload import (
    PayloadError,
    parse_webhook,
    participant_name,
    plain_token,
    recording_completed,
    recording_object,
)

from tests.ingest.support import DOWNLOAD_TOKEN, meeting_object, recording_body


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("Audio only - Elisa L", "Elisa L"),
        ("Audio only - Jean-Luc Pérez", "Jean-Luc Pérez"),
        ("Audio only - Zoë 🎧 Ng", "Zoë 🎧 Ng"),
        ("Audio only - Anne - Marie", "Anne - Marie"),
        ("Audio only - Audio only - Bob", "Audio only - Bob"),
        ("Maria-José", "Maria-José"),
        ("Audio only - ", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_participant_name_strips_only_the_leading_prefix(file_name: object, expected: str | None) -> None:
    assert participant_name(file_name) == expected


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.text(min_size=1, max_size=100).filter(lambda s: s.strip() == s and s.strip()))
def test_any_name_survives_the_prefix(name: str) -> None:
    assert participant_name(f"Audio only - {name}") == name


def test_a_webhook_maps_to_an_event_with_tracks_fallbacks_and_statuses() -> None:
    obj = meeting_object(names=("Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"))
    event = recording_completed("acme", obj, source="webhook")
    assert event.meeting_uuid == "4444AAAiAAAAAiAiAiiAii=="
    assert [t.participant_name for t in event.participant_tracks] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert event.participant_tracks[0].recording_start == datetime(2024, 5, 2, 10, tzinfo=UTC)
    assert event.participant_tracks[1].file_size == 1001
    assert event.participant_tracks[0].file_type == "M4A"
    assert [f.recording_type for f in event.fallback_files] == ["audio_only", "shared_screen_with_speaker_view"]
    assert [f.completed for f in event.fallback_files] == [True, False]
    assert event.fallback_files[1].status == "processing"
    assert (event.host_email, event.topic_text, event.meeting_id) == (
        "host@example.com",
        "Launch plan sync",
        84712345678,
    )
    assert event.duration_minutes == 30
    assert event.source == "webhook"


def test_event_id_depends_on_the_file_set_not_its_order() -> None:
    obj = meeting_object(names=("A", "B"))
    shuffled = {**obj, "participant_audio_files": list(reversed(obj["participant_audio_files"]))}
    fewer = {**obj, "participant_audio_files": obj["participant_audio_files"][:1]}
    first = recording_completed("acme", obj, source="webhook")
    assert recording_completed("acme", shuffled, source="backfill").event_id == first.event_id
    assert recording_completed("acme", fewer, source="webhook").event_id != first.event_id
    assert recording_completed("globex", obj, source="webhook").event_id != first.event_id


def test_without_participant_files_the_audio_only_file_remains() -> None:
    obj = meeting_object()
    del obj["participant_audio_files"]
    event = recording_completed("acme", obj, source="webhook")
    assert event.participant_tracks == ()
    assert event.fallback_files[0].recording_type == "audio_only"


def test_a_malformed_file_entry_is_dropped_not_the_meeting() -> None:
    obj = meeting_object(names=("A", "B"))
    obj["participant_audio_files"][0] = {"file_name": "Audio only - A"}  # no id, no URL
    obj["participant_audio_files"][1]["recording_start"] = "not a time"
    obj["participant_audio_files"][1]["file_size"] = "big"
    obj["recording_files"].append("garbage")
    event = recording_completed("acme", obj, source="webhook")
    assert [t.participant_name for t in event.participant_tracks] == ["B"]
    assert event.participant_tracks[0].recording_start is None
    assert event.participant_tracks[0].file_size is None
    assert len(event.fallback_files) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"uuid": ""},
        {"uuid": None},
        {"recording_files": [], "participant_audio_files": []},
        {"recording_files": "nope", "participant_audio_files": None},
        {"host_email": "x" * 400},
    ],
)
def test_an_unusable_meeting_is_a_payload_error(change: dict[str, object]) -> None:
    with pytest.raises(PayloadError):
        recording_completed("acme", {**meeting_object(), **change}, source="webhook")


@pytest.mark.parametrize("duration", [-1, 2**63, True, "30", 1.5])
def test_an_odd_duration_is_dropped_not_the_meeting(duration: object) -> None:
    # Zoom retries a refused webhook with the same body: a 400 for an informative field would lose the recording.
    event = recording_completed("acme", {**meeting_object(), "duration": duration}, source="webhook")
    assert event.duration_minutes is None
    assert event.meeting_uuid == meeting_object()["uuid"]


def test_a_long_topic_is_truncated_rather_than_refused() -> None:
    event = recording_completed("acme", {**meeting_object(), "topic": "t" * 2000}, source="webhook")
    assert len(event.topic_text) == 512


def test_parse_webhook_keeps_the_download_token_out_of_the_event() -> None:
    webhook = parse_webhook(recording_body())
    assert webhook.event == "recording.completed"
    assert webhook.download_token is not None
    assert webhook.download_token.get_secret_value() == DOWNLOAD_TOKEN
    assert DOWNLOAD_TOKEN not in repr(webhook)
    assert webhook.event_ts is not None
    event = recording_completed("acme", recording_object(webhook), source="webhook", occurred_at=webhook.event_ts)
    assert event.occurred_at == webhook.event_ts
    assert DOWNLOAD_TOKEN not in event.model_dump_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", ""),
        (b"\xff\xfe", ""),
        (b"[1, 2]", ""),
        (b"{}", "event"),
        (b'{"event": 5}', "event"),
        (b'{"event": "x", "payload": []}', "payload"),
    ],
)
def test_parse_webhook_refuses_what_is_not_a_zoom_envelope(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(body)
    assert caught.value.field == field


def test_missing_object_and_plain_token_are_named() -> None:
    empty = parse_webhook(json.dumps({"event": "recording.completed", "payload": {}}).encode())
    with pytest.raises(PayloadError, match=r"payload\.object"):
        recording_object(empty)
    with pytest.raises(PayloadError, match="plainToken"):
        plain_token(empty)
    validation = parse_webhook(b'{"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}}')
    assert plain_token(validation) == "abc"


@pytest.mark.parametrize("event_ts", [None, "soon", -1, True, 10**30])
def test_an_unreadable_event_ts_is_dropped(event_ts: object) -> None:
    assert parse_webhook(json.dumps({"event": "x", "event_ts": event_ts}).encode()).event_ts is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event": "x", "payload": {"uuid": "\\ud800=="}}', "escape"),  # a lone surrogate, escaped
        (b'{"event": "x", "payload": {"uuid": "\xed\xa0\x80=="}}', "unicode"),  # ... and encoded as UTF-8
        (b"[" * 300 + b"]" * 300, "nested too deeply"),
        (b'{"event": "x", "event_ts": ' + b"9" * 4301 + b"}", "out of range"),
        (b'{"event": "x"} {"event": "y"}', "trailing"),
    ],
)
def test_parse_webhook_refuses_json_nothing_could_store(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=f"body is not JSON: .*{reason}") as caught:
        parse_webhook(body)
    assert caught.value.field == ""


def test_parse_webhook_keeps_escaped_pairs_and_long_numbers() -> None:
    webhook = parse_webhook(b'{"event": "x", "payload": {"topic": "\\ud83c\\udfa7", "n": ' + b"9" * 4300 + b"}}")
    assert webhook.payload["topic"] == "🎧"
    assert webhook.payload["n"] == int("9" * 4300)
