"""Every time of an event is aware UTC once parsed, whatever offset (or none) its JSON carried."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from zoomsymbl_common.events import DeadLetter, RecordingCompleted, utcnow

BASE = {"event_id": "e1", "tenant": "acme", "meeting_uuid": "m1"}
TRACK = {"file_id": "f1", "download_url": "https://zoom.us/rec/download/f1"}


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("2026-12-01T10:00:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T10:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T15:30:00+05:30", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T05:00:00-05:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T10:00:00.123Z", datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC)),
    ],
    ids=["no-offset", "no-seconds", "india", "new-york", "milliseconds"],
)
def test_each_time_of_an_event_off_kafka_is_utc(sent: str, meant: datetime) -> None:
    body = {
        **BASE,
        "occurred_at": sent,
        "start_time": sent,
        "download_token_expires_at": sent,
        "participant_tracks": [{**TRACK, "recording_start": sent, "recording_end": sent}],
        "phone_call": {"recording_id": "r1", "start_time": sent, "end_time": sent},
    }
    event = RecordingCompleted.model_validate_json(json.dumps(body))
    [track] = event.participant_tracks
    assert event.phone_call is not None
    times = [event.occurred_at, event.start_time, event.download_token_expires_at, track.recording_start]
    times += [track.recording_end, event.phone_call.start_time, event.phone_call.end_time]
    assert times == [meant] * len(times)
    assert {t.utcoffset() if t else None for t in times} == {UTC.utcoffset(None)}
    # Comparable with the clock (what the mixer does with the token's expiry) without a TypeError.
    now = utcnow()
    assert [t <= now for t in times if t] == [meant <= now] * len(times)


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_a_time_utc_cannot_hold_is_an_invalid_event_not_an_overflow(sent: str) -> None:
    body = {**BASE, "start_time": sent}
    with pytest.raises(ValidationError, match="out of range in UTC"):
        RecordingCompleted.model_validate_json(json.dumps(body))


def test_a_dead_letter_written_without_offset_is_utc() -> None:
    fields = {"source_topic": "t", "service": "mixer", "reason": "r", "error_type": "X", "attempts": 1}
    letter = DeadLetter.model_validate({**fields, "payload": "{}", "failed_at": "2026-12-01T10:00:00"})
    assert letter.failed_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
