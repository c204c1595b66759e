from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from zoomsymbl_common.events import (
    EVENT_TYPES,
    AudioMixed,
    ChannelAssignment,
    DeadLetter,
    MeetingFailed,
    RecordingCompleted,
    RecordingFile,
    stable_id,
)
from zoomsymbl_common.logs import register_secret


def _recording() -> RecordingCompleted:
    track = RecordingFile(
        file_id="f1",
        participant_name="Zoë 🎧 Ng",
        recording_start=datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        file_size=1234,
        file_type="M4A",
        download_url="https://zoom.us/rec/download/f1",
    )
    return RecordingCompleted(
        event_id=stable_id("acme", "/abc//def==", "f1"),
        tenant="acme",
        meeting_uuid="/abc//def==",
        topic_text="Weekly sync",
        participant_tracks=(track,),
        has_download_token=True,
    )


def test_every_event_has_a_versioned_topic() -> None:
    topics = [event.topic for event in EVENT_TYPES]
    assert len(set(topics)) == len(topics)
    assert all(topic.endswith(".v1") for topic in topics)


def test_event_round_trips_through_json_unchanged() -> None:
    event = _recording()
    assert RecordingCompleted.model_validate_json(event.model_dump_json()) == event


def test_events_are_frozen() -> None:
    event = _recording()
    with pytest.raises(ValidationError):
        event.tenant = "other"  # type: ignore[misc]


def test_event_rejects_unknown_fields_and_bad_tenants() -> None:
    data = _recording().model_dump(mode="json")
    with pytest.raises(ValidationError):
        RecordingCompleted.model_validate({**data, "download_token": "leak"})
    with pytest.raises(ValidationError):
        RecordingCompleted.model_validate({**data, "tenant": "../etc"})


def test_no_event_field_can_carry_a_token() -> None:
    for event_type in EVENT_TYPES:
        names = set(event_type.model_fields)
        assert not {n for n in names if "token" in n and n != "has_download_token"} - {"download_token_expires_at"}, (
            event_type
        )


def test_stable_id_is_deterministic_and_separates_parts() -> None:
    assert stable_id("a", "b") == stable_id("a", "b")
    assert stable_id("ab", "c") != stable_id("a", "bc")


def test_dead_letter_topic_and_channel_map() -> None:
    assert DeadLetter.topic_for("audio.mixed.v1") == "audio.mixed.v1.dlq"
    with pytest.raises(ValidationError):
        ChannelAssignment(channel=0, participant_name="x", file_ids=("f",), offset_seconds=0)
    mixed = AudioMixed(
        event_id="e",
        tenant="acme",
        meeting_uuid="m",
        bucket="b",
        object_key="mixed/acme/bQ.flac",
        format="flac",
        channels=1,
        duration_seconds=1.0,
        size_bytes=10,
        input_hash="h",
        channel_map=(ChannelAssignment(channel=1, participant_name="A", file_ids=("f",), offset_seconds=0),),
    )
    assert AudioMixed.model_validate_json(mixed.model_dump_json()).channel_map[0].participant_name == "A"


def test_a_meeting_failure_names_meeting_generation_service_and_stage() -> None:
    event = _recording().model_copy(update={"generation": 2})
    failed = MeetingFailed.of(event, "mixer", "download", "zoom refused file 'f1': status 200, code 3301")
    assert (failed.tenant, failed.meeting_uuid, failed.generation) == ("acme", "/abc//def==", 2)
    assert (failed.service, failed.stage) == ("mixer", "download")
    assert failed.reason == "zoom refused file 'f1': status 200, code 3301"
    assert MeetingFailed.model_validate_json(failed.model_dump_json()) == failed
    # Redelivered give-ups of the same meeting announce the same fact.
    assert MeetingFailed.of(event, "mixer", "retry", "other").event_id == failed.event_id
    assert MeetingFailed.of(event.model_copy(update={"generation": 3}), "mixer", "x", "y").event_id != failed.event_id


def test_a_meeting_failure_reason_never_carries_a_secret() -> None:
    register_secret("dl-token-EVENT-SECRET-77")
    reason = (
        "download of https://user:pw@zoom.us/rec/download/abc?access_token=qs-secret failed: "
        "token dl-token-EVENT-SECRET-77 rejected; Authorization: Bearer eyJhbGciOi.x; api_key='k-123'"
    )
    failed = MeetingFailed.of(_recording(), "mixer", "download", reason)
    for leak in ("qs-secret", "/rec/download", "user:pw", "dl-token-EVENT-SECRET-77", "eyJhbGciOi", "k-123"):
        assert leak not in failed.reason, leak
    assert failed.reason.startswith("download of https://zoom.us/… failed")
    # Parsing scrubs too (an event written by someone else), and scrubbing twice changes nothing.
    data = failed.model_dump(mode="json")
    assert MeetingFailed.model_validate({**data, "reason": reason}).reason == failed.reason
    assert len(MeetingFailed.of(_recording(), "mixer", "x" * 100, "r" * 5000).reason) == 1000
    assert MeetingFailed.of(_recording(), "submitter", "", "").reason == "no reason given"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://zoom.us/rec/download/f1", "https://zoom.us/rec/download/f1"),
        ("https://zoom.us/rec/download/f1?access_token=secret-1&type=m4a", "https://zoom.us/rec/download/f1?type=m4a"),
        ("https://zoom.us/rec/download/f1?Access_Token=secret-1", "https://zoom.us/rec/download/f1"),
        ("https://zoom.us/rec/download/f1?access%5Ftoken=secret-1", "https://zoom.us/rec/download/f1"),
        ("https://zoom.us/rec/download/f1?token=secret-1&download_token=secret-2", "https://zoom.us/rec/download/f1"),
        ("https://zoom.us/rec/download/f1#access_token=secret-1", "https://zoom.us/rec/download/f1"),
        ("https://zoom.us/rec/download/f1?type=m4a", "https://zoom.us/rec/download/f1?type=m4a"),
    ],
)
def test_a_download_url_never_carries_a_token_into_an_event(url: str, expected: str) -> None:
    event = _recording().model_copy(update={"participant_tracks": ()})
    file = RecordingFile(file_id="f1", download_url=url)
    assert file.download_url == expected
    data = event.model_dump(mode="json") | {"participant_tracks": [{"file_id": "f1", "download_url": url}]}
    published = RecordingCompleted.model_validate(data).model_dump_json()
    assert "secret-" not in published
    # An event already on Kafka with such a URL (written before this rule) loses the token when read.
    raw = json.dumps(data)
    assert "secret-" not in RecordingCompleted.model_validate_json(raw).model_dump_json()


def test_a_download_url_yarl_cannot_read_is_refused() -> None:
    with pytest.raises(ValidationError, match="download_url"):
        RecordingFile(file_id="f1", download_url="https://[::1?access_token=x")
