"""SANDBOX: Zoom's account rate limits — per-category per-second limits and daily limits, with their headers.

Per https://developers.zoom.us/docs/api/rate-limits/ (also https://marketplace.zoom.us/docs/api-reference/rate-limits):
APIs are grouped by rate-limit label (Light, Medium, Heavy, Resource-intensive); each label has a
per-second limit per account (Business+: 80, 60, 40 per second, Resource-intensive 20 a minute; Pro
30, 20, 10) and Heavy plus Resource-intensive share a daily limit (60,000 a day on Business+, 30,000 on
Pro; the Free plan has daily limits on Light and Medium too). A refused call answers 429 with
``X-RateLimit-Category`` (the label), ``X-RateLimit-Type``, ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and,
for a daily limit, ``Retry-After`` as an ISO-8601 instant: the next UTC midnight, when daily counts reset.

``X-RateLimit-Type`` is ``QPS`` for a per-second limit and ``Daily-limit`` for a daily one: the page's current text
("Rate Limit Type - how that quota is enforced, either per second (QPS) or as a daily limit",
https://developers.zoom.us/docs/commerce/rate-limits/, Zoom's rate-limits page for all its APIs), its header
table as transcribed by a Zoom developer advocate (``QPS`` (per-second) or ``Daily-limit``; github.com/tanchunsiong/
agent-skills, zoom-rest-api/references/rate-limits.md, with the daily example ``Retry-After:
2025-01-20T00:00:00Z``), and a public client library that types the header ``'QPS' | 'Per-second-limit' |
'Daily-limit'`` (``Per-second-limit`` is the older pages' word, which the sandbox sent until 2026-12-05). Bodies:
"You have reached the maximum per-second rate limit for this API. Try again later." and "You have reached the
maximum daily rate limit for this API. Refer to the response header for details on when you can make another
request." (the same transcription).

"Zoom Phone APIs have unique rate limits" (same page): the Phone API (``/v2/phone/...``) has its own table
(Business+: Light 40, Medium 20, Heavy 10 a second, Resource-intensive 10 a minute, 30,000 a day shared by
Heavy and Resource-intensive). Its calls never spend the meeting API's allowance nor the reverse: the sandbox
counts them apart, under the config keys ``Phone Light``, ``Phone Medium``, ``Phone Heavy`` (a 429 still names
the label alone in ``X-RateLimit-Category``).

The sandbox counts on its own clock, so a test moves time instead of waiting. Limits are off unless the
config sets them (``per_second_limits``, ``daily_limits``, keyed by category).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web

Category = Literal["Light", "Medium", "Heavy", "Resource-intensive"]
# The rate-limit label of each sandbox route, as Zoom's API reference gives it.
# Routes of the Phone API, limited apart from the rest (their limits are keyed "Phone <label>").
PHONE_ROUTES = frozenset({"phone_recordings", "phone_call_history", "phone_download"})
ROUTE_CATEGORY: dict[str, Category] = {
    "list_users": "Medium",
    "users": "Light",
    "list_recordings": "Medium",
    "get_recordings": "Light",
    "participants": "Medium",
    "phone_recordings": "Medium",
    # Not confirmed by Zoom's pages found (zoom_call_history.py): Heavy, as the call-logs listing it replaces.
    "phone_call_history": "Heavy",
    "dashboard_meetings": "Resource-intensive",
    "dashboard_participants": "Heavy",
}
# Heavy and Resource-intensive APIs spend one daily budget.
_DAILY_POOL: dict[Category, str] = {"Resource-intensive": "Heavy"}
PER_SECOND_TYPE = "QPS"  # X-RateLimit-Type of a per-second 429 (module docstring)
DAILY_TYPE = "Daily-limit"
_PER_SECOND = "You have reached the maximum per-second rate limit for this API. Try again later."
_DAILY = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make another request."
)


def next_utc_midnight(moment: datetime) -> datetime:
    """The next 00:00 UTC after ``moment``, when Zoom's daily counts reset."""
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class RateLimits:
    """Counts requests per category and answers Zoom's 429 once a limit is reached."""

    clock: Callable[[], float]
    per_second: Mapping[str, int]
    daily: Mapping[str, int]
    _seconds: Counter[tuple[str, int]] = field(default_factory=Counter)
    _days: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def admit(self, route: str) -> web.Response | None:
        """None when the call may proceed (and is counted); else the 429 Zoom would send."""
        category = ROUTE_CATEGORY.get(route)
        if category is None:
            return None
        family = "Phone " if route in PHONE_ROUTES else ""
        key = family + category
        now = datetime.fromtimestamp(self.clock(), UTC)
        pool = family + _DAILY_POOL.get(category, category)
        day_key = (pool, now.date().isoformat())
        daily_limit = self.daily.get(pool)
        if daily_limit is not None and self._days[day_key] >= daily_limit:
            self.refused[f"{key} {DAILY_TYPE}"] += 1
            reset = next_utc_midnight(now).strftime("%Y-%m-%dT%H:%M:%SZ")
            headers = _headers(category, DAILY_TYPE, daily_limit) | {"Retry-After": reset}
            return web.json_response({"code": 429, "message": _DAILY}, status=429, headers=headers)
        second_key = (key, int(now.timestamp()))
        second_limit = self.per_second.get(key)
        if second_limit is not None and self._seconds[second_key] >= second_limit:
            self.refused[f"{key} {PER_SECOND_TYPE}"] += 1
            headers = _headers(category, PER_SECOND_TYPE, second_limit)
            return web.json_response({"code": 429, "message": _PER_SECOND}, status=429, headers=headers)
        self._seconds[second_key] += 1
        self._days[day_key] += 1
        return None

    def daily_used(self, category: str) -> int:
        """Requests counted today (sandbox clock) against ``category``'s daily pool (``Phone …``: the Phone API's)."""
        family, _, label = category.rpartition(" ") if category.startswith("Phone ") else ("", "", category)
        pool = (family + " " if family else "") + _DAILY_POOL.get(label, label)  # type: ignore[call-overload]
        today = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        return self._days[(pool, today)]


def _headers(category: str, kind: str, limit: int) -> dict[str, str]:
    return {
        "X-RateLimit-Category": category,
        "X-RateLimit-Type": kind,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
    }
