"""Speaker analytics from silencedetect reports: parsing and interval arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_mixer.analytics import (
    SilenceLog,
    complement,
    first_sound,
    intersection_length,
    overlapping,
    speaker_stats,
)

REPORT = """\
[silencedetect @ 0x55] channel: 1 | silence_start: 0
[silencedetect @ 0x55] channel: 0 | silence_start: 2.99994
[silencedetect @ 0x55] channel: 1 | silence_end: 1.00006 | silence_duration: 1.00006
[aac @ 0x66] something unrelated: 12
[silencedetect @ 0x55] channel: 2 | silence_start: 0
[silencedetect @ 0x55] channel: 1 | silence_start: 4.5
[silencedetect @ 0x55] channel: 0 | silence_end: 6 | silence_duration: 3.00006
"""


def test_silences_are_collected_per_channel_and_an_open_one_runs_to_the_end() -> None:
    log = SilenceLog(channels=4)
    for line in REPORT.splitlines():
        log.feed(line)
    silences = log.silences(6.0)
    assert silences[0] == [(2.99994, 6.0)]
    assert silences[1] == [(0.0, 1.00006), (4.5, 6.0)]
    assert silences[2] == [(0.0, 6.0)]
    assert silences[3] == []
    assert first_sound(silences[1]) == pytest.approx(1.00006)
    assert first_sound(silences[0]) == 0.0


def test_stats_of_two_speakers_who_overlap_for_one_second() -> None:
    # A talks 0-4, B talks 3-6, the meeting lasts 10 s.
    stats = speaker_stats([[(4.0, 10.0)], [(0.0, 3.0), (6.0, 10.0)]], 10.0)
    a, b = stats
    assert (a.channel, a.talk_seconds, a.silence_ratio, a.longest_silence_seconds) == (1, 4.0, 0.6, 6.0)
    assert a.talk_over_ratio == pytest.approx(0.25)
    assert (b.channel, b.talk_seconds, b.longest_silence_seconds) == (2, 3.0, 4.0)
    assert b.talk_over_ratio == pytest.approx(1 / 3, abs=1e-4)


def test_a_silent_channel_has_no_talk_and_no_talk_over() -> None:
    [quiet] = speaker_stats([[(0.0, 5.0)]], 5.0)
    assert (quiet.talk_seconds, quiet.silence_ratio, quiet.talk_over_ratio, quiet.longest_silence_seconds) == (
        0.0,
        1.0,
        0.0,
        5.0,
    )


def test_three_speakers_at_once_count_once() -> None:
    assert overlapping([[(0, 4)], [(1, 3)], [(2, 5)]]) == [(1, 4)]
    assert overlapping([[(0, 1)], [(1, 2)]]) == []


intervals = st.lists(
    st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 20, allow_nan=False)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=8,
)


@given(st.lists(intervals, min_size=1, max_size=5), st.floats(1, 150, allow_nan=False))
def test_talk_and_silence_always_add_up_to_the_meeting(
    silences: list[list[tuple[float, float]]], duration: float
) -> None:
    log = SilenceLog(channels=len(silences))
    for channel, spans in enumerate(silences):
        for start, end in spans:
            log.feed(f"channel: {channel} | silence_start: {start}")
            log.feed(f"channel: {channel} | silence_end: {end} | silence_duration: {end - start}")
    for stats in speaker_stats(log.silences(duration), duration):
        # Seconds are rounded to milliseconds, ratios to 1e-4.
        assert 0 <= stats.talk_seconds <= duration + 0.001
        assert stats.talk_seconds + stats.silence_ratio * duration == pytest.approx(duration, abs=0.02)
        assert 0 <= stats.talk_over_ratio <= 1
        assert stats.longest_silence_seconds <= duration + 0.001


@given(intervals, intervals)
def test_intersection_is_symmetric_and_bounded(
    left: list[tuple[float, float]], right: list[tuple[float, float]]
) -> None:
    a, b = complement(complement(left, 200), 200), complement(complement(right, 200), 200)
    both = intersection_length(a, b)
    assert both == pytest.approx(intersection_length(b, a))
    assert both <= min(sum(y - x for x, y in a), sum(y - x for x, y in b)) + 1e-6
