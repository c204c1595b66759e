"""The speaker timeline: one row per participant, their speech segments over the meeting and talk time. Pure.

Segments come from the transcript's utterances (a channel per speaker when the transcript knows it, else the
speaker's name); talk time and the silence and talk-over ratios from what the mixer measured, when it did.
Every step is one pass over sorted spans, so a 4-hour meeting with thousands of utterances stays cheap. The
speakers are bounded too (:data:`MAX_ROWS`): the transcript names them, and a provider's answer is outside input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MERGE_GAP_SECONDS = 1.0
"""Two segments of one speaker closer than this are drawn as one (a breath is not a turn)."""
MAX_SEGMENTS = 1500
"""Most segments drawn per speaker; past it the shortest gaps are closed until it fits."""
MAX_ROWS = 64
"""Most speakers with a row of their own: those with the most talk time; the rest share one "N others" row. As many
as a mix has channels (``MAX_MIX_CHANNELS``); a provider answer naming 50,000 speakers made 50,000 rows (~19 MB of
page beside the transcript's cap), now at most 65 rows of at most :data:`MAX_SEGMENTS` segments."""


@dataclass(frozen=True)
class Segment:
    """A stretch of the meeting one speaker talks in, in seconds from the start."""

    start: float
    end: float


@dataclass(frozen=True)
class Speaker:
    """A participant as the mixer measured them (None: not measured)."""

    name: str
    channel: int | None = None
    talk_seconds: float | None = None
    silence_ratio: float | None = None
    talk_over_ratio: float | None = None


@dataclass(frozen=True)
class Said:
    """One utterance as far as the timeline cares: who (channel or name) and when."""

    speaker: str
    start: float
    end: float
    channel: int | None = None


@dataclass(frozen=True)
class Row:
    """One timeline row."""

    name: str
    segments: tuple[Segment, ...]
    talk_seconds: float
    silence_ratio: float | None = None
    talk_over_ratio: float | None = None
    channel: int | None = None
    first: float | None = field(default=None)


def merge_segments(
    spans: Iterable[tuple[float, float]],
    duration: float,
    *,
    gap: float = MERGE_GAP_SECONDS,
    limit: int = MAX_SEGMENTS,
) -> tuple[Segment, ...]:
    """``spans`` clipped to ``[0, duration]``, sorted, overlapping or nearer than ``gap`` merged, at most ``limit``."""
    clipped = sorted((max(0.0, s), min(duration, e)) for s, e in spans if e > s)
    merged: list[list[float]] = []
    for start, end in clipped:
        if end <= start:
            continue
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if len(merged) > limit:
        merged = _coarsen(merged, limit)
    return tuple(Segment(round(s, 3), round(e, 3)) for s, e in merged)


def _coarsen(merged: list[list[float]], limit: int) -> list[list[float]]:
    # Close the smallest gaps first: keep the (limit - 1) widest gaps as the only breaks.
    gaps = sorted(range(1, len(merged)), key=lambda i: merged[i][0] - merged[i - 1][1], reverse=True)
    breaks = sorted(gaps[: limit - 1])
    result: list[list[float]] = []
    begin = 0
    for index in [*breaks, len(merged)]:
        result.append([merged[begin][0], merged[index - 1][1]])
        begin = index
    return result


def _key(channel: int | None, name: str) -> str:
    return f"c{channel}" if channel is not None else f"n{name.strip().lower()}"


def rows(
    speakers: Sequence[Speaker],
    said: Iterable[Said],
    duration: float,
    *,
    gap: float = MERGE_GAP_SECONDS,
    limit: int = MAX_SEGMENTS,
    max_rows: int = MAX_ROWS,
) -> list[Row]:
    """One row per participant: the measured ``speakers`` first, then anyone only the transcript names; past
    ``max_rows`` participants, the ``max_rows`` with the most talk time (in that order) and one row of the others
    (their talk time summed, their segments merged)."""
    order: dict[str, Speaker] = {}
    by_name: dict[str, str] = {}
    for speaker in speakers:
        key = _key(speaker.channel, speaker.name)
        order.setdefault(key, speaker)
        if speaker.name:
            by_name.setdefault(_key(None, speaker.name), key)
    spans: dict[str, list[tuple[float, float]]] = {key: [] for key in order}
    for item in said:
        key = _key(item.channel, item.speaker)
        if key not in order:
            key = by_name.get(_key(None, item.speaker), key)
        if key not in order:
            order[key] = Speaker(name=item.speaker, channel=item.channel)
            spans[key] = []
            if item.speaker:
                by_name.setdefault(_key(None, item.speaker), key)
        spans[key].append((item.start, item.end))
    merged = {key: merge_segments(spans[key], duration, gap=gap, limit=limit) for key in order}
    talk = {
        key: s.talk_seconds if s.talk_seconds is not None else sum(g.end - g.start for g in merged[key])
        for key, s in order.items()
    }
    others: list[str] = []
    if len(order) > max_rows:
        # sorted() is stable: among equal talk times the earlier participant (a measured one) keeps its row.
        kept = set(sorted(order, key=lambda k: talk[k], reverse=True)[:max_rows])
        others = [key for key in order if key not in kept]
        order = {key: speaker for key, speaker in order.items() if key in kept}
    shown = [
        Row(
            name=speaker.name or (f"Channel {speaker.channel}" if speaker.channel is not None else "Speaker"),
            segments=merged[key],
            talk_seconds=talk[key],
            silence_ratio=speaker.silence_ratio,
            talk_over_ratio=speaker.talk_over_ratio,
            channel=speaker.channel,
            first=merged[key][0].start if merged[key] else None,
        )
        for key, speaker in order.items()
    ]
    return [*shown, _others(others, spans, talk, duration, gap=gap, limit=limit)] if others else shown


def _others(
    keys: Sequence[str],
    spans: dict[str, list[tuple[float, float]]],
    talk: dict[str, float],
    duration: float,
    *,
    gap: float,
    limit: int,
) -> Row:
    """One row for the participants past the bound: their talk time summed, their segments drawn as one track."""
    segments = merge_segments((span for key in keys for span in spans[key]), duration, gap=gap, limit=limit)
    return Row(
        name=f"{len(keys)} other" + ("s" if len(keys) > 1 else ""),
        segments=segments,
        talk_seconds=sum(talk[key] for key in keys),
        first=segments[0].start if segments else None,
    )
