"""Month windows: Zoom lists at most one month per request, so a backfill or reconciliation range is walked in
one-calendar-month windows."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def month_windows(from_: date, to: date) -> list[tuple[date, date]]:
    """Inclusive ``(start, end)`` windows covering ``from_``..``to``, none longer than one calendar month."""
    if to < from_:
        raise ValueError(f"backfill range ends ({to.isoformat()!r}) before it starts ({from_.isoformat()!r})")
    windows: list[tuple[date, date]] = []
    start = from_
    while start <= to:
        end = min(_add_month(start) - timedelta(days=1), to)
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


MAX_RANGE_MONTHS = 120
"""The longest range a command walks (ten years): each month is a listing per user and one of the phone."""


def command_windows(from_: date, to: date, today: date) -> list[tuple[date, date]]:
    """The month windows of an operator's range: refused (ValueError, a usage error) when reversed, ending
    after ``today``, or longer than :data:`MAX_RANGE_MONTHS` (``--from 0001-01-01`` would be 24,000 windows)."""
    if to > today:
        raise ValueError(f"range ends ({to.isoformat()!r}) after today ({today.isoformat()!r})")
    windows = month_windows(from_, to)
    if len(windows) > MAX_RANGE_MONTHS:
        raise ValueError(
            f"range of {len(windows)} months is longer than {MAX_RANGE_MONTHS}: run it in parts of ten years at most"
        )
    return windows


def _add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
