"""The archive metadata record of a conversation, built from the event and the mix (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from zoomsymbl_common.events import ChannelAssignment, RecordingCompleted, SpeakerStats
from zoomsymbl_ingest.phone_payload import phone_recording_completed, phone_recordings
from zoomsymbl_ingest.zoom_payload import parse_webhook
from zoomsymbl_mixer.metadata import conversation_metadata, failed_metadata, metadata_json, metadata_key
from zoomsymbl_mixer.state import MixRecord, RawObject

DOCUMENTED = Path(__file__).resolve().parents[1] / "ingest" / "fixtures" / "phone.recording_completed.json"


def documented_call() -> RecordingCompleted:
    [entry] = phone_recordings(parse_webhook(DOCUMENTED.read_bytes()).payload)
    event = phone_recording_completed("acme", entry, source="webhook")
    return event.model_copy(update={"host_email": "owner@example.com"})


def mono_mix(missing: tuple[str, ...] = ()) -> MixRecord:
    return MixRecord(
        input_hash="h",
        input_kind="phone",
        bucket="b",
        object_key="mixed/acme/x.flac",
        format="flac",
        channels=1,
        duration_seconds=6.2,
        size_bytes=1000,
        channel_map=(
            ChannelAssignment(channel=1, participant_name="Call audio", file_ids=("c71b",), offset_seconds=0),
        ),
        speaker_stats=(
            SpeakerStats(
                channel=1, talk_seconds=4.0, silence_ratio=0.35, talk_over_ratio=0.0, longest_silence_seconds=1.5
            ),
        ),
        diarization=True,
        raw_objects=(RawObject(file_id="c71b360f6e774e3aa101453117b7e1a7", key="raw/acme/k/c71b.mp3", size=9),),
        missing_files=missing,
    )


def test_a_call_record_has_every_field_an_archive_expects() -> None:
    record = conversation_metadata(documented_call(), mono_mix())
    assert record.source_platform == "Zoom Phone"
    assert record.conversation_types == ["voice"]
    assert record.platform_id == "6998252113337041462"
    assert record.start_time == datetime(2021, 8, 19, 21, 12, 38, tzinfo=UTC)
    assert record.end_time == datetime(2021, 8, 19, 21, 12, 44, tzinfo=UTC)
    assert record.duration_seconds == 43, "Zoom's call duration, not the media's"
    assert (record.recorded_user.user, record.recorded_user.name, record.recorded_user.number) == (
        "owner@example.com",
        "Owner name",
        "6666",
    )
    assert record.recorded_user_id == "z8yCxjabcdEFGHfp8uQ"
    assert (record.from_party.number, record.from_party.name) == ("+12092592844", "Caller Name")
    assert [(p.number, p.name) for p in record.to_parties] == [("+12058945456", "Callee Name")]
    assert record.direction == "outbound"
    assert record.recording_failed is False
    assert (record.media.original_codec, record.media.codec, record.media.length_seconds) == ("MP3", "flac", 6.2)
    [speaker] = record.speakers
    assert (speaker.talk_seconds, speaker.silence_ratio, speaker.talk_over_ratio) == (4.0, 0.35, 0.0)
    assert speaker.longest_silence_seconds == 1.5


def test_missing_files_flag_the_recording_failed() -> None:
    record = conversation_metadata(documented_call(), mono_mix(missing=("gone",)))
    assert record.recording_failed and record.missing_files == ["gone"]


def test_a_recording_the_mixer_gave_up_on_is_recorded_failed_with_the_reason() -> None:
    record = failed_metadata(documented_call(), "zoom refused file 'c71b': status 404")
    assert record.recording_failed and record.failure == "zoom refused file 'c71b': status 404"
    assert record.speakers == [] and record.media.object_key == ""
    assert record.source_platform == "Zoom Phone" and record.duration_seconds == 43


def test_the_s3_copy_is_the_same_record_as_json_with_from_and_to() -> None:
    record = conversation_metadata(documented_call(), mono_mix())
    stored = json.loads(metadata_json(record))
    assert stored["from"]["name"] == "Caller Name" and stored["to"][0]["name"] == "Callee Name"
    assert stored["start_time"] == "2021-08-19T21:12:38Z"
    assert metadata_key("acme", "phone:c71b") == "raw/acme/cGhvbmU6YzcxYg/metadata.json"
