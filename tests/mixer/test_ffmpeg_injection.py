"""Hostile values against the merge's command line: a header that claims less than its file holds.

:mod:`zoomsymbl_mixer.bounds` checks a track's probed length against its bytes and Zoom's clock, and
the plan's end against the meeting. A header that *understates* its length passes those checks and,
before the fix, the merge still decoded every frame the file held: a one-track meeting (audio_only,
a phone call, a lone participant) came out as long as the frames, not as the plan that was checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import run_tool
from zoomsymbl_mixer.bounds import check_plan, check_track, longest_mix
from zoomsymbl_mixer.channels import Track, plan_mix
from zoomsymbl_mixer.ffmpeg import OutputFormat, SilenceSettings, analysis_args, merge_args, talk_args
from zoomsymbl_mixer.preparation import prepare, probe_file
from zoomsymbl_mixer.selection import extension

from tests.mixer.test_bounds import with_movie_duration

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)
HELD = 20  # seconds of frames in the file
CLAIMED = 2  # seconds its movie header says


async def lying_track(path: Path, frequency: int = 440) -> Path:
    """An AAC M4A holding HELD s of tone whose movie header claims CLAIMED s (same size, same frames)."""
    honest = path.with_suffix(".honest.m4a")
    graph = f"sine=frequency={frequency}:sample_rate=32000:duration={HELD}"
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph]
    result = await run_tool([*args, "-c:a", "aac", "-ar", "32000", "-ac", "1", "-b:a", "48k", str(honest)], timeout=60)
    assert result.returncode == 0, result.tail
    path.write_bytes(with_movie_duration(honest.read_bytes(), CLAIMED))
    honest.unlink()
    return path


def zoom_file(file_id: str, offset: float) -> RecordingFile:
    start = T0 + timedelta(seconds=offset)
    return RecordingFile(
        file_id=file_id,
        participant_name=f"Speaker {file_id}",
        recording_start=start,
        recording_end=start + timedelta(seconds=CLAIMED),
        download_url="https://zoom.us/x",
    )


async def loaded(path: Path, file: RecordingFile, *, to_adts: bool) -> Track:
    """The track as the loader makes it: prepared, probed, and checked against its bytes and Zoom's clock."""
    size = path.stat().st_size
    probe, ready, skip = await prepare(path, file.file_id, 60, to_adts=to_adts)
    check_track(file.file_id, probe.codec, size, probe.duration, longest_mix([file]))
    return Track(file, str(ready), probe.duration, probe.sample_rate, skip_samples=skip)


@pytest.mark.parametrize("to_adts", [False, True], ids=["mp4-mixed-as-it-is", "mp4-copied-to-adts"])
@pytest.mark.parametrize("fmt", ["flac", "opus"])
async def test_a_track_claiming_less_than_it_holds_does_not_lengthen_the_mix_past_the_checked_plan(
    tmp_path: Path, to_adts: bool, fmt: OutputFormat
) -> None:
    files = [zoom_file("a", 0.0), zoom_file("b", 0.5)]
    tracks = [
        await loaded(await lying_track(tmp_path / f"{i:04d}.m4a", 300 + 200 * i), f, to_adts=to_adts)
        for i, f in enumerate(files)
    ]
    assert [t.duration for t in tracks] == [CLAIMED, CLAIMED]  # the claim is what ffprobe reports
    for plan in (plan_mix(tracks[:1], max_channels=8), plan_mix(tracks, max_channels=8)):
        check_plan(plan, longest_mix(files))  # the plan passes every bound
        output = tmp_path / f"mixed-{len(plan.channels)}.{fmt}"
        args = merge_args(plan, output, fmt, sample_rate=32000, silence=SilenceSettings())
        result = await run_tool(args, timeout=120)
        assert result.returncode == 0, result.tail
        mixed = await probe_file(output, "mixed", 60)
        # Before the fix: 20.0 s, the frames' length, not the plan's.
        assert mixed.duration == pytest.approx(plan.total_seconds, abs=0.05), (plan.total_seconds, mixed.duration)


async def test_the_talk_time_analysis_of_the_meeting_covers_the_plan_and_no_more(tmp_path: Path) -> None:
    file = zoom_file("a", 0.0)
    track = await loaded(await lying_track(tmp_path / "0000.m4a"), file, to_adts=False)
    plan = plan_mix([track], max_channels=8)
    lines: list[str] = []
    args = analysis_args(plan, sample_rate=32000, silence=SilenceSettings())
    result = await run_tool(args, timeout=120, on_line=lines.append)
    assert result.returncode == 0, result.tail
    # ffmpeg's last progress line names the time it reached; before the fix 00:00:20.00.
    reached = [line for line in lines if "time=" in line][-1]
    assert "time=00:00:02.00" in reached, reached


async def test_a_tracks_own_talk_time_run_decodes_its_checked_length_and_no_more(tmp_path: Path) -> None:
    """Above max_channels each track's talk time is measured alone, while the others download."""
    track = await loaded(await lying_track(tmp_path / "0000.m4a"), zoom_file("a", 0.0), to_adts=False)
    lines: list[str] = []
    args = talk_args(
        Path(track.path), skip_samples=track.skip_samples, silence=SilenceSettings(), duration=track.duration
    )
    result = await run_tool(args, timeout=120, on_line=lines.append)
    assert result.returncode == 0, result.tail
    reached = [line for line in lines if "time=" in line][-1]
    assert "time=00:00:02.00" in reached, reached  # before: 00:00:20, every frame the file held


HOSTILE = "x'; [a]amix,-i;file:/etc/passwd\\:\n-metadata"


def test_no_zoom_string_reaches_an_ffmpeg_argument() -> None:
    # Passes on the code as it was: names, e-mails, file ids and types never enter a command; kept as a guard.
    file = RecordingFile(
        file_id=f"-{HOSTILE}",
        participant_name=HOSTILE,
        participant_email=f"{HOSTILE}@example.com",
        file_type="M4A;[a]amix,",
        file_extension="m4a:x'\\",
        recording_start=T0,
        download_url="https://zoom.us/x",
    )
    assert extension(file) == "bin"  # the scratch file is 0000.bin: an index and a checked extension
    track = Track(file, f"/scratch/meeting-1/0000.{extension(file)}", 3.0)
    plan = plan_mix([track, track], max_channels=8)
    commands = [
        merge_args(plan, Path("/scratch/meeting-1/mixed.flac"), "flac", sample_rate=32000, silence=SilenceSettings()),
        analysis_args(plan, sample_rate=32000, silence=SilenceSettings()),
    ]
    for args in commands:
        assert not [arg for arg in args if any(part in arg for part in ("passwd", "amix,", "example.com", "x'"))]
