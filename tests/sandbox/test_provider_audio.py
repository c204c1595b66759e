"""Speech segments come from silencedetect output; parsing is pure, the real run uses ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoomsymbl_sandbox.provider_audio import (
    AudioError,
    AudioInfo,
    Segment,
    SilenceSettings,
    detect_speech,
    parse_ffprobe,
    parse_silences,
    probe_audio,
    speech_from_silences,
)
from zoomsymbl_sandbox.provider_testkit import make_tone_audio

STDERR = """
[silencedetect @ 0x55c8] channel: 0 | silence_start: 0
[silencedetect @ 0x55c8] channel: 1 | silence_start: 0
[silencedetect @ 0x55c8] channel: 0 | silence_end: 0.500062 | silence_duration: 0.500062
[silencedetect @ 0x55c8] channel: 0 | silence_start: 1.5
[silencedetect @ 0x55c8] channel: 1 | silence_end: 2.00006 | silence_duration: 2.00006
[silencedetect @ 0x55c8] channel: 1 | silence_start: 3
[silencedetect @ 0x55c8] channel: 0 | silence_end: 3.5 | silence_duration: 2
"""


def test_silences_are_split_per_channel_and_open_ends_kept() -> None:
    assert parse_silences(STDERR) == {0: [(0.0, 0.500062), (1.5, 3.5)], 1: [(0.0, 2.00006), (3.0, None)]}


def test_speech_is_the_complement_of_silence() -> None:
    silences = parse_silences(STDERR)
    assert speech_from_silences(silences[0], 3.5, 1, 0.1) == [Segment(1, 0.5, 1.5)]
    assert speech_from_silences(silences[1], 3.5, 2, 0.1) == [Segment(2, 2.0, 3.0)]
    assert speech_from_silences([], 2.0, 1, 0.1) == [Segment(1, 0.0, 2.0)]  # never silent
    assert speech_from_silences([(0.0, 1.0), (1.05, None)], 2.0, 1, 0.1) == []  # a click is not speech


def test_ffprobe_output_without_audio_is_an_audio_error() -> None:
    assert parse_ffprobe(
        '{"streams":[{"channels":2,"codec_name":"flac","sample_rate":"16000"}],"format":{"duration":"3.5"}}'
    ) == AudioInfo(2, 3.5, "flac", 16000)
    with pytest.raises(AudioError):
        parse_ffprobe('{"streams":[],"format":{}}')


async def test_real_file_segments_per_channel_and_combined(tmp_path: Path) -> None:
    path = make_tone_audio(tmp_path / "a.wav", [[(0.5, 1.5), (2.5, 3.0)], [(2.0, 3.0)]], duration_s=3.5)
    info = await probe_audio(path)
    assert info.channels == 2
    assert info.duration_s == pytest.approx(3.5, abs=0.01)
    segments = await detect_speech(path, info, SilenceSettings(), per_channel=True)
    assert [(s.channel, round(s.start_s, 1), round(s.end_s, 1)) for s in segments] == [
        (1, 0.5, 1.5), (2, 2.0, 3.0), (1, 2.5, 3.0)
    ]  # fmt: skip
    combined = await detect_speech(path, info, SilenceSettings(), per_channel=False)
    assert [(s.channel, round(s.start_s, 1), round(s.end_s, 1)) for s in combined] == [(1, 0.5, 1.5), (1, 2.0, 3.0)]


async def test_undecodable_file_is_an_audio_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(AudioError):
        await probe_audio(junk)
