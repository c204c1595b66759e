"""The scheduled reconciliation's window (``scheduled_window``): every recorded meeting is judged by some run.

A run leaves a meeting that ended less than ``RECORDING_SETTLE`` before it ``pending``; a later run must list its day
again after it settled, or a lost recording of it is never flagged. Runs follow each other every ``interval``.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta

import pytest
from zoomsymbl_ingest.reconcile_command import earliest_day
from zoomsymbl_ingest.reconcile_pages import RECORDING_SETTLE
from zoomsymbl_ingest.rounds import scheduled_window

DAY = 86_400


def judged(end: datetime, runs: list[tuple[datetime, date, date]]) -> bool:
    """True when a run lists the day ``end`` falls on after the meeting settled."""
    settled = end + RECORDING_SETTLE
    later = runs[bisect_left(runs, settled, key=lambda run: run[0]) :]
    return any(first <= end.date() <= last for _, first, last in later)


@pytest.mark.parametrize("interval", [3_600, 6 * 3_600, DAY, 3 * DAY, 7 * DAY])
@pytest.mark.parametrize("lookback", [1, 2, 7])
@pytest.mark.parametrize("first_run_hour", [1, 5, 7, 23])
def test_every_meeting_is_judged_by_a_later_run_whatever_the_schedule(
    interval: int, lookback: int, first_run_hour: int
) -> None:
    """Before, with a 1-day look-back and a daily run at 01:00, a meeting that ended at 22:00 was pending at the next
    run and in no later window; a weekly run with a 2-day look-back never listed five days of each week."""
    start = datetime(2026, 11, 2, first_run_hour, 0, tzinfo=UTC)
    times = [start + timedelta(seconds=interval * i) for i in range(40 * DAY // interval + 4)]
    runs = [(run, *scheduled_window(run, interval, lookback)) for run in times]
    ends = [start + timedelta(minutes=37 * i) for i in range(1, 20 * 24 * 60 // 37)]
    unjudged = [end for end in ends if not judged(end, runs)]
    assert unjudged == []


def test_the_default_daily_schedule_keeps_its_two_days() -> None:
    for hour in (0, 1, 6, 12, 23):
        now = datetime(2026, 12, 5, hour, 30, tzinfo=UTC)
        assert scheduled_window(now, DAY, 2) == (date(2026, 12, 3), date(2026, 12, 4))


def test_a_daily_run_early_in_the_day_with_a_one_day_look_back_lists_the_day_before_too() -> None:
    early, late = datetime(2026, 12, 5, 1, 0, tzinfo=UTC), datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert scheduled_window(early, DAY, 1) == (date(2026, 12, 3), date(2026, 12, 4))
    assert scheduled_window(late, DAY, 1) == (date(2026, 12, 4), date(2026, 12, 4))


def test_a_window_never_starts_before_the_six_months_zoom_lists() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    first, last = scheduled_window(now, 365 * DAY, 1)
    assert (first, last) == (earliest_day(now.date()), date(2026, 12, 4))
