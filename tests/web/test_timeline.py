"""The speaker timeline: segments merged and clipped, one row per participant, talk time (the shares are
``zoomsymbl_common.shares.percentages`` of it: tests/web/test_render.py)."""

from __future__ import annotations

from zoomsymbl_web.timeline import MAX_ROWS, MAX_SEGMENTS, Said, Segment, Speaker, merge_segments, rows


def test_segments_merge_across_short_gaps_and_are_clipped_to_the_meeting() -> None:
    spans = [(5.0, 7.0), (-2.0, 1.0), (7.5, 9.0), (20.0, 25.0), (99.0, 130.0), (3.0, 3.0)]
    assert merge_segments(spans, duration=100.0, gap=1.0) == (
        Segment(0.0, 1.0),
        Segment(5.0, 9.0),
        Segment(20.0, 25.0),
        Segment(99.0, 100.0),
    )


def test_overlapping_segments_become_one() -> None:
    assert merge_segments([(0, 10), (2, 4), (9, 12)], duration=60, gap=0) == (Segment(0, 12),)


def test_segments_past_the_limit_close_the_shortest_gaps_first() -> None:
    spans = [(0, 1), (1.5, 2), (10, 11), (11.2, 12), (30, 31)]
    assert merge_segments(spans, duration=60, gap=0.1, limit=2) == (Segment(0, 12), Segment(30, 31))


def test_rows_follow_the_mixer_speakers_and_match_utterances_by_channel_then_name() -> None:
    speakers = [
        Speaker("Ana", channel=1, talk_seconds=30.0, silence_ratio=0.5, talk_over_ratio=0.1),
        Speaker("Bo", channel=2, talk_seconds=10.0),
    ]
    said = [
        Said("whoever", 0.0, 5.0, channel=1),
        Said("bo", 10.0, 12.0),  # no channel: matched by name, case-insensitively
        Said("Cy", 20.0, 22.0),  # not measured: a row of its own
    ]
    result = rows(speakers, said, duration=60.0)
    assert [r.name for r in result] == ["Ana", "Bo", "Cy"]
    assert result[0].segments == (Segment(0.0, 5.0),)
    assert result[1].segments == (Segment(10.0, 12.0),)
    assert [r.talk_seconds for r in result] == [30.0, 10.0, 2.0]
    assert (result[0].silence_ratio, result[0].talk_over_ratio) == (0.5, 0.1)
    assert result[1].silence_ratio is None


def test_a_silent_participant_keeps_a_row_with_no_talk_time() -> None:
    result = rows([Speaker("", channel=3)], [], duration=10.0)
    assert [(r.name, r.segments, r.talk_seconds) for r in result] == [("Channel 3", (), 0.0)]


def test_a_long_meeting_with_many_speakers_stays_bounded() -> None:
    said = [Said(f"S{i % 32}", i * 1.5, i * 1.5 + 1.0) for i in range(9600)]  # 4 h, gaps of 0.5 s … 47 s
    result = rows([], said, duration=4 * 3600.0, limit=100)
    assert len(result) == 32
    assert all(0 < len(r.segments) <= 100 for r in result)


def test_past_the_bound_the_speakers_with_most_talk_keep_rows_and_the_rest_share_one() -> None:
    speakers = [Speaker("Ana", channel=1, talk_seconds=5.0), Speaker("Bo", channel=2, talk_seconds=50.0)]
    said = [Said("Cy", 0.0, 30.0), Said("Di", 40.0, 41.0), Said("Ed", 50.0, 52.0), Said("Fay", 60.0, 60.5)]
    result = rows(speakers, said, duration=100.0, max_rows=3)
    # Kept in page order (measured first), the others last with their talk time summed and their segments merged.
    assert [(r.name, r.talk_seconds) for r in result] == [("Ana", 5.0), ("Bo", 50.0), ("Cy", 30.0), ("3 others", 3.5)]
    assert result[-1].segments == (Segment(40.0, 41.0), Segment(50.0, 52.0), Segment(60.0, 60.5))
    assert result[-1].first == 40.0
    assert rows(speakers, said[:1], duration=100.0, max_rows=3) == rows(speakers, said[:1], duration=100.0)


def test_a_provider_naming_50000_speakers_makes_a_bounded_table() -> None:
    said = [Said(f"voice {i}", float(i % 3600), float(i % 3600) + 0.5) for i in range(50_000)]
    result = rows([Speaker("Ana", channel=1, talk_seconds=600.0)], said, duration=3600.0)
    assert len(result) == MAX_ROWS + 1
    assert result[0].name == "Ana"
    assert result[-1].name == f"{50_000 - MAX_ROWS + 1} others"
    assert sum(len(r.segments) for r in result) <= (MAX_ROWS + 1) * MAX_SEGMENTS
    assert sum(r.talk_seconds for r in result) == 600.0 + 50_000 * 0.5
