"""Zoom Phone calls through the mixer (sandbox, real MongoDB, S3, ffmpeg): one file, no merge, call metadata kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, ConversationMetadata, Meeting
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_ingest.phone_payload import phone_recording_completed
from zoomsymbl_mixer.errors import DownloadRefused
from zoomsymbl_mixer.ffprobe import parse_probe, probe_args
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_sandbox.zoom import PhoneCallSpec, demo_call_spec

from tests.mixer.conftest import Rig

pytestmark = pytest.mark.integration


async def phone_event(rig: Rig, spec: PhoneCallSpec) -> RecordingCompleted:
    """What ingest publishes for the sandbox's signed phone.recording_completed of ``spec``."""
    await rig.sandbox.add_phone_call(spec)
    entry = rig.sandbox.phone_recording(spec.recording_id)
    return phone_recording_completed(rig.tenant.id, entry, source="webhook", account_id=rig.sandbox.config.account_id)


async def probe(rig: Rig, key: str, tmp_path: Path) -> tuple[str, int]:
    from zoomsymbl_common.media_tools import run_tool

    path = tmp_path / Path(key).name
    await rig.store.get_file(key, str(path))
    result = await run_tool(probe_args(path), timeout=60, capture_stdout=True)
    found = parse_probe(result.stdout)
    assert found is not None
    return found.codec, found.channels


async def test_a_mono_call_is_one_shared_channel_with_diarization(rig: Rig, tmp_path: Path) -> None:
    event = await phone_event(rig, demo_call_spec("mixermonocall1"))
    mixed = await rig.mixer().on_recording_completed(event)
    assert (mixed.format, mixed.channels, mixed.diarization) == ("flac", 1, True)
    assert [c.participant_name for c in mixed.channel_map] == ["Call audio"]
    assert mixed.host_email == "host@example.com", "the phone user's Zoom e-mail, from GET /users/{id}"
    assert mixed.topic_text.startswith("Zoom Phone call: Jack Chill (+12092592844) → Jill Chill (1026)")
    assert await probe(rig, mixed.object_key, tmp_path) == ("flac", 1)
    raw = f"raw/acme/{meeting_key(event.meeting_uuid)}/mixermonocall1.mp3"
    assert await rig.store.exists(raw), "the original MP3 is archived as Zoom gave it"
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": event.meeting_uuid})
    meeting = Meeting.from_document(doc or {})
    assert meeting.platform == "zoom_phone"
    assert meeting.host_email == "host@example.com"
    assert meeting.call is not None and meeting.call.direction == "inbound"
    assert meeting.call.caller.name == "Jack Chill" and meeting.call.callee.number == "1026"


async def test_a_stereo_call_keeps_its_two_sides_apart(rig: Rig, tmp_path: Path) -> None:
    spec = demo_call_spec("mixerstereocall1").model_copy(update={"stereo": True})
    mixed = await rig.mixer().on_recording_completed(await phone_event(rig, spec))
    assert (mixed.channels, mixed.diarization) == (2, False)
    assert [c.participant_name for c in mixed.channel_map] == ["Call side 1", "Call side 2"]
    assert await probe(rig, mixed.object_key, tmp_path) == ("flac", 2)
    caller, callee = mixed.speaker_stats
    assert caller.talk_seconds > 1 and callee.talk_seconds > 1, "each side heard on its own channel"


async def test_the_metadata_record_of_a_call_is_in_mongodb_and_next_to_the_media(rig: Rig, tmp_path: Path) -> None:
    event = await phone_event(rig, demo_call_spec("metadatacall1"))
    mixed = await rig.mixer().on_recording_completed(event)
    doc = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": event.meeting_uuid})
    record = ConversationMetadata.from_document(doc or {})
    call = event.phone_call
    assert call is not None
    assert record.source_platform == "Zoom Phone"
    assert record.conversation_types == ["voice"]
    assert record.platform_id == call.call_id
    assert (record.start_time, record.end_time) == (call.start_time, call.end_time)
    assert record.duration_seconds == call.duration_seconds
    assert record.recorded_user.user == "host@example.com" and record.recorded_user.number == "1026"
    assert record.recorded_user_id == call.user_id
    assert (record.from_party.number, record.from_party.name) == ("+12092592844", "Jack Chill")
    assert [(p.number, p.name) for p in record.to_parties] == [("1026", "Jill Chill")]
    assert record.direction == "inbound"
    assert record.recording_failed is False
    assert (record.media.original_codec, record.media.codec) == ("MP3", "flac")
    assert record.media.length_seconds == mixed.duration_seconds > 0
    [speaker] = record.speakers
    assert speaker.talk_seconds > 0 and 0 < speaker.silence_ratio < 1 and speaker.longest_silence_seconds > 0
    copy = tmp_path / "metadata.json"
    await rig.store.get_file(metadata_key("acme", event.meeting_uuid), str(copy))
    stored = json.loads(copy.read_text())
    assert stored["source_platform"] == "Zoom Phone"
    assert stored["from"] == {"number": "+12092592844", "user": "", "name": "Jack Chill"}
    assert stored["speakers"][0]["talk_seconds"] == speaker.talk_seconds


async def test_the_metadata_record_of_a_meeting(rig: Rig) -> None:
    from tests.mixer.conftest import TYPICAL

    event = await rig.event(TYPICAL)
    await rig.mixer().on_recording_completed(event)
    doc = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    record = ConversationMetadata.from_document(doc or {})
    assert record.source_platform == "Zoom Meeting"
    assert record.conversation_types == ["voice", "video", "screen_share"]
    assert record.platform_id == str(event.meeting_id)
    assert record.recorded_user.user == event.host_email and record.direction is None
    assert [p.name for p in record.to_parties] == ["Elisa L", "Jean-Luc Pérez", "Zoë 🎧 Ng"]
    assert record.duration_seconds == pytest.approx(16, abs=1)
    assert [s.channel for s in record.speakers] == [1, 2, 3]
    assert all(s.talk_seconds > 0 for s in record.speakers)
    assert record.media.original_codec == "M4A"
    assert await rig.store.exists(metadata_key("acme", TYPICAL))


async def test_the_oauth_token_goes_only_to_zooms_phone_download_endpoint(rig: Rig) -> None:
    event = await phone_event(rig, demo_call_spec("ssrfcall1"))
    [file] = event.fallback_files
    elsewhere = file.model_copy(update={"download_url": f"{rig.sandbox.base_url}/rec/download/ssrfcall1"})
    forged = event.model_copy(update={"fallback_files": (elsewhere,)})
    with pytest.raises(DownloadRefused):
        await rig.mixer().on_recording_completed(forged)


async def test_a_call_the_mixer_gives_up_on_is_recorded_failed_for_the_archive(rig: Rig) -> None:
    event = await phone_event(rig, demo_call_spec("failedcall1"))
    state = rig.mixer().state
    assert await state.mark_failed(event, "download", "zoom refused file 'failedcall1': status 404")
    doc = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": "acme", "meeting_uuid": event.meeting_uuid})
    record = ConversationMetadata.from_document(doc or {})
    assert record.recording_failed and "status 404" in record.failure
    assert record.source_platform == "Zoom Phone" and record.from_party.name == "Jack Chill"
