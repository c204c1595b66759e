"""Speaker analytics from ffmpeg's ``silencedetect`` report: pure parsing and interval arithmetic.

The merge run feeds a copy of the joined audio through ``silencedetect=mono=1``, which reports
``channel: k | silence_start: t`` and ``channel: k | silence_end: t`` per channel (0-based). Talk
is the complement of silence within the meeting. Per channel: talk seconds, silence ratio
(silent share of the whole meeting, the time before a late joiner arrived included), talk-over
ratio (share of this channel's talk during which another channel talks too) and the longest
silent stretch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from zoomsymbl_common.events import SpeakerStats

Interval = tuple[float, float]
_LINE = re.compile(r"channel: (\d+) \| silence_(start|end): (-?[0-9.]+(?:e-?\d+)?)")


@dataclass
class SilenceLog:
    """Collects ``silencedetect`` lines of an ffmpeg run, channel by channel."""

    channels: int
    _open: dict[int, float] = field(default_factory=dict)
    _closed: dict[int, list[Interval]] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        """Take one stderr line (other lines are ignored)."""
        match = _LINE.search(line)
        if match is None:
            return
        channel, kind, value = int(match.group(1)), match.group(2), max(0.0, float(match.group(3)))
        if kind == "start":
            self._open[channel] = value
        elif channel in self._open:
            self._closed.setdefault(channel, []).append((self._open.pop(channel), value))

    def silences(self, duration: float) -> list[list[Interval]]:
        """Silent intervals per channel, clipped to ``duration``; a silence still open runs to the end."""
        result: list[list[Interval]] = []
        for channel in range(self.channels):
            spans = list(self._closed.get(channel, []))
            if channel in self._open:
                spans.append((self._open[channel], duration))
            result.append(_clip(spans, duration))
        return result


def _clip(spans: Sequence[Interval], duration: float) -> list[Interval]:
    clipped = sorted((max(0.0, a), min(b, duration)) for a, b in spans)
    return _union([(a, b) for a, b in clipped if b > a])


def _union(spans: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def complement(spans: Sequence[Interval], duration: float) -> list[Interval]:
    """The parts of ``[0, duration]`` not covered by ``spans``."""
    result: list[Interval] = []
    cursor = 0.0
    for a, b in _union(spans):
        if a > cursor:
            result.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < duration:
        result.append((cursor, duration))
    return result


def intersection_length(left: Sequence[Interval], right: Sequence[Interval]) -> float:
    """Total length where both (each non-overlapping and sorted) interval lists are covered."""
    total, i, j = 0.0, 0, 0
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        total += max(0.0, b - a)
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return total


def _length(spans: Sequence[Interval]) -> float:
    return sum(b - a for a, b in spans)


def _ratio(part: float, whole: float) -> float:
    return min(1.0, max(0.0, part / whole)) if whole > 0 else 0.0


def overlapping(talks: Sequence[Sequence[Interval]]) -> list[Interval]:
    """Where at least two channels talk at once (a sweep over every start and end)."""
    edges = sorted((t, step) for spans in talks for a, b in spans for t, step in ((a, 1), (b, -1)))
    result: list[Interval] = []
    active, since = 0, 0.0
    for moment, step in edges:
        # The stretch since the previous edge had `active` speakers.
        if active >= 2 and moment > since:
            result.append((since, moment))
        active += step
        since = moment
    return _union(result)


def speaker_stats(silences: Sequence[Sequence[Interval]], duration: float) -> tuple[SpeakerStats, ...]:
    """Talk analytics per channel (1-based) from each channel's silent intervals."""
    talks = [complement(s, duration) for s in silences]
    crowded = overlapping(talks)
    stats = []
    for index, talk in enumerate(talks):
        talk_seconds = _length(talk)
        quiet = complement(talk, duration)
        stats.append(
            SpeakerStats(
                channel=index + 1,
                talk_seconds=round(talk_seconds, 3),
                silence_ratio=round(_ratio(duration - talk_seconds, duration), 4),
                talk_over_ratio=round(_ratio(intersection_length(talk, crowded), talk_seconds), 4),
                longest_silence_seconds=round(max((b - a for a, b in quiet), default=0.0), 3),
            )
        )
    return tuple(stats)


def first_sound(silences: Sequence[Interval]) -> float:
    """When a channel first makes a sound: the end of a silence that starts at 0, else 0."""
    for a, b in silences:
        if a <= 0.001:
            return b
        break
    return 0.0
