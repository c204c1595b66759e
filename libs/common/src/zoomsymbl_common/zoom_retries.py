"""Waiting Zoom out: ``Retry-After`` in its three forms, daily limits, and :func:`call_with_retries`.

A 429 is a :class:`RateLimitedError` (``Retry-After`` when Zoom sent it), a spent daily budget a
:class:`DailyLimitError` waited out until Zoom's daily reset; other retryable errors get exponential backoff with
jitter (``ZOOM_RETRY_POLICY``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from zoomsymbl_common.errors import RateLimitedError, RetryableError
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.kafka import RetryPolicy
from zoomsymbl_common.zoom_quota import DAILY_RESET_MARGIN, latest_daily_reset

T = TypeVar("T")

# A daily-limit 429 is waited out at least DAILY_LIMIT_MIN_WAIT (``Retry-After: 0`` or a reset already past must not
# repeat the call at once) and at most until the next 00:00 UTC plus DAILY_RESET_MARGIN (zoom_quota.py), when Zoom
# has reset its daily limits; that long too without a usable Retry-After. Never longer than DAILY_LIMIT_MAX_WAIT.
DAILY_LIMIT_MIN_WAIT = 60.0
DAILY_LIMIT_MAX_WAIT = 86400.0 + DAILY_RESET_MARGIN.total_seconds()
# A DailyLimitError that names no wait (ZoomClient's always name one): look again in an hour.
DAILY_LIMIT_FALLBACK_WAIT = 3600.0
# call_with_retries waits for the daily reset at most this often per call; a daily limit still spent is then raised.
DAILY_LIMIT_MAX_WAITS = 3
# A Retry-After further off than this (a date in 9999, 1e12) is no wait a server means: read as absent. Zoom's
# longest, the daily reset, is less than a day away.
MAX_RETRY_AFTER_SECONDS = 2 * 86400.0
ZOOM_RETRY_POLICY = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=60.0, max_rate_limit_wait=300.0)


class DailyLimitError(RateLimitedError):
    """A 429 with ``X-RateLimit-Type: Daily-limit``: the account's daily budget is spent until ``retry_after``."""


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, or None when absent, unreadable, not finite (``inf``, ``nan``) or absurd
    (further off than :data:`MAX_RETRY_AFTER_SECONDS`): callers then wait as if Zoom had sent none.

    Zoom answers in three forms: seconds (``30``), an HTTP date (``Thu, 04 Dec 2026 00:00:00 GMT``) and,
    for its daily limits, an ISO-8601 instant (``2026-12-04T00:00:00Z``, the next UTC midnight).
    """
    raw = headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        when = _http_date(raw) or _iso_instant(raw)
        if when is None:
            return None
        seconds = (when - (now or utcnow())).total_seconds()
    if not math.isfinite(seconds) or seconds > MAX_RETRY_AFTER_SECONDS:
        return None
    return max(0.0, seconds)


def daily_limit_wait(seconds: float | None, now: datetime) -> float:
    """How long to wait out a daily-limit 429 whose ``Retry-After`` read ``seconds`` at ``now``.

    At most until the next 00:00 UTC plus the margin, when Zoom's daily limits have reset whatever it
    announced, and that long when it announced nothing usable (None, not finite); at least
    :data:`DAILY_LIMIT_MIN_WAIT`, so ``Retry-After: 0`` cannot make a caller spin.
    """
    latest = (latest_daily_reset(now) - now).total_seconds()
    if seconds is None or not math.isfinite(seconds):
        return latest
    return min(max(seconds, DAILY_LIMIT_MIN_WAIT), latest)


def _http_date(raw: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year or hour of 20 digits
        return None
    return when if when.tzinfo else None


def _iso_instant(raw: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else None


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = ZOOM_RETRY_POLICY,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    max_rate_limited: int = 20,
    max_daily_waits: int = DAILY_LIMIT_MAX_WAITS,
) -> T:
    """Run ``operation``, waiting out 429s (``Retry-After`` or backoff) and retrying other retryable errors.

    Re-raises the last error once ``policy.max_attempts`` retryable failures or ``max_rate_limited``
    429s happened; non-retryable errors propagate at once. A spent daily budget (:class:`DailyLimitError`)
    is waited out until its reset (its ``Retry-After``, else an hour; at least :data:`DAILY_LIMIT_MIN_WAIT`,
    at most :data:`DAILY_LIMIT_MAX_WAIT`) without counting against the others: the work resumes instead of
    failing. Still spent after ``max_daily_waits`` such waits, it is raised as a :class:`DailyLimitError`.
    """
    failures = 0
    limited = 0
    daily_waits = 0
    while True:
        try:
            return await operation()
        except DailyLimitError as exc:
            told = exc.retry_after
            wait = told if told is not None and math.isfinite(told) else DAILY_LIMIT_FALLBACK_WAIT
            wait = min(max(wait, DAILY_LIMIT_MIN_WAIT), DAILY_LIMIT_MAX_WAIT)
            daily_waits += 1
            if daily_waits > max_daily_waits:
                raise DailyLimitError(
                    f"{exc}: the daily limit was still spent after {max_daily_waits} waits for its reset",
                    retry_after=wait,
                ) from exc
            await sleep(wait)
        except RateLimitedError as exc:
            limited += 1
            if limited > max_rate_limited:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.delay(limited)
            await sleep(min(wait, policy.max_rate_limit_wait))
        except RetryableError:
            failures += 1
            if failures >= policy.max_attempts:
                raise
            await sleep(policy.delay(failures))
