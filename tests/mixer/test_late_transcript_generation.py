"""What a forced replay (``zoomsymbl replay --force``) leaves behind in the mixer: Zoom's transcript arriving after it,
and an event of the generation it left that raced past the mixer's generation check.

Zoom sends ``recording.transcript_completed`` minutes after the recording; a replay run in between moved the meeting to
a new generation. The transcript was announced under the webhook's generation, which the submitter drops as
superseded: a ``zoom``-source meeting waited for its transcript for ever. Real Zoom sandbox, MongoDB, S3 and ffmpeg.
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.events import AudioMixed, RecordingCompleted
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.ops.replay import bump_generation, carry_mix, regenerate
from zoomsymbl_common.records import MEETINGS
from zoomsymbl_mixer.state import MeetingState

from tests.mixer.conftest import Rig
from tests.mixer.test_earlier_generation import forced
from tests.mixer.test_state import EVENT, record
from tests.mixer.test_transcripts import UUID, rig, transcripts_only, wired  # noqa: F401 (the rig fixture)

pytestmark = [pytest.mark.integration]


@pytest.fixture
def zoom_rig(rig: Rig) -> Rig:  # noqa: F811 (the imported fixture)
    """The transcript tests' rig (Zoom sandbox with a transcript and captions), its tenant on the ``zoom`` source."""
    rig.tenant = rig.tenant.model_copy(update={"provider": "zoom"})
    return rig


def audio_only(event: RecordingCompleted) -> RecordingCompleted:
    """The recording's own event, before Zoom's transcript exists."""
    files = tuple(f for f in event.fallback_files if f.file_type not in ("TRANSCRIPT", "CC"))
    return event.model_copy(update={"fallback_files": files})


async def test_a_transcript_after_a_forced_replay_is_announced_with_the_replays_mix(zoom_rig: Rig) -> None:
    event = await zoom_rig.event(UUID)
    first = await wired(zoom_rig).on_recording_completed(audio_only(event))
    generation = await bump_generation(zoom_rig.mongo, zoom_rig.tenant.id, UUID, "replay-1")
    replayed = await wired(zoom_rig).on_recording_completed(forced(audio_only(event), generation))
    assert first is not None and replayed is not None and replayed.transcripts == ()

    late = await wired(zoom_rig).on_recording_completed(transcripts_only(event))  # Zoom's webhook: generation 0

    assert late is not None and zoom_rig.published[-1] == late
    assert (late.generation, late.object_key) == (generation, replayed.object_key)  # the submitter takes it
    assert [t.kind for t in late.transcripts] == ["transcript", "cc"]
    assert late.event_id not in (first.event_id, replayed.event_id)


async def test_a_transcript_before_the_replays_recording_is_mixed_waits_for_that_mix(zoom_rig: Rig) -> None:
    event = await zoom_rig.event(UUID)
    await wired(zoom_rig).on_recording_completed(audio_only(event))
    generation = await bump_generation(zoom_rig.mongo, zoom_rig.tenant.id, UUID, "replay-1")
    announced = len(zoom_rig.published)

    # The replay's recording event is still on its way: generation 0's mix is not announced as generation 1's.
    assert await wired(zoom_rig).on_recording_completed(transcripts_only(event)) is None
    assert len(zoom_rig.published) == announced

    replayed = await wired(zoom_rig).on_recording_completed(forced(audio_only(event), generation))
    assert replayed is not None and replayed.generation == generation
    assert [t.kind for t in replayed.transcripts] == ["transcript", "cc"]  # the stored files, named by the mix


async def test_a_transcript_after_a_forced_replay_of_audio_mixed_is_announced_with_the_replayed_mix(
    zoom_rig: Rig,
) -> None:
    """``zoomsymbl replay --force --topic audio.mixed.v1``: no recording of the new generation reaches the mixer; the
    replay notes the mix it runs again (``carry_mix``), and Zoom's transcript is announced with it."""
    event = await zoom_rig.event(UUID)
    first = await wired(zoom_rig).on_recording_completed(audio_only(event))
    assert first is not None
    generation = await bump_generation(zoom_rig.mongo, zoom_rig.tenant.id, UUID, "replay-1")
    replayed = regenerate(first, generation)
    assert isinstance(replayed, AudioMixed)
    await carry_mix(zoom_rig.mongo, replayed)  # as the replay does before it publishes

    late = await wired(zoom_rig).on_recording_completed(transcripts_only(event))

    assert late is not None and (late.generation, late.object_key) == (generation, first.object_key)
    assert [t.kind for t in late.transcripts] == ["transcript", "cc"]


async def test_the_transcript_of_the_meetings_own_generation_still_joins_its_mix(zoom_rig: Rig) -> None:
    event = await zoom_rig.event(UUID)
    first = await wired(zoom_rig).on_recording_completed(audio_only(event))
    late = await wired(zoom_rig).on_recording_completed(transcripts_only(event))
    assert first is not None and late is not None
    assert (late.generation, late.object_key, len(late.transcripts)) == (0, first.object_key, 2)


async def test_an_event_the_meeting_left_neither_records_its_mix_nor_fails_the_meeting(mongo: Mongo) -> None:
    """It raced past the generation check (read before the replay bumped the generation): its writes do nothing."""
    state = MeetingState(mongo.db)
    current = EVENT.model_copy(update={"generation": 1, "event_id": "e1-g1"})
    await mongo.db[MEETINGS].insert_one({"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid, "generation": 1})

    assert not await state.mark_failed(EVENT, "download", "its links expired long ago")
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None and "stage" not in doc and "failure" not in doc

    assert await state.record_mix(current, record("new"))
    assert not await state.record_mix(EVENT, record("old"))
    doc = await mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": EVENT.meeting_uuid})
    assert doc is not None and (doc["mix"]["input_hash"], doc["mixed_generation"]) == ("new", 1)

    assert await state.mark_failed(current, "upload", "metadata refused")  # its own generation still fails it
