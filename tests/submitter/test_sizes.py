"""Sizes the real services accept: long meetings with many speakers, planned within the providers' limits.

No audio is generated: the mixer's format choice and the split planner are pure, and the file sizes
come from the worst case measured in docs/audio-format.md (bench/bench_audio_format.py: every channel
busy for the whole meeting), per hour and channel of each format. Sizes grow linearly with duration
and channels, so a part's size is the meeting's size times its share of the duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import AnyHttpUrl
from zoomsymbl_common.events import AudioMixed
from zoomsymbl_common.providers.assemblyai import ASSEMBLYAI_LIMITS
from zoomsymbl_common.providers.base import AudioPath, ProviderLimits
from zoomsymbl_common.providers.symbl import SYMBL_LIMITS
from zoomsymbl_common.settings import InfraSettings
from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.ffmpeg import OutputFormat, resolve_format
from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.parts import Part, PartPlanner, SplitSettings
from zoomsymbl_submitter.splitting import Span, choose_cut, cut_windows, part_count, spans

from tests.submitter.support import audio_mixed

HOUR = 3600.0
RATE = 32_000  # Zoom's participant tracks; the mixer keeps their rate
# Measured on Debian's ffmpeg 5.1 (docs/audio-format.md), rounded up.
WORST_BYTES_PER_HOUR_PER_CHANNEL: dict[OutputFormat, int] = {
    "opus": 16_500_000,  # every channel talking all the time (espeak-ng speech): 16.34 MB
    "flac": 134_200_000,  # every channel pink noise
    "wav": 230_400_000,
}
FLAC_MAX_BYTES = MixConfig(scratch_dir=Path("/unused")).flac_max_bytes
INFRA = InfraSettings()


def mixed_size(fmt: OutputFormat, channels: int, seconds: float) -> int:
    return round(WORST_BYTES_PER_HOUR_PER_CHANNEL[fmt] * channels * seconds / HOUR)


def chosen_format(channels: int, seconds: float) -> OutputFormat:
    """What the mixer writes with its defaults (``output_format=auto``)."""
    return resolve_format("auto", channels, seconds=seconds, sample_rate=RATE, flac_max_bytes=FLAC_MAX_BYTES)


def planned_spans(seconds: float, size: int, limits: ProviderLimits, path: AudioPath) -> list[Span]:
    """The planner's parts when no silence is found (every cut at its ideal place)."""
    settings = SplitSettings()
    max_seconds = settings.max_seconds(limits)
    count = part_count(seconds, size, max_seconds, limits.max_bytes(path), settings.margin_seconds)
    windows = cut_windows(seconds, count, max_seconds, settings.margin_seconds, settings.search_seconds)
    return spans(seconds, [choose_cut(window, []) for window in windows])


def assert_within(parts: Sequence[Span], size: int, seconds: float, limits: ProviderLimits, path: AudioPath) -> None:
    assert sum(part.duration for part in parts) == pytest.approx(seconds)
    for part in parts:
        assert part.duration <= limits.max_file_seconds
        assert size * part.duration / seconds <= limits.max_bytes(path)


class SizedAudio(AudioSource):
    """An audio source whose mixed file has a given size (no S3): enough for plans of one part."""

    def __init__(self, size: int, public_endpoint: str | None) -> None:
        super().__init__(INFRA, public_endpoint=AnyHttpUrl(public_endpoint) if public_endpoint else None)
        self._size = size

    async def size(self, bucket: str, key: str) -> int:
        return self._size


async def no_stored_plan(event: AudioMixed, count: int) -> list[Part] | None:
    raise AssertionError("a file within the limits has no split plan")


async def no_saved_plan(event: AudioMixed, parts: list[Part], planned: int) -> None:
    raise AssertionError("a file within the limits is not split")


async def plan_whole(size: int, seconds: float, channels: int, fmt: OutputFormat, public: str | None) -> list[Part]:
    event = audio_mixed(1, INFRA, "mixed/acme/long.opus", size, duration=seconds, format=fmt, channels=channels)
    planner = PartPlanner(SizedAudio(size, public), (no_stored_plan, no_saved_plan), SplitSettings())
    return await planner.parts(event, ASSEMBLYAI_LIMITS)


@pytest.mark.parametrize(("path", "public"), [("upload", None), ("url", "https://s3.example.com")])
async def test_a_ten_speaker_eight_hour_meeting_is_planned_within_every_limit_of_assemblyai(
    path: AudioPath, public: str | None
) -> None:
    seconds, channels = 8 * HOUR, 10
    fmt = chosen_format(channels, seconds)
    size = mixed_size(fmt, channels, seconds)
    assert fmt == "opus"  # FLAC stops at 8 channels; WAV would be 18.4 GB
    assert size == 1_320_000_000

    parts = await plan_whole(size, seconds, channels, fmt, public)

    assert [(p.index, p.count, p.size_bytes, p.duration_seconds) for p in parts] == [(0, 1, size, seconds)]
    assert_within([Span(0.0, seconds)], size, seconds, ASSEMBLYAI_LIMITS, path)


async def test_thirty_two_speakers_for_eight_hours_go_whole_by_url() -> None:
    seconds, channels = 8 * HOUR, 32
    fmt = chosen_format(channels, seconds)
    size = mixed_size(fmt, channels, seconds)
    assert (fmt, size) == ("opus", 4_224_000_000)  # over the 2.2 GB of an upload, within the 5 GB of a URL

    parts = await plan_whole(size, seconds, channels, fmt, "https://s3.example.com")

    assert len(parts) == 1
    assert_within([Span(0.0, seconds)], size, seconds, ASSEMBLYAI_LIMITS, "url")


def test_thirty_two_speakers_for_eight_hours_are_uploaded_in_three_parts_within_the_limits() -> None:
    seconds, size = 8 * HOUR, mixed_size("opus", 32, 8 * HOUR)
    parts = planned_spans(seconds, size, ASSEMBLYAI_LIMITS, "upload")
    assert len(parts) == 3
    assert_within(parts, size, seconds, ASSEMBLYAI_LIMITS, "upload")


def test_the_old_single_limit_would_have_uploaded_too_much() -> None:
    """2.5 GB fit the 5 GiB the submitter used for both paths; an upload takes 2.2 GB."""
    assert part_count(HOUR, 2_500_000_000, 10 * HOUR, ASSEMBLYAI_LIMITS.max_bytes("upload")) == 2
    assert part_count(HOUR, 2_500_000_000, 10 * HOUR, ASSEMBLYAI_LIMITS.max_bytes("url")) == 1


@pytest.mark.parametrize(
    ("channels", "hours", "fmt"),
    [
        (1, 8, "flac"),
        (1, 10, "opus"),
        (3, 3, "flac"),
        (3, 4, "opus"),
        (8, 1, "flac"),
        (8, 2, "opus"),
        (9, 0.5, "opus"),
        (64, 10, "opus"),
    ],
)
def test_auto_keeps_flac_only_while_it_surely_fits_one_upload(channels: int, hours: float, fmt: str) -> None:
    chosen = chosen_format(channels, hours * HOUR)
    assert chosen == fmt
    if chosen == "flac":
        assert mixed_size("wav", channels, hours * HOUR) <= ASSEMBLYAI_LIMITS.max_upload_bytes  # even uncompressed


@pytest.mark.parametrize("channels", [1, 2, 8, 10, 16, 32, 64])
@pytest.mark.parametrize("path", ["upload", "url"])
def test_every_meeting_up_to_ten_hours_is_planned_within_assemblyais_limits(channels: int, path: AudioPath) -> None:
    for hours in (0.5, 1, 2, 4, 8, 10):
        seconds = hours * HOUR
        size = mixed_size(chosen_format(channels, seconds), channels, seconds)
        assert_within(planned_spans(seconds, size, ASSEMBLYAI_LIMITS, path), size, seconds, ASSEMBLYAI_LIMITS, path)


def test_symbl_gets_parts_of_at_most_four_hours() -> None:
    # A Symbl tenant's file is mixed down to one FLAC channel first (downmix.py).
    seconds = 8 * HOUR
    size = mixed_size("flac", 1, seconds)
    parts = planned_spans(seconds, size, SYMBL_LIMITS, "upload")
    assert len(parts) == 3
    assert_within(parts, size, seconds, SYMBL_LIMITS, "upload")
    assert max(part.duration for part in parts) <= 4 * HOUR - SplitSettings().margin_seconds


def test_the_limits_are_the_documented_ones() -> None:
    assert ASSEMBLYAI_LIMITS.max_bytes("upload") == 2_200_000_000
    assert ASSEMBLYAI_LIMITS.max_bytes("url") == 5_000_000_000
    assert ASSEMBLYAI_LIMITS.max_file_seconds == 10 * HOUR
    assert SYMBL_LIMITS.max_file_seconds == 4 * HOUR
