"""Where cuts may fall when a file is split into many short parts (by size): one part per planned part."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_submitter.splitting import choose_cut, cut_windows, part_count, spans

GB = 1_000_000_000
TEN_HOURS = 36_000.0


def planned_parts(duration: float, count: int, silences: list[tuple[float, float]]) -> int:
    """How many parts the planner's cuts make of ``duration`` seconds planned as ``count``, given the silences."""
    windows = cut_windows(duration, count, TEN_HOURS, 120.0, 300.0)
    cuts = [choose_cut(w, [(max(a, w.start), min(b, w.end)) for a, b in silences if b > w.start and a < w.end])
            for w in windows]  # fmt: skip
    return len(spans(duration, cuts))


def test_a_file_cut_in_four_by_size_with_one_long_pause_becomes_four_parts() -> None:
    # 20 minutes of dense audio over a 2.2 GB limit: four parts of 5 minutes by size, cuts searched up to
    # 300 s around each ideal place (5, 10 and 15 minutes); the meeting's long pause is in reach of two.
    count = part_count(1200.0, int(7.5 * GB), TEN_HOURS, int(2.2 * GB))
    assert count == 4
    assert planned_parts(1200.0, count, [(400.0, 500.0)]) == count


@given(
    duration=st.floats(min_value=60.0, max_value=TEN_HOURS),
    count=st.integers(min_value=2, max_value=40),
    pauses=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.3, 120.0)), max_size=12),
)
def test_every_planned_part_is_made_whatever_the_silences(
    duration: float, count: int, pauses: list[tuple[float, float]]
) -> None:
    silences = [(at * duration, min(duration, at * duration + length)) for at, length in pauses]
    assert planned_parts(duration, count, silences) == count
