"""Audio the Zoom sandbox generates: format, lead-in, alignment, caching, long synthetic tracks."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from zoomsymbl_sandbox.zoom_audio import LEAD_IN_S, SYNTHETIC_CYCLE_S, generate_meeting_media, talk_window
from zoomsymbl_sandbox.zoom_specs import long_meeting_spec, typical_meeting_spec
from zoomsymbl_sandbox.zoom_subprocess import run_tool

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "zoom-sandbox"


async def _probe(path: Path) -> dict[str, Any]:
    out = await run_tool(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,profile,sample_rate,channels,codec_type:format=duration,format_name",
            "-of",
            "json",
            str(path),
        ],
        timeout=30,
    )
    parsed: dict[str, Any] = json.loads(out)
    return parsed


async def _sound_starts(path: Path) -> list[float]:
    """Times at which sound resumes after at least 0.3 s of silence (ffmpeg silencedetect)."""
    args = [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        "-af",
        "silencedetect=n=-40dB:d=0.3",
        "-f",
        "null",
        "-",
    ]
    # silencedetect reports on stderr, which run_tool does not return.
    done = await asyncio.to_thread(subprocess.run, args, capture_output=True, timeout=60, check=True)
    return [float(v) for v in re.findall(rb"silence_end: ([0-9.]+)", done.stderr)]


async def test_participant_track_is_aac_lc_32k_mono_of_its_duration() -> None:
    spec = typical_meeting_spec()
    media = await generate_meeting_media(spec, CACHE)
    for track, participant in zip(media.tracks, spec.participants, strict=True):
        probe = await _probe(track.path)
        (stream,) = probe["streams"]
        assert (stream["codec_name"], stream["profile"]) == ("aac", "LC")
        assert (stream["sample_rate"], stream["channels"]) == ("32000", 1)
        assert float(probe["format"]["duration"]) == pytest.approx(participant.duration_s, abs=0.05)
        assert track.size == track.path.stat().st_size


async def test_each_track_starts_speaking_after_the_documented_lead_in() -> None:
    media = await generate_meeting_media(typical_meeting_spec(), CACHE)
    for track in media.tracks:
        starts = await _sound_starts(track.path)
        assert starts[0] == pytest.approx(LEAD_IN_S, abs=0.05)


async def test_mix_places_each_speaker_at_its_join_time() -> None:
    spec = typical_meeting_spec()
    media = await generate_meeting_media(spec, CACHE)
    probe = await _probe(media.mix.path)
    assert (probe["streams"][0]["sample_rate"], probe["streams"][0]["channels"]) == ("32000", 1)
    assert float(probe["format"]["duration"]) == pytest.approx(spec.total_duration_s, abs=0.05)
    starts = await _sound_starts(media.mix.path)
    for participant in spec.participants:
        expected = participant.start_offset_s + LEAD_IN_S
        assert any(abs(s - expected) < 0.05 for s in starts), (participant.name, starts)


async def test_video_is_an_mp4_with_video_and_audio() -> None:
    media = await generate_meeting_media(typical_meeting_spec(), CACHE)
    assert media.video is not None
    probe = await _probe(media.video.path)
    assert {s["codec_type"] for s in probe["streams"]} == {"video", "audio"}
    assert "mp4" in probe["format"]["format_name"]


async def test_generation_is_cached_by_content(tmp_path: Path) -> None:
    spec = typical_meeting_spec()
    first = await generate_meeting_media(spec, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = await generate_meeting_media(spec, tmp_path)
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


async def test_long_synthetic_meeting_has_full_length_tracks() -> None:
    spec = long_meeting_spec("benchmarkMeeting000000==", hours=0.25)
    media = await generate_meeting_media(spec, CACHE)
    for track in (*media.tracks, media.mix):
        probe = await _probe(track.path)
        assert (probe["streams"][0]["codec_name"], probe["streams"][0]["sample_rate"]) == ("aac", "32000")
        assert float(probe["format"]["duration"]) == pytest.approx(900, abs=0.1)
    # Participant 2 of 3 talks in the middle third of each 60 s cycle, on every cycle.
    starts = await _sound_starts(media.tracks[1].path)
    assert any(abs(s - (20.5 + 14 * 60)) < 0.2 for s in starts), starts[-5:]


@pytest.mark.parametrize("participants", [3, 8, 29, 30, 64])
def test_every_participant_of_a_synthetic_meeting_talks_in_its_own_slot(participants: int) -> None:
    windows = [talk_window(i, participants) for i in range(participants)]
    slot = SYNTHETIC_CYCLE_S / participants
    for index, (start, end) in enumerate(windows):
        assert index * slot <= start < end <= (index + 1) * slot
        assert end - start >= min(slot / 2, slot - 2.0)


async def test_a_synthetic_meeting_of_64_participants_is_not_silent(tmp_path: Path) -> None:
    """At 30 participants and more every track was digital silence: the growth benchmarks mixed nothing."""
    spec = long_meeting_spec("manySpeakers0000000==", hours=60 / 3600, participants=64)
    media = await generate_meeting_media(spec, tmp_path)
    for track in (media.tracks[0], media.tracks[40], media.tracks[63]):
        args = ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(track.path), "-af", "volumedetect", "-f", "null", "-"]
        done = await asyncio.to_thread(subprocess.run, args, capture_output=True, timeout=60, check=True)
        (peak,) = re.findall(rb"max_volume: (-?[0-9.]+|-inf) dB", done.stderr)
        assert peak != b"-inf" and float(peak) > -30, (track.path.name, peak)
