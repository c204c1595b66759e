"""A participant's track Zoom no longer has (404): the meeting is mixed without it, and the meeting says whose audio
is missing (``missing_audio``), for the report e-mail and the meeting page.

Real MongoDB, S3, ffmpeg and the Zoom sandbox answering 404 for one participant's file.
"""

from __future__ import annotations

import pytest
from zoomsymbl_common.records import MEETINGS, Meeting, MissingAudio
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_sandbox.zoom import Fault

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration
MISSING_AUDIO = "missing_audio"  # the field the notifier and the web read


async def _meeting(rig: Rig) -> dict[str, object]:
    doc = await rig.mongo.db[MEETINGS].find_one({"tenant": "acme", "meeting_uuid": TYPICAL})
    assert doc is not None
    return doc


async def test_a_participant_track_zoom_no_longer_has_is_named_on_the_meeting(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    victim = event.participant_tracks[1]
    assert victim.participant_name
    rig.sandbox.faults.add(Fault(route="download", kind="status", status=404, file_id=victim.file_id, count=1000))

    mixed = await rig.mixer().on_recording_completed(event)

    assert mixed.channels == 2 and victim.participant_name not in [c.participant_name for c in mixed.channel_map]
    doc = await _meeting(rig)
    assert doc[MISSING_AUDIO] == {"names": [victim.participant_name], "others": 0, "partial": []}
    assert Meeting.from_document(doc).missing() == MissingAudio(names=[victim.participant_name])


async def test_a_meeting_mixed_with_every_track_has_no_note_and_a_later_full_mix_clears_one(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    await rig.mixer().on_recording_completed(event)
    doc = await _meeting(rig)
    assert MISSING_AUDIO not in doc and Meeting.from_document(doc).missing() is None

    state = MeetingState(rig.mongo.db)
    record = await state.current_mix(event.tenant, event.meeting_uuid)
    assert record is not None
    await state.record_mix(event, record.model_copy(update={"missing_files": (event.participant_tracks[0].file_id,)}))
    assert (await _meeting(rig))[MISSING_AUDIO] == {
        "names": [event.participant_tracks[0].participant_name],
        "others": 0,
        "partial": [],
    }
    await state.record_mix(event, record)  # mixed again with every track (a replay once Zoom served it)
    assert MISSING_AUDIO not in await _meeting(rig)
