"""The meeting document against the real MongoDB-wire server: forward-only stages, the stored mix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from zoomsymbl_common.events import ChannelAssignment, RecordingCompleted, SpeakerStats, utcnow
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import MEETINGS, SECRETS
from zoomsymbl_mixer.state import MeetingState, MixRecord, RawObject, audio_mixed

pytestmark = pytest.mark.integration

EVENT = RecordingCompleted(
    event_id="e1", tenant="acme", meeting_uuid="abc//def==", topic_text="Sync", host_email="host@example.com"
)


def record(input_hash: str = "h1") -> MixRecord:
    return MixRecord(
        input_hash=input_hash,
        input_kind="participants",
        bucket="b",
        object_key="mixed/acme/x.flac",
        format="flac",
        channels=1,
        duration_seconds=12.5,
        size_bytes=1000,
        channel_map=(ChannelAssignment(channel=1, participant_name="Zoë", file_ids=("f1",), offset_seconds=0.0),),
        speaker_stats=(
            SpeakerStats(channel=1, talk_seconds=3, silence_ratio=0.7, talk_over_ratio=0, longest_silence_seconds=5),
        ),
        raw_objects=(RawObject(file_id="f1", key="raw/acme/x/f1.m4a", size=500),),
    )


async def meeting(mongo: Mongo) -> dict[str, object]:
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None
    return doc


async def test_a_mix_creates_the_meeting_when_ingest_has_not(mongo: Mongo) -> None:
    state = MeetingState(mongo.db)
    assert await state.record_mix(EVENT, record())
    doc = await meeting(mongo)
    assert (doc["stage"], doc["generation"]) == ("mixed", 0)
    assert doc["channel_map"] == [
        {
            "channel": 1,
            "participant_name": "Zoë",
            "participant_email": None,
            "file_ids": ["f1"],
            "offset_seconds": 0.0,
            "mixed": False,
        }
    ]
    assert doc["objects"] == {
        "mixed": {"bucket": "b", "key": "mixed/acme/x.flac", "size": 1000},
        "raw": [{"file_id": "f1", "key": "raw/acme/x/f1.m4a", "size": 500}],
    }
    found = await state.find_mix("acme", EVENT.meeting_uuid, "h1")
    assert found == record().model_copy(update={"mixed_at": found.mixed_at if found else None})
    assert await state.find_mix("acme", EVENT.meeting_uuid, "other") is None


async def test_a_received_meeting_advances_and_keeps_ingests_fields(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "stage": "received", "files": 3}
    )
    assert await MeetingState(mongo.db).record_mix(EVENT, record())
    doc = await meeting(mongo)
    assert (doc["stage"], doc["files"]) == ("mixed", 3)


async def test_the_stage_never_moves_backwards(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "stage": "submitted"})
    state = MeetingState(mongo.db)
    assert not await state.record_mix(EVENT, record())
    assert not await state.mark_failed(EVENT, "download", "boom")
    doc = await meeting(mongo)
    assert doc["stage"] == "submitted"
    assert await state.find_mix("acme", EVENT.meeting_uuid, "h1") is not None


async def test_a_failure_is_recorded_with_stage_and_reason_and_a_later_mix_clears_it(mongo: Mongo) -> None:
    state = MeetingState(mongo.db)
    assert await state.mark_failed(EVENT, "download", "zoom refused file 'f1': code 124")
    doc = await meeting(mongo)
    assert doc["stage"] == "failed"
    assert doc["failure"]["service"] == "mixer"  # type: ignore[index]
    assert doc["failure"]["stage"] == "download"  # type: ignore[index]
    assert "code 124" in doc["failure"]["reason"]  # type: ignore[index]
    assert await state.record_mix(EVENT, record())
    doc = await meeting(mongo)
    assert doc["stage"] == "mixed" and "failure" not in doc


async def test_a_failure_from_another_service_is_left_alone(mongo: Mongo) -> None:
    await mongo.db[MEETINGS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "stage": "failed", "failure": {"service": "notifier"}}
    )
    assert not await MeetingState(mongo.db).record_mix(EVENT, record())
    assert (await meeting(mongo))["stage"] == "failed"


async def test_the_download_token_is_read_with_its_expiry(mongo: Mongo) -> None:
    expires = (utcnow() + timedelta(hours=20)).replace(microsecond=0)
    await mongo.db[SECRETS].insert_one(
        {"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "download_token": "tok-123456", "expires_at": expires}
    )
    state = MeetingState(mongo.db)
    found = await state.download_token("acme", EVENT.meeting_uuid)
    assert found is not None
    assert found.token.get_secret_value() == "tok-123456"
    assert found.expires_at == expires
    assert await state.download_token("acme", "other") is None


def test_the_event_is_the_same_for_the_same_inputs_and_new_for_a_new_generation() -> None:
    first, again = audio_mixed(EVENT, record()), audio_mixed(EVENT, record().model_copy())
    assert first.event_id == again.event_id
    replay = audio_mixed(EVENT.model_copy(update={"generation": 1}), record())
    assert replay.event_id != first.event_id
    assert first.topic_text == "Sync" and first.host_email == "host@example.com"
