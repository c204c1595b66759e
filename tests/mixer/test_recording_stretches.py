"""A cloud recording stopped and started again within the meeting: every stretch is mixed, each at its place on the
meeting clock; an interpreter's audio never is. The Zoom sandbox, the real MongoDB, S3 and ffmpeg."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_mixer.analytics import SilenceLog
from zoomsymbl_mixer.channels import MEETING_AUDIO
from zoomsymbl_sandbox.zoom import LEAD_IN_S

from tests.mixer.conftest import TYPICAL, Rig

pytestmark = pytest.mark.integration
RESTARTED_AT = 30  # seconds after the first stretch began: the second stretch's recording_start


async def silences(path: Path) -> list[tuple[float, float]]:
    log = SilenceLog(channels=1)
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-af"]
    args += ["silencedetect=noise=-50dB:duration=0.3:mono=1", "-f", "null", "-"]
    result = await run_tool(args, timeout=60, on_line=log.feed)
    assert result.returncode == 0
    return log.silences(1e9)[0]


async def test_every_stretch_of_a_restarted_recording_is_mixed_at_its_time_and_no_interpreter(
    rig: Rig, tmp_path: Path
) -> None:
    # Files of the sandbox's typical meeting, as Zoom lists a recording stopped at 16 s and started again at 30 s on
    # a meeting with an interpreter and without separate participant audio: first the interpreter's M4A, then the
    # second stretch's audio_only, then the first's. Each is real audio the sandbox serves under the meeting's token.
    event = await rig.event(TYPICAL)
    jean_luc, zoe = (
        next(f for f in event.participant_tracks if f.participant_name == n) for n in ("Jean-Luc Pérez", "Zoë 🎧 Ng")
    )
    first = next(f for f in event.fallback_files if f.recording_type == "audio_only")
    assert first.recording_start is not None and first.recording_end is not None

    def as_file(track: RecordingFile, kind: str, start_s: float, seconds: float) -> RecordingFile:
        start = first.recording_start + timedelta(seconds=start_s)  # type: ignore[operator]
        update = {"recording_type": kind, "participant_name": None, "recording_start": start,
                  "recording_end": start + timedelta(seconds=seconds)}  # fmt: skip
        return track.model_copy(update=update)

    interpreter = as_file(zoe, "audio_interpretation", 0, 16)
    second = as_file(jean_luc, "audio_only", RESTARTED_AT, 10)
    event = event.model_copy(update={"participant_tracks": (), "fallback_files": (interpreter, second, first)})

    mixed = await rig.mixer().on_recording_completed(event)

    [channel] = mixed.channel_map
    assert (channel.participant_name, channel.mixed, mixed.diarization) == (MEETING_AUDIO, True, True)
    assert channel.file_ids == (first.file_id, second.file_id)
    assert mixed.duration_seconds == pytest.approx(RESTARTED_AT + 10, abs=0.1)
    path = tmp_path / "mixed.flac"
    await rig.store.get_file(mixed.object_key, str(path))
    quiet = await silences(path)
    # The first stretch's speech ends before 16 s; the recording was stopped from 16 s to 30 s; Jean-Luc speaks
    # from LEAD_IN_S into the second stretch, on the meeting clock.
    gap = next(b - a for a, b in quiet if a < 16 < b)
    resumed = next(b for a, b in quiet if a < RESTARTED_AT < b)
    assert resumed == pytest.approx(RESTARTED_AT + LEAD_IN_S, abs=0.05)
    assert gap > RESTARTED_AT - 16
    assert rig.sandbox.stats.downloads.get(zoe.file_id, []) == []  # the interpreter's file is not even fetched
    assert list(rig.scratch.iterdir()) == []
