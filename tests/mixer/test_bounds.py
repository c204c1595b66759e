"""A mix is never longer than its tracks' bytes and Zoom's clock allow, whatever a file's header claims."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_common.errors import RetryableError
from zoomsymbl_common.events import RecordingFile
from zoomsymbl_common.media_tools import ToolResult, run_tool
from zoomsymbl_common.storage_keys import meeting_key
from zoomsymbl_mixer.bounds import (
    MARGIN_SECONDS,
    MAX_MEETING_SECONDS,
    check_plan,
    check_schedule,
    check_track,
    longest_mix,
)
from zoomsymbl_mixer.channels import Track, plan_mix
from zoomsymbl_mixer.errors import MeetingTooLong, TrackInvalid

from tests.mixer.conftest import TYPICAL, Rig

START = datetime(2026, 12, 4, 9, tzinfo=UTC)
MILLION = 1_000_000


def timed(file_id: str, start_s: float | None, end_s: float | None) -> RecordingFile:
    return RecordingFile(
        file_id=file_id,
        download_url=f"https://zoom.us/rec/download/{file_id}",
        recording_start=None if start_s is None else START + timedelta(seconds=start_s),
        recording_end=None if end_s is None else START + timedelta(seconds=end_s),
    )


def with_movie_duration(data: bytes, seconds: int) -> bytes:
    """``data`` (an MP4 with a version-0 ``mvhd``) whose movie header claims ``seconds``; same size."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"moov":
            offset += 8  # into the container: mvhd is its first child
            continue
        if kind == b"mvhd":
            assert data[offset + 8] == 0, "version 0 header expected"
            (timescale,) = struct.unpack(">I", data[offset + 20 : offset + 24])
            patched = struct.pack(">I", seconds * timescale)
            return data[: offset + 24] + patched + data[offset + 28 :]
        offset += size
    raise AssertionError("no mvhd")


# Pure rules.


def test_a_header_claiming_more_than_its_bytes_can_hold_is_an_invalid_track() -> None:
    with pytest.raises(TrackInvalid) as caught:
        check_track("f1", "aac", 9_000, float(MILLION), longest_mix([]))
    assert caught.value.stage == "verify"
    assert caught.value.why == (
        "its header says it lasts 1000000 s, but 9000 bytes of aac hold at most 281 s (implausible length)"
    )
    # Zoom's tracks (32 kHz mono AAC at tens of kbit/s, ~265 B/s even for digital silence) pass.
    check_track("f1", "aac", 16_000, 60.0, longest_mix([]))
    check_track("call", "mp3", 60_453, 60.0, longest_mix([]))


def test_a_track_longer_than_the_meeting_zoom_timed_is_refused_even_when_its_bytes_could_hold_it() -> None:
    files = [timed("a", 0, 600), timed("b", 30, 590)]
    assert longest_mix(files) == 600 + MARGIN_SECONDS
    check_track("a", "aac", 50_000_000, 600 + MARGIN_SECONDS, longest_mix(files))
    with pytest.raises(TrackInvalid, match=r"lasts 7200 s, longer than the meeting zoom recorded allows \(4200 s\)"):
        check_track("a", "aac", 50_000_000, 7200.0, longest_mix(files))


def test_without_zoom_times_a_track_may_last_as_long_as_a_zoom_meeting_and_no_longer() -> None:
    untimed = [timed("a", None, None)]
    assert longest_mix(untimed) == MAX_MEETING_SECONDS + MARGIN_SECONDS
    # Zoom's times beyond 30 h do not raise the cap either.
    assert longest_mix([timed("a", 0, 50 * 3600)]) == MAX_MEETING_SECONDS + MARGIN_SECONDS
    with pytest.raises(TrackInvalid, match="implausible length"):
        check_track("a", "flac", 10**12, 32 * 3600.0, longest_mix(untimed))


def test_zoom_start_times_days_apart_are_refused_even_without_end_times() -> None:
    check_schedule([timed("a", 0, None), timed("b", 2 * 3600, None)])
    check_schedule([timed("a", 0, 30 * 3600)])
    with pytest.raises(MeetingTooLong) as caught:
        check_schedule([timed("a", 0, None), timed("b", 3 * 86400, None)])
    assert caught.value.stage == "verify"
    assert "spread over 72.0 h; a zoom meeting ends after 30.0 h" in caught.value.reason


def test_a_plan_whose_delays_run_past_the_meeting_is_refused() -> None:
    files = [timed("a", 0, None), timed("b", 40 * 3600, None)]
    tracks = [Track(f, f"/scratch/{f.file_id}.m4a", 60.0) for f in files]
    plan = plan_mix(tracks, max_channels=8)
    with pytest.raises(MeetingTooLong, match=r"would last 40\.0 h \(the latest track starts 40\.0 h after the first\)"):
        check_plan(plan, longest_mix(files))
    check_plan(plan_mix(tracks[:1], max_channels=8), longest_mix(files[:1]))


# Whole meetings against the sandbox.


class MergeSpy:
    """Every ffmpeg pass that pads to the plan's end (the merge and the talk-time analysis)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []

        async def spy(args: list[str], **kwargs: Any) -> ToolResult:
            self.calls.append(args)
            return await run_tool(args, **kwargs)

        monkeypatch.setattr("zoomsymbl_mixer.merge.run_tool", spy)


@pytest.mark.integration
@pytest.mark.parametrize("direct_hours", [12.0, 0.0], ids=["mp4-probed-by-ffprobe", "mp4-copied-to-adts"])
async def test_a_track_whose_header_claims_a_million_seconds_fails_the_meeting_before_any_padding(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_hours: float
) -> None:
    event = await rig.event(TYPICAL)
    victim = rig.sandbox.files[event.participant_tracks[1].file_id]
    hostile = tmp_path / "hostile.m4a"
    hostile.write_bytes(with_movie_duration(victim.path.read_bytes(), MILLION))
    rig.sandbox.files[victim.file_id] = dataclasses.replace(victim, path=hostile)  # same size as announced
    merges = MergeSpy(monkeypatch)
    # Before the fix the merge padded every channel to 11 days; the timeout only keeps that run short.
    with pytest.raises(TrackInvalid) as caught:
        await rig.mixer(mp4_direct_track_hours=direct_hours, ffmpeg_timeout=30.0).on_recording_completed(event)
    assert caught.value.file_id == victim.file_id
    assert caught.value.stage == "verify"
    assert f"its header says it lasts {MILLION} s, but {victim.size} bytes of aac" in caught.value.why
    assert merges.calls == [], "no ffmpeg pass padded anything to the claimed length"
    assert rig.published == []
    assert list(rig.scratch.iterdir()) == []
    assert await rig.store.keys(f"mixed/acme/{meeting_key(TYPICAL)}.") == [], "no mixed file of any key"


@pytest.mark.integration
async def test_zoom_start_times_days_apart_fail_the_meeting_before_any_download(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await rig.event(TYPICAL)
    tracks = [f.model_copy(update={"recording_end": None}) for f in event.participant_tracks]
    late = tracks[2].recording_start
    assert late is not None
    tracks[2] = tracks[2].model_copy(update={"recording_start": late + timedelta(days=3)})
    event = event.model_copy(update={"participant_tracks": tuple(tracks)})
    merges = MergeSpy(monkeypatch)
    with pytest.raises(MeetingTooLong) as caught:
        await rig.mixer(ffmpeg_timeout=30.0).on_recording_completed(event)
    assert caught.value.stage == "verify"
    assert "zoom's recording times spread over 72.0 h" in caught.value.reason
    assert rig.downloads() == 0
    assert merges.calls == []
    assert rig.published == []


class Usage:
    def __init__(self, total: int, free: int) -> None:
        self.total, self.used, self.free = total, total - free, free


@pytest.mark.integration
async def test_a_mix_longer_than_zoom_said_is_checked_for_scratch_space_again_before_the_merge(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without end times check_space counts only the tracks (~150 kB, and their copies): 1 MB free passes.
    # The planned mix (3 channels, ~18 s, at worst 16-bit PCM at 48 kHz: ~5 MB) does not fit.
    event = await rig.event(TYPICAL)
    untimed = tuple(f.model_copy(update={"recording_end": None}) for f in event.participant_tracks)
    event = event.model_copy(update={"participant_tracks": untimed})
    real = shutil.disk_usage

    def small(path: Any) -> Any:
        return Usage(total=10**12, free=1_000_000) if str(path).startswith(str(rig.scratch)) else real(path)

    monkeypatch.setattr(shutil, "disk_usage", small)
    merges = MergeSpy(monkeypatch)
    with pytest.raises(RetryableError, match=r"of scratch space; 0\.00 GB free now"):
        await rig.mixer().on_recording_completed(event)
    assert rig.downloads() == 3
    assert merges.calls == []
    assert rig.published == []
