"""Talk-time shares shown as whole percentages: they add up to 100, each is its exact share rounded down or up."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.shares import percentages

SECONDS = st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)


def test_three_speakers_rounded_one_by_one_read_101_and_now_read_100() -> None:
    """``make demo``'s meeting: 38.6 %, 38.6 % and 22.8 % were shown as 39 % + 39 % + 23 %."""
    assert percentages([1390.0, 1390.0, 820.0]) == [39, 38, 23]
    assert percentages([1.0, 1.0, 1.0]) == [34, 33, 33], "three equal speakers: 99 % before, the first gets the point"


def test_nothing_measured_is_zero_for_everyone() -> None:
    assert percentages([]) == []
    assert percentages([0.0, 0.0]) == [0, 0]
    assert percentages([-5.0, math.nan]) == [0, 0]


def test_a_value_that_is_no_measure_counts_as_zero() -> None:
    assert percentages([math.inf, 30.0, -1.0, math.nan, 10.0]) == [0, 75, 0, 0, 25]


@given(st.lists(SECONDS, max_size=60))
def test_shown_shares_add_up_to_100_and_each_is_its_share_rounded_down_or_up(values: list[float]) -> None:
    shown = percentages(values)

    assert len(shown) == len(values)
    total = sum(Fraction(v) for v in values)
    if total == 0:
        assert shown == [0] * len(values)
        return
    assert sum(shown) == 100
    for value, percent in zip(values, shown, strict=True):
        exact = Fraction(value) * 100 / total
        assert math.floor(exact) <= percent <= math.ceil(exact)


@given(st.lists(SECONDS, min_size=2, max_size=30))
def test_a_longer_talker_never_shows_a_smaller_share(values: list[float]) -> None:
    shown = percentages(values)

    for a, b in zip(values, shown, strict=True):
        for c, d in zip(values, shown, strict=True):
            if a > c:
                assert b >= d
