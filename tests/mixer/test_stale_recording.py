"""An older delivery of a meeting's recording event, arriving after a newer one was processed, changes nothing stored.

Such a delivery comes from Zoom sending an earlier webhook again (its receipt expired), or from a plain
``zoomsymbl replay`` of a time range that holds it. Before, the mixer mixed its inputs again, and its mix, the
conversation's archive record (``conversations``) and ``metadata.json`` next to the audio replaced the newer
event's. Deliveries of one meeting are ordered by generation, then by the event's ``occurred_at`` (Zoom's
``event_ts``): a forced replay (a new generation) and a later delivery still write. An older delivery that passed the
check before the newer one wrote (two handlings of the meeting at once) is refused by the writes themselves and
announces nothing. Real Zoom sandbox, MongoDB, S3 and ffmpeg.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from zoomsymbl_common.events import AudioMixed, RecordingCompleted, RecordingFile, stable_id, utcnow
from zoomsymbl_common.ops.replay import bump_generation, regenerate
from zoomsymbl_common.records import CONVERSATIONS, MEETINGS, ConversationMetadata
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


SUPERSEDED = 'zoomsymbl_mixer_meetings_total{outcome="superseded"} 1.0'


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
    assert SUPERSEDED in generate_latest(registry).decode()


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


async def handled_past_the_check(
    rig: Rig, older: RecordingCompleted, monkeypatch: pytest.MonkeyPatch, state: MeetingState | None = None
) -> tuple[AudioMixed | None, str]:
    """``older`` handled as the consumer does (its mixer on ``state``), its check having run before the newer delivery
    stored anything (two handlings of the meeting at once: a poll-deadline give-back, a rebalance); its outcome and
    the metrics."""
    mixer, registry = rig.mixer(), CollectorRegistry()
    mixer.state = state or mixer.state

    async def not_yet(event: RecordingCompleted) -> bool:
        return False

    monkeypatch.setattr(mixer.state, "superseded", not_yet)
    outcome = await on_recording_completed(older, mixer, MixerMetrics(registry), MeetingState(rig.mongo.db))
    return outcome, generate_latest(registry).decode()


async def test_an_older_delivery_past_the_check_replaces_nothing_and_announces_nothing(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newer delivery's mix and record landed after the older one was checked: the older one's update of the
    meeting refuses itself (its mix, ``objects.mixed``, channel map and times stayed the newer one's), nothing of it
    is announced (the submitter takes a second input hash of a generation as another submission), and it ends as one
    caught by the check. The newer delivery, delivered again, still finds its mix and announces it again."""
    older, newer = await deliveries(rig)
    first = await rig.mixer().on_recording_completed(newer)
    before = await stored(rig, tmp_path)

    outcome, metrics = await handled_past_the_check(rig, older, monkeypatch)

    assert outcome is None and SUPERSEDED in metrics
    assert await stored(rig, tmp_path) == before  # record, metadata.json, the meeting's mix and objects
    assert rig.published == [first]
    downloads = rig.downloads()
    assert await rig.mixer().on_recording_completed(newer) == first
    assert (rig.downloads(), rig.published) == (downloads, [first, first])  # found, not mixed again


async def test_an_older_delivery_overtaken_between_its_mix_and_its_record_is_not_announced(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The older delivery recorded its mix on the meeting first; the newer one then recorded and archived its own
    before the older one got to the archive: the older one's record is refused, and its ``AudioMixed`` is not
    published (it named a mix the meeting no longer holds)."""
    older, newer = await deliveries(rig)
    newest: list[AudioMixed] = []
    state = MeetingState(rig.mongo.db)
    store_metadata = state.store_metadata

    async def newer_first(metadata: ConversationMetadata, occurred_at: datetime | None = None) -> bool:
        newest.append(await rig.mixer().on_recording_completed(newer))
        return await store_metadata(metadata, occurred_at)

    monkeypatch.setattr(state, "store_metadata", newer_first)
    outcome, metrics = await handled_past_the_check(rig, older, monkeypatch, state)

    record, body, meeting = await stored(rig, tmp_path)
    assert outcome is None and SUPERSEDED in metrics
    assert len(newest) == 1 and rig.published == newest  # the newer one's AudioMixed alone
    assert meeting["mix"]["input_hash"] == newest[0].input_hash  # type: ignore[index]
    assert meeting["objects"]["mixed"]["key"] == newest[0].object_key  # type: ignore[index]
    assert record["topic"] == "Roadmap review" and b'"topic": "Roadmap review"' in body


async def test_an_older_delivery_past_the_check_leaves_the_newer_ones_failure(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newer delivery was given up on (its failure announced to the host) after the older one was checked: the
    older one neither mixes the failed meeting back to ``mixed`` nor announces a mix."""
    older, newer = await deliveries(rig)
    assert await MeetingState(rig.mongo.db).mark_failed(newer, "download", "zoom refused file 'later'")

    outcome, metrics = await handled_past_the_check(rig, older, monkeypatch)

    meeting = await rig.mongo.db[MEETINGS].find_one({"tenant": rig.tenant.id, "meeting_uuid": TYPICAL})
    assert meeting is not None and outcome is None and SUPERSEDED in metrics
    assert (meeting["stage"], meeting["failure"]["reason"], meeting.get("mix")) == (
        "failed",
        "zoom refused file 'later'",
        None,
    )
    assert rig.published == []


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
