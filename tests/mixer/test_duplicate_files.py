"""A participant track listed twice in the event (a forged or odd one): one channel of its person, downloaded once.

Real MongoDB, S3, ffmpeg and the Zoom sandbox.
"""

from __future__ import annotations

import pytest

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration


async def test_a_participant_track_listed_twice_is_downloaded_once_and_mixed_as_one_channel(rig: Rig) -> None:
    event = await rig.event(TYPICAL)
    tracks = event.participant_tracks
    doubled = event.model_copy(update={"participant_tracks": (*tracks, tracks[0])})

    mixed = await rig.mixer().on_recording_completed(doubled)

    assert len(rig.sandbox.stats.downloads[tracks[0].file_id]) == 1
    assert mixed.channels == 3  # before: 4, Elisa twice, talking over herself all the time
    assert [c.participant_name for c in mixed.channel_map] == [t.participant_name for t in tracks]
