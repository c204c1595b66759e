"""Splitting a file longer than the provider accepts into parts cut at silences. Pure.

The number of parts depends only on the duration, the size and the limits, so the submission keys
of every part are known before any audio is read. Each cut is searched for within a window around
its ideal position (equal parts) small enough that no part can exceed the limit, and placed in the
middle of the longest silence found there (nearest to the ideal on a tie); without a silence the cut
falls at the ideal position.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from zoomsymbl_common.events import AudioFormat
from zoomsymbl_common.media_tools import MIXED_AUDIO, input_guard

_SILENCE_START = re.compile(r"silence_start:\s*(-?[0-9.]+)")
_SILENCE_END = re.compile(r"silence_end:\s*(-?[0-9.]+)")
EXTENSIONS: dict[AudioFormat, str] = {"flac": "flac", "wav": "wav", "opus": "opus", "m4a": "m4a"}
CONTENT_TYPES: dict[AudioFormat, str] = {
    "flac": "audio/flac",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
}
SIZE_HEADROOM = 0.9
"""Parts are planned at this share of the size limit: cuts fall at silences, not at equal sizes."""
MIN_SILENCE_SECONDS = 0.3


@dataclass(frozen=True)
class Window:
    """Where to look for cut number ``index`` (1-based): around ``ideal``, within [start, end]."""

    index: int
    ideal: float
    start: float
    end: float


@dataclass(frozen=True)
class Span:
    """One part of the meeting: where it starts and how long it lasts, in seconds."""

    offset: float
    duration: float


def part_count(
    duration: float, size_bytes: int, max_seconds: float, max_bytes: int, margin_seconds: float = 120.0
) -> int:
    """How many parts ``duration`` seconds / ``size_bytes`` bytes need; 1 when within both limits."""
    if duration <= max_seconds and size_bytes <= max_bytes:
        return 1
    usable = max(max_seconds - margin_seconds, max_seconds * 0.5)
    by_time = math.ceil(duration / usable)
    by_size = math.ceil(size_bytes / (max_bytes * SIZE_HEADROOM))
    return max(2, by_time, by_size)


def recount(count: int, largest_bytes: int, max_bytes: int) -> int:
    """More parts after a cut into ``count`` left a part of ``largest_bytes`` over ``max_bytes``."""
    # That part is denser than the average: plan as if every part were as dense as it.
    return max(count + 1, math.ceil(count * largest_bytes / (max_bytes * SIZE_HEADROOM)))


def cut_windows(duration: float, count: int, max_seconds: float, margin: float, search: float) -> list[Window]:
    """The ``count - 1`` windows in which cuts may fall so that every part stays under the limit."""
    if count < 2:
        return []
    even = duration / count
    usable = max(max_seconds - margin, max_seconds * 0.5)
    # A part spans at most even + 2 * half, which must stay within the usable length.
    half = max(0.0, min(search, (usable - even) / 2))
    return [Window(k, k * even, max(0.0, k * even - half), min(duration, k * even + half)) for k in range(1, count)]


def silence_lines(into: list[str]) -> Callable[[str], None]:
    """An ``on_line`` for ``run_tool`` that keeps silencedetect's reports in ``into`` (the rest of stderr is noise)."""

    def keep(line: str) -> None:
        if "silence_" in line:
            into.append(line)

    return keep


def parse_silences(stderr: str, window: Window) -> list[tuple[float, float]]:
    """silencedetect output (times relative to the window's start) → absolute silences inside it."""
    silences: list[tuple[float, float]] = []
    start: float | None = None
    for line in stderr.splitlines():
        if (found := _SILENCE_START.search(line)) is not None:
            start = max(0.0, float(found.group(1)))
        elif (found := _SILENCE_END.search(line)) is not None and start is not None:
            silences.append((window.start + start, window.start + float(found.group(1))))
            start = None
    if start is not None:
        silences.append((window.start + start, window.end))
    return [(max(a, window.start), min(b, window.end)) for a, b in silences if b > a]


def choose_cut(window: Window, silences: list[tuple[float, float]]) -> float:
    """The middle of the longest silence in ``window`` (nearest to the ideal on a tie), else the ideal."""
    usable = [(a, b) for a, b in silences if b - a >= MIN_SILENCE_SECONDS]
    if not usable:
        return window.ideal
    best = max(usable, key=lambda s: (round(s[1] - s[0], 3), -abs((s[0] + s[1]) / 2 - window.ideal)))
    return round((best[0] + best[1]) / 2, 3)


def spans(duration: float, cuts: list[float]) -> list[Span]:
    """The parts between consecutive cuts."""
    # Round the edges, not the lengths, so the parts add up to the whole.
    edges = [round(edge, 3) for edge in (0.0, *sorted(cuts), duration)]
    return [Span(a, round(b - a, 3)) for a, b in itertools.pairwise(edges) if b > a]


def part_object_key(object_key: str, index: int, audio_format: AudioFormat) -> str:
    """``mixed/{tenant}/{meeting_key}.part{N}.{ext}`` (N from 1) next to ``object_key``."""
    path = PurePosixPath(object_key)
    stem = str(path.with_suffix("")) if path.suffix else object_key
    return f"{stem}.part{index + 1}.{EXTENSIONS[audio_format]}"


def silencedetect_args(path: str, window: Window, channels: int, noise_db: float = -35.0) -> list[str]:
    """ffmpeg arguments that print the silences of ``window`` (all channels silent) on stderr."""
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info",
        "-ss", f"{window.start:.3f}", "-t", f"{window.end - window.start:.3f}", *input_guard(MIXED_AUDIO), "-i", path,
        "-map", "0:a:0", "-af", mono_mix_filter(channels, noise_db),
        "-f", "null", "-",
    ]  # fmt: skip


def mono_mix_filter(channels: int, noise_db: float = -35.0) -> str:
    """A filter that sums every channel before silencedetect: a cut must be silent on all of them."""
    weights = "+".join(f"c{i}" for i in range(channels))
    return f"pan=mono|c0={weights},silencedetect=noise={noise_db}dB:d={MIN_SILENCE_SECONDS}"


def cut_args(source: str, target: str, span: Span) -> list[str]:
    """ffmpeg arguments that copy ``span`` of ``source`` into ``target`` without re-encoding."""
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-ss", f"{span.offset:.3f}", "-t", f"{span.duration:.3f}", *input_guard(MIXED_AUDIO), "-i", source,
        "-map", "0:a", "-c", "copy", target,
    ]  # fmt: skip
