"""Odd times in a signed webhook: out of range after the arithmetic, or only once turned into UTC.

Zoom's body is signed, but its ``event_ts`` and recording times are not checked against anything; a body whose
times lie at the edge of what ``datetime`` holds must get an answer Zoom can act on, never the 500 of a crash.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from zoomsymbl_common.events import utcnow

from tests.ingest.support import meeting_object, recording_body
from tests.ingest.test_handlers import Ingest

# 9999-12-31T23:59:59.999Z: the last millisecond ``datetime`` holds; a day later is past its range.
LAST_MILLISECOND = 253402300799999
YEAR_3000 = 32503680000000


def with_event_ts(body: bytes, event_ts: object) -> bytes:
    data: dict[str, Any] = json.loads(body)
    data["event_ts"] = event_ts
    return json.dumps(data).encode()


@pytest.mark.parametrize("event_ts", [YEAR_3000, LAST_MILLISECOND], ids=["year-3000", "end-of-time"])
async def test_a_future_event_ts_publishes_with_a_token_valid_a_day_from_now(ingest: Ingest, event_ts: int) -> None:
    before = utcnow()
    response = await ingest.post(with_event_ts(recording_body(), event_ts))
    assert response.status == 200, await response.text()
    [event] = ingest.events()
    stored = ingest.tokens.tokens[("acme", event.meeting_uuid)]
    # The token lives a day from its delivery, not "forever": a far-future event_ts must not keep it in use.
    assert before < stored.expires_at <= utcnow() + timedelta(hours=24)


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"],
    ids=["year-1-east-of-utc", "year-9999-west-of-utc"],
)
async def test_a_recording_time_utc_cannot_hold_is_dropped_not_a_crash(ingest: Ingest, moment: str) -> None:
    obj = meeting_object()
    obj["participant_audio_files"][0]["recording_start"] = moment
    obj["start_time"] = moment
    response = await ingest.post(recording_body(obj))
    assert response.status == 200, await response.text()
    [event] = ingest.events()
    # Like any other unreadable time: dropped, the file kept.
    assert event.start_time is None
    assert [t.recording_start for t in event.participant_tracks] == [None]
