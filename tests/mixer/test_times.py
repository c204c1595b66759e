"""Times without an offset in a ``RecordingCompleted`` off Kafka: read as UTC (every field says so), never a crash.

An event's JSON may carry ``2024-05-02T10:00:00`` beside ``2024-05-02T10:00:00Z`` (a replay of an event another
producer wrote, a hand-made one): comparing the two raises ``TypeError``, a "bug" the consumer retries and then
dead-letters, so the meeting would be lost over a missing ``Z``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from zoomsymbl_common.events import RecordingCompleted, utcnow
from zoomsymbl_common.records import SECRETS

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


def without_offset(moment: str) -> str:
    """``2024-05-02T10:00:00Z`` (or ``+00:00``) as the same wall time with no offset."""
    return moment.removesuffix("Z").removesuffix("+00:00")


def off_kafka(event: RecordingCompleted, **changes: Any) -> RecordingCompleted:
    """``event`` as its consumer parses it, after ``changes`` to its JSON."""
    data = json.loads(event.model_dump_json())
    data.update(changes)
    return RecordingCompleted.model_validate_json(json.dumps(data))


async def test_one_track_time_without_offset_is_utc_and_the_meeting_is_mixed(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    tracks = json.loads(event.model_dump_json())["participant_tracks"]
    tracks[0]["recording_start"] = without_offset(tracks[0]["recording_start"])
    parsed = off_kafka(event, participant_tracks=tracks)
    mixed = await rig.mixer().on_recording_completed(parsed)
    assert mixed.channels == len(event.participant_tracks)
    assert parsed.participant_tracks[0].recording_start == event.participant_tracks[0].recording_start
    assert [e.event_id for e in rig.published] == [mixed.event_id]


async def test_an_expired_token_time_without_offset_sends_the_mixer_to_oauth(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    event = await rig.event(TYPICAL)
    # The event announces a token MongoDB does not hold, and says it expired an hour ago (no offset).
    await rig.mongo.db[SECRETS].delete_many({})
    expired = (utcnow() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    parsed = off_kafka(event, download_token_expires_at=expired)
    with caplog.at_level(logging.INFO, logger="zoomsymbl.mixer"):
        mixed = await rig.mixer(token_wait=3600.0).on_recording_completed(parsed)
    assert "announced download token not in mongodb, using oauth" in [r.getMessage() for r in caplog.records]
    assert mixed.channels == len(event.participant_tracks)
