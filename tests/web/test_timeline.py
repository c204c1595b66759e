"""The speaker timeline: segments merged and clipped, one row per participant, talk time (the shares are
``zoomsymbl_common.shares.percentages`` of it: tests/web/test_render.py)."""

from __future__ import annotations

from zoomsymbl_web.timeline import Said, Segment, Speaker, merge_segments, rows


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
