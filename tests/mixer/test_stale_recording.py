"""An older delivery of a meeting's recording event, arriving after a newer one was processed, changes nothing stored.

Such a delivery comes from Zoom sending an earlier webhook again (its receipt expired), or from a plain
``zoomsymbl replay`` of a time range that holds it. Before, the mixer mixed its inputs again, and its mix, the
conversation's archive record (``conversations``) and ``metadata.json`` next to the audio replaced the newer
event's. Deliveries of one meeting are ordered by generation, then by the event's ``occurred_at`` (Zoom's
``event_ts``): a forced replay (a new generation) and a later delivery still write. Real Zoom sandbox, MongoDB, S3
and ffmpeg.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from zoomsymbl_common.events import RecordingCompleted, RecordingFile, stable_id, utcnow
from zoomsymbl_common.ops.replay import bump_generation, regenerate
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS
from zoomsymbl_mixer.handlers import MixerMetrics, on_recording_completed
from zoomsymbl_mixer.metadata import metadata_key
from zoomsymbl_mixer.state import MeetingState

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


async def deliveries(rig: Rig) -> tuple[RecordingCompleted, RecordingCompleted]:
    """Zoom's first webhook (one participant's file not listed yet) and its later one, renamed, with every file."""
    newer = await rig.event(TYPICAL)
    newer = newer.model_copy(update={"topic_text": "Roadmap review"})
    tracks = newer.participant_tracks[:-1]
    files = sorted(f.file_id for f in (*tracks, *newer.fallback_files))
    older = newer.model_copy(
        update={
            "event_id": stable_id(rig.tenant.id, TYPICAL, *files),
            "participant_tracks": tracks,
            "topic_text": "Planning",
            "occurred_at": newer.occurred_at - timedelta(minutes=30),
        }
    )
    return older, newer


async def stored(rig: Rig, tmp_path: Path) -> tuple[dict[str, object], bytes, dict[str, object]]:
    """The archive record, its JSON copy in S3, and the meeting's mix and objects."""
    key = {"tenant": rig.tenant.id, "meeting_uuid": TYPICAL}
    record = await rig.mongo.db[CONVERSATIONS].find_one(key, {"_id": 0})
    meeting = await rig.mongo.db[MEETINGS].find_one(key, {"mix": 1, "objects": 1, "mixed_generation": 1})
    assert record is not None and meeting is not None
    copy = tmp_path / "metadata.json"
    await rig.store.get_file(metadata_key(rig.tenant.id, TYPICAL), str(copy))
    return record, copy.read_bytes(), meeting


async def test_an_older_delivery_after_a_newer_one_changes_nothing_stored(rig: Rig, tmp_path: Path) -> None:
    older, newer = await deliveries(rig)
    await rig.mixer().on_recording_completed(newer)
    before, downloads, announced = await stored(rig, tmp_path), rig.downloads(), len(rig.published)
    assert before[0]["topic"] == "Roadmap review"

    registry = CollectorRegistry()
    outcome = await on_recording_completed(older, rig.mixer(), MixerMetrics(registry), MeetingState(rig.mongo.db))

    assert outcome is None
    assert await stored(rig, tmp_path) == before  # record, metadata.json and the meeting's mix: the newer event's
    assert (rig.downloads(), len(rig.published)) == (downloads, announced)  # nothing fetched, nothing announced
    assert 'zoomsymbl_mixer_meetings_total{outcome="superseded"} 1.0' in generate_latest(registry).decode()


async def test_a_later_delivery_a_forced_replay_and_a_redelivery_still_write(rig: Rig, tmp_path: Path) -> None:
    """The check stops only what is older: the newer delivery after the older one, then a forced replay of the older
    one (a new generation, whatever its ``occurred_at``), then that replay delivered again (the same instant)."""
    older, newer = await deliveries(rig)
    await rig.mixer().on_recording_completed(older)
    assert (await stored(rig, tmp_path))[0]["topic"] == "Planning"
    await rig.mixer().on_recording_completed(newer)
    assert (await stored(rig, tmp_path))[0]["topic"] == "Roadmap review"

    generation = await bump_generation(rig.mongo, rig.tenant.id, TYPICAL, "replay-1")
    replayed = regenerate(older, generation)
    assert isinstance(replayed, RecordingCompleted)
    first = await rig.mixer().on_recording_completed(replayed)
    record, body, meeting = await stored(rig, tmp_path)
    assert (record["topic"], record["generation"], meeting["mixed_generation"]) == ("Planning", 1, 1)
    assert b'"topic": "Planning"' in body and meeting["mix"]["input_hash"] == first.input_hash  # type: ignore[index]
    assert await rig.mixer().on_recording_completed(replayed) == first  # a redelivery is announced again
    assert (await stored(rig, tmp_path))[0]["topic"] == "Planning"


async def test_the_give_up_of_an_older_delivery_leaves_the_later_ones_failure_and_record(rig: Rig) -> None:
    """An older delivery given up on before it was recognised (MongoDB did not answer the check, every attempt) does
    not fail the meeting again with its own reason, nor replace the later delivery's archive record."""
    older, newer = await deliveries(rig)
    state = MeetingState(rig.mongo.db)
    assert await state.mark_failed(newer, "download", "zoom refused file 'later'")

    assert not await state.mark_failed(older, "download", "zoom refused file 'earlier'")

    key = {"tenant": rig.tenant.id, "meeting_uuid": TYPICAL}
    record = await rig.mongo.db[CONVERSATIONS].find_one(key)
    meeting = await rig.mongo.db[MEETINGS].find_one(key)
    assert record is not None and meeting is not None
    assert (record["topic"], record["failure"]) == ("Roadmap review", "zoom refused file 'later'")
    assert meeting["failure"]["reason"] == "zoom refused file 'later'"


async def test_a_transcript_only_delivery_given_up_on_does_not_stop_the_recording_replayed_later(rig: Rig) -> None:
    """Zoom's ``recording.transcript_completed`` comes after the recording; when the meeting's recording had failed
    and the transcript's event is given up on too, the recording replayed once the cause is fixed is mixed: an
    event without audio is no later delivery of the recording."""
    recording = await rig.event(TYPICAL)
    state = MeetingState(rig.mongo.db)
    assert await state.mark_failed(recording, "download", "zoom was down")
    transcript = RecordingFile(
        file_id="transcript-1", file_type="TRANSCRIPT", file_extension="VTT", download_url="https://zoom.us/rec/t"
    )
    late = recording.model_copy(
        update={
            "event_id": "transcript-event",
            "participant_tracks": (),
            "fallback_files": (transcript,),
            "occurred_at": recording.occurred_at + timedelta(minutes=20),
        }
    )
    await state.mark_failed(late, "download", "s3 refused the transcript")

    mixed = await rig.mixer().on_recording_completed(recording)  # the recording's dead letter, replayed

    record = await rig.mongo.db[CONVERSATIONS].find_one({"tenant": rig.tenant.id, "meeting_uuid": TYPICAL})
    assert record is not None and (record["recording_failed"], record["media"]["object_key"]) == (
        False,
        mixed.object_key,
    )


async def test_an_older_delivery_past_the_check_still_replaces_neither_record_nor_json(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newer delivery's record landed after the older one was checked (two consumers of the meeting at once):
    the write itself keeps the newer record and its JSON copy."""
    older, newer = await deliveries(rig)
    await rig.mixer().on_recording_completed(newer)
    record, body, _ = await stored(rig, tmp_path)
    mixer = rig.mixer()

    async def not_yet(event: RecordingCompleted) -> bool:
        return False

    monkeypatch.setattr(mixer.state, "superseded", not_yet, raising=False)  # absent before the fix
    await mixer.on_recording_completed(older)

    after, after_body, _ = await stored(rig, tmp_path)
    assert (after, after_body) == (record, body)


async def test_a_delivery_dated_in_the_future_does_not_supersede_the_real_ones_after_it(
    rig: Rig, tmp_path: Path
) -> None:
    """Nothing checks the body's times against a clock: a delivery dated a year ahead (a clock fault at Zoom, a signed
    forgery against a known meeting) was stored as the newest of its generation, and every real delivery after it
    was superseded until a forced replay. One dated more than ten minutes ahead orders nothing: its record keeps no
    instant, and the next real delivery replaces it."""
    older, newer = await deliveries(rig)
    ahead = older.model_copy(update={"event_id": stable_id("ahead"), "occurred_at": utcnow() + timedelta(days=365)})
    await rig.mixer().on_recording_completed(ahead)
    assert (await stored(rig, tmp_path))[0]["topic"] == "Planning"
    later = newer.model_copy(update={"event_id": stable_id("later"), "occurred_at": utcnow() + timedelta(seconds=1)})
    await rig.mixer().on_recording_completed(later)
    assert (await stored(rig, tmp_path))[0]["topic"] == "Roadmap review"
