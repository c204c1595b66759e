"""Splitting a file longer than the provider accepts into parts cut at silences. Pure.

The number of parts depends only on the duration, the size and the limits, so the submission keys
of every part are known before any audio is read. Each cut is searched for within a window around
its ideal position (equal parts) small enough that no part can exceed the limit, and placed in the
middle of the longest silence found there (nearest to the ideal on a tie); without a silence the cut
falls at the ideal position.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from zoomsymbl_common.events import AudioFormat
from zoomsymbl_common.media_tools import MIXED_AUDIO, input_guard

_SILENCE = re.compile(r"(?:channel:\s*(?P<channel>\d+)\s*\|\s*)?silence_(?P<kind>start|end):\s*(?P<at>-?[0-9.]+)")
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
OPUS_BITS_PER_CHANNEL = 32_000
"""The mixer's default Opus rate per channel: a re-encoded Opus part gets no less."""
OPUS_MAX_BITS_PER_CHANNEL = 256_000


DECODE_CPU_PER_CHANNEL_HOUR: dict[AudioFormat, float] = {"opus": 10.5, "flac": 0.9, "m4a": 10.5, "wav": 0.1}
"""CPU seconds ffmpeg spends decoding one channel-hour of a mixed file and encoding it again, measured for Opus and
FLAC parts by ``bench/bench_split.py`` (2026-12-05, Xeon: 10.3–10.7 and 0.85–0.87; 70 % of Opus's is its decoder).
AAC (``m4a``) is taken as Opus (not measured), WAV as nearly nothing. One ffmpeg decodes on one core."""
RUN_BUDGET_FACTOR = 4.0
"""How many times its measured CPU one ffmpeg run may take before it is stopped (a busy or slower core)."""


def run_timeout(floor: float, audio_format: AudioFormat, channels: int, seconds: float) -> float:
    """The timeout of one ffmpeg run that decodes ``seconds`` of a ``channels``-channel file: ``floor`` (the
    ``ffmpeg_timeout_seconds`` setting), or :data:`RUN_BUDGET_FACTOR` × its measured CPU when that is longer.

    A fixed timeout sized for a stream copy stopped every re-encoded part of a long meeting with many channels (a
    10-hour Opus part of 64 channels needs ~6,700 s of CPU): each attempt split from the start, then the meeting
    was dead-lettered.
    """
    hours = max(seconds, 0.0) / 3600 * channels
    return max(floor, RUN_BUDGET_FACTOR * DECODE_CPU_PER_CHANNEL_HOUR[audio_format] * hours)


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
    # A part spans at most even + 2 * half, which must stay within the usable length; and neighbouring
    # windows must not overlap, or two cuts could fall in the same silence and make one part fewer than
    # ``count`` (the count every part carries, that the notifier waits for).
    half = max(0.0, min(search, (usable - even) / 2, even / 2))
    return [Window(k, k * even, max(0.0, k * even - half), min(duration, k * even + half)) for k in range(1, count)]


def silence_lines(into: list[str]) -> Callable[[str], None]:
    """An ``on_line`` for ``run_tool`` that keeps silencedetect's reports in ``into`` (the rest of stderr is noise)."""

    def keep(line: str) -> None:
        if "silence_" in line:
            into.append(line)

    return keep


def parse_silences(stderr: str, window: Window, channels: int = 1) -> list[tuple[float, float]]:
    """silencedetect output (times relative to the window's start, one report per channel) → the absolute
    stretches inside the window where all ``channels`` channels are silent at once."""
    found: dict[int, list[tuple[float, float]]] = {}
    open_at: dict[int, float] = {}
    for line in stderr.splitlines():
        if (report := _SILENCE.search(line)) is None:
            continue
        channel, at = int(report["channel"] or 0), float(report["at"])
        if report["kind"] == "start":
            open_at[channel] = max(0.0, at)
        elif channel in open_at:
            found.setdefault(channel, []).append((window.start + open_at.pop(channel), window.start + at))
    for channel, at in open_at.items():
        found.setdefault(channel, []).append((window.start + at, window.end))
    common = [(window.start, window.end)]
    for channel in range(channels):
        common = _overlap(common, found.get(channel, []))
    return [(max(a, window.start), min(b, window.end)) for a, b in common if min(b, window.end) > max(a, window.start)]


def _overlap(these: list[tuple[float, float]], those: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where a stretch of ``these`` and one of ``those`` overlap (both in time order: one pass)."""
    both: list[tuple[float, float]] = []
    i = j = 0
    while i < len(these) and j < len(those):
        (a, b), (c, d) = these[i], those[j]
        if min(b, d) > max(a, c):
            both.append((max(a, c), min(b, d)))
        if b < d:
            i += 1
        else:
            j += 1
    return both


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


def cut_tag(input_hash: str, generation: int, offsets: Sequence[float]) -> str:
    """``cut-{digest}``: the parts of one cut of one input and generation (every part's offset, so their count too).

    Parts whose keys carry no such tag (``{stem}.part{N}.{ext}``, cut by earlier releases) were cut again into the
    same keys by a forced replay, a new mix or a second delivery under other limits, overwriting the audio that an
    earlier plan's jobs still fetch. A tag names the cut: the same cut of the same file is the same bytes, another one
    goes to other keys.
    """
    text = "\n".join([input_hash, str(generation), *(f"{offset:.3f}" for offset in offsets)])
    return f"cut-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def part_object_key(object_key: str, index: int, audio_format: AudioFormat, tag: str | None = None) -> str:
    """``{stem}.{tag}.part{N}.{ext}`` (N from 1) next to ``object_key`` (``mixed/{tenant}/{meeting_key}.{ext}``
    or its mono mix); without ``tag`` the key of a part cut before tags (:func:`cut_tag`): ``{stem}.part{N}.{ext}``."""
    path = PurePosixPath(object_key)
    stem = str(path.with_suffix("")) if path.suffix else object_key
    middle = f".{tag}" if tag else ""
    return f"{stem}{middle}.part{index + 1}.{EXTENSIONS[audio_format]}"


def plan_object_keys(object_key: str, audio_format: AudioFormat, count: int, tag: str | None = None) -> list[str]:
    """The objects a plan of ``count`` parts of ``object_key`` submits: the file itself, or its parts."""
    if count == 1:
        return [object_key]
    return [part_object_key(object_key, index, audio_format, tag) for index in range(count)]


def silencedetect_args(path: str, window: Window, noise_db: float = -35.0) -> list[str]:
    """ffmpeg arguments that print the silences of ``window`` on stderr, channel by channel (for
    :func:`parse_silences` to intersect)."""
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info",
        "-ss", f"{window.start:.3f}", "-t", f"{window.end - window.start:.3f}", *input_guard(MIXED_AUDIO), "-i", path,
        "-map", "0:a:0", "-af", silence_filter(noise_db),
        "-f", "null", "-",
    ]  # fmt: skip


def silence_filter(noise_db: float = -35.0) -> str:
    """silencedetect per channel (``mono=1``): a cut must be silent on every channel.

    Not on their sum: every participant's faint noise floor adds to it, so a meeting of a dozen quiet
    rooms (each far below the threshold) has no silence at all summed, and every cut fell mid-word.
    """
    return f"silencedetect=noise={noise_db}dB:d={MIN_SILENCE_SECONDS}:mono=1"


def part_codec(audio_format: AudioFormat, channels: int, size_bytes: int, duration: float) -> list[str]:
    """How ffmpeg writes a part of a ``size_bytes``, ``duration``-second file: encoded again where a copy would
    not start at the cut (FLAC; Opus only when :mod:`ogg_opus` cannot copy its packets behind a pre-skip, which
    it does for every file the mixer writes), else copied.

    A stream copy starts at the seek point before the cut: a FLAC frame (4,608 samples at 48 kHz: 96 ms)
    or an Ogg page (up to 1 s). That audio, which the part before holds too, would come first in the part and
    every time in the part would be late by as much. Decoding from the cut is exact to the sample; FLAC
    stays lossless, and Opus is encoded at the file's average rate, at least the mixer's default
    (complexity 0, as the mixer does). WAV (every sample a seek point) and MP4 (an edit list trims the
    first packet) copy exactly.
    """
    if audio_format == "flac":
        return ["-c:a", "flac", "-f", "flac"]
    if audio_format == "opus":
        average = round(size_bytes * 8 / duration) if duration > 0 else 0
        rate = min(channels * OPUS_MAX_BITS_PER_CHANNEL, max(average, channels * OPUS_BITS_PER_CHANNEL))
        return [
            "-c:a", "libopus", "-mapping_family", "255", "-b:a", str(rate), "-compression_level", "0", "-f", "opus",
        ]  # fmt: skip
    return ["-c", "copy"]


def cut_args(source: str, target: str, span: Span, codec: Sequence[str] = ("-c", "copy")) -> list[str]:
    """ffmpeg arguments that write ``span`` of ``source`` into ``target`` with ``codec`` (:func:`part_codec`).

    ``-ss`` and ``-t`` are input options: ffmpeg seeks to the cut and, when it decodes, drops what lies
    before it and stops at the end, so a re-encoded part holds exactly the span.
    """
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-ss", f"{span.offset:.3f}", "-t", f"{span.duration:.3f}", *input_guard(MIXED_AUDIO), "-i", source,
        "-map", "0:a", *codec, target,
    ]  # fmt: skip
