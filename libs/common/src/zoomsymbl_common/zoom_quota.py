"""The Zoom API quota of one account, shared by every replica through MongoDB, with priority for webhooks.

Zoom limits an account per rate-limit label (https://developers.zoom.us/docs/api/rate-limits/): each
label has a per-second allowance (Business+: Light 80, Medium 60, Heavy 40 a second, Resource-intensive
20 a minute; Pro: 30, 20, 10 a second, 10 a minute) and Heavy plus Resource-intensive share a daily
budget (Business+ 60,000, Pro 30,000 a UTC day). Every replica and every app on the account spends the
same allowance, so the count lives in MongoDB, as the provider limiter's does (limiter.py): each request
inserts one slot document whose ``_id`` is unique — ``{account}|{category}|{window}|{n}`` with ``n`` below
the window's allowance, ``{account}|day|{yyyymmdd}|{n}`` for the daily budget. An insert either wins the
slot or gets ``DuplicateKeyError`` and tries the next number; no counter is incremented (FerretDB loses
concurrent ``$inc`` on one document).

Priority: webhook-driven work (the mixer's downloads, ``priority``) may take every slot of a window; a
backfill or a reconciliation run (``bulk``) stops ``reserve`` short of it — 25 % by default, at least one
slot: of Medium's 60 a second a backfill takes at most 45, of Light's 80 at most 60, of the daily Heavy
60,000 at most 45,000. When the daily budget is spent (here, or Zoom said so with a Daily-limit 429),
:meth:`ZoomQuota.acquire` sleeps until the next 00:00 UTC instead of failing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge
from pymongo.errors import DuplicateKeyError

from zoomsymbl_common.clock import Clock
from zoomsymbl_common.events import utcnow
from zoomsymbl_common.mongo import Mongo, guarded
from zoomsymbl_common.records import ZOOM_QUOTA, ZoomQuotaSlot
from zoomsymbl_common.tenants import TenantConfig

Category = Literal["Light", "Medium", "Heavy", "Resource-intensive"]
Priority = Literal["priority", "bulk"]
DAILY_CATEGORIES: frozenset[Category] = frozenset({"Heavy", "Resource-intensive"})
_RESOURCE_INTENSIVE = frozenset({"metrics/meetings", "metrics/webinars", "metrics/zoomrooms", "metrics/im"})
_MEDIUM_LISTS = (("users",), ("users", "*", "recordings"), ("past_meetings", "*", "participants"))
_SWEEP_EVERY = 64  # whoever wins slot 0 of a window divisible by this deletes slots of long-past windows
# Zoom resets its daily limits at 00:00 UTC; a daily-limit reset is believed up to this long after that midnight
# (clocks differ a little), never later: a reset Zoom dates further off (9999-12-31) would hold work for good.
DAILY_RESET_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class CategoryLimit:
    """``requests`` per ``window_seconds`` for one rate-limit label."""

    requests: int
    window_seconds: int = 1


@dataclass(frozen=True)
class ZoomPlan:
    """An account plan's limits; ``reserve`` is the share of each allowance only priority callers take."""

    limits: Mapping[Category, CategoryLimit]
    daily_heavy: int
    reserve: float = 0.25


BUSINESS_PLUS = ZoomPlan(
    {
        "Light": CategoryLimit(80),
        "Medium": CategoryLimit(60),
        "Heavy": CategoryLimit(40),
        "Resource-intensive": CategoryLimit(20, 60),
    },
    daily_heavy=60_000,
)
PRO = ZoomPlan(
    {
        "Light": CategoryLimit(30),
        "Medium": CategoryLimit(20),
        "Heavy": CategoryLimit(10),
        "Resource-intensive": CategoryLimit(10, 60),
    },
    daily_heavy=30_000,
)


def category_of(path: str) -> Category:
    """The rate-limit label of an API path (``/users/me/recordings`` → Medium), by Zoom's API reference."""
    parts = path.split("?")[0].strip("/").split("/")
    if "/".join(parts[:2]) in _RESOURCE_INTENSIVE and len(parts) == 2:
        return "Resource-intensive"
    if parts[0] in ("metrics", "report") or parts[:2] == ["phone", "call_history"]:
        return "Heavy"  # the call history's label is assumed Heavy, like the call-logs listing it replaces
    shape = tuple("*" if i == 1 and len(parts) == 3 else p for i, p in enumerate(parts))
    if shape in _MEDIUM_LISTS or parts[:2] == ["phone", "recordings"]:
        return "Medium"
    return "Light"


def allowance(limit: int, priority: Priority, reserve: float) -> int:
    """How many of a window's ``limit`` slots a caller may take: bulk callers leave the reserve (≥ 1 slot)."""
    if priority == "priority" or limit <= 1:
        return limit
    return limit - max(1, math.ceil(limit * reserve))


def next_utc_midnight(moment: datetime) -> datetime:
    """The next 00:00 UTC after ``moment``: when Zoom's daily counts reset."""
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def latest_daily_reset(moment: datetime) -> datetime:
    """The latest a daily limit spent at ``moment`` can reset: the next 00:00 UTC plus :data:`DAILY_RESET_MARGIN`."""
    return next_utc_midnight(moment) + DAILY_RESET_MARGIN


@dataclass
class QuotaMetrics:
    """``zoomsymbl_zoom_api_requests_total``, ``…_rate_limited_total`` and ``…_daily_budget_left``."""

    requests: Counter
    rate_limited: Counter
    budget_left: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> QuotaMetrics:
        """Metrics registered in ``registry`` (a fresh one by default, so tests do not collide)."""
        reg = registry or CollectorRegistry()
        return cls(
            requests=Counter(
                "zoomsymbl_zoom_api_requests",
                "Zoom API requests sent",
                ["account", "category", "priority"],
                registry=reg,
            ),
            rate_limited=Counter(
                "zoomsymbl_zoom_api_rate_limited", "Zoom 429 answers", ["account", "category", "type"], registry=reg
            ),
            budget_left=Gauge(
                "zoomsymbl_zoom_api_daily_budget_left",
                "Heavy/Resource-intensive requests left today (UTC) for this account, as counted here",
                ["account"],
                registry=reg,
            ),
        )


@dataclass
class ZoomQuota:
    """The shared per-category per-second allowance and daily Heavy budget of one Zoom account."""

    mongo: Mongo
    account: str
    plan: ZoomPlan = BUSINESS_PLUS
    clock: Clock = utcnow
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    metrics: QuotaMetrics = field(default_factory=QuotaMetrics.create)
    _spent_until: datetime | None = None
    _day_cursor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_tenant(cls, mongo: Mongo, tenant: TenantConfig, metrics: QuotaMetrics | None = None) -> ZoomQuota:
        """The quota of ``tenant``'s Zoom account: every caller keys it alike, so replicas and services share it."""
        return cls(mongo, tenant.zoom_account_id or tenant.id, metrics=metrics or QuotaMetrics.create())

    async def acquire(self, category: Category, priority: Priority = "bulk") -> None:
        """Wait until one request of ``category`` may be sent, then count it (daily budget first)."""
        if category in DAILY_CATEGORIES:
            await self._spend_daily(priority)
        limit = self.plan.limits[category]
        while True:
            now = self.clock()
            window = int(now.timestamp() // limit.window_seconds)
            if await self._take(
                f"{self.account}|{category}",
                category,
                window,
                allowance(limit.requests, priority, self.plan.reserve),
                now,
            ):
                self.metrics.requests.labels(self.account, category, priority).inc()
                return
            await self.sleep((window + 1) * limit.window_seconds - now.timestamp())

    def note_rate_limited(self, category: Category, kind: str, reset: datetime | None = None) -> None:
        """Zoom answered 429 (``kind`` = its ``X-RateLimit-Type``); a Daily-limit holds work until ``reset``.

        Without ``reset`` the hold ends at the next 00:00 UTC; a ``reset`` later than that midnight plus
        :data:`DAILY_RESET_MARGIN` is cut to it (Zoom's daily limits reset at midnight, whatever the header said).
        """
        self.metrics.rate_limited.labels(self.account, category, kind).inc()
        if kind.lower() == "daily-limit":
            now = self.clock()
            self._spent_until = next_utc_midnight(now) if reset is None else min(reset, latest_daily_reset(now))
            self.metrics.budget_left.labels(self.account).set(0)

    async def _spend_daily(self, priority: Priority) -> None:
        budget = allowance(self.plan.daily_heavy, priority, self.plan.reserve)
        while True:
            now = self.clock()
            if self._spent_until is not None and now < self._spent_until:
                await self.sleep((self._spent_until - now).total_seconds())
                continue
            day = int(now.astimezone(UTC).strftime("%Y%m%d"))
            key = str(day)
            start = self._day_cursor.get(key, 0)
            if start < budget and await self._take(f"{self.account}|day", "day", day, budget, now, start=start):
                self.metrics.budget_left.labels(self.account).set(self.plan.daily_heavy - self._day_cursor[key])
                return
            self._spent_until = next_utc_midnight(now)

    async def _take(self, prefix: str, category: str, window: int, slots: int, now: datetime, start: int = 0) -> bool:
        """Win one slot number below ``slots`` in ``window`` (True), or find them all taken (False)."""
        collection = self.mongo.db[ZOOM_QUOTA]
        for n in range(start, slots):
            slot = ZoomQuotaSlot(
                id=f"{prefix}|{window}|{n}",
                account=self.account,
                category=category,
                window=window,
                slot=n,
                at=now.timestamp(),
            )
            try:
                await guarded(collection.insert_one(slot.to_document()))
            except DuplicateKeyError:
                continue
            if category == "day":
                self._day_cursor[str(window)] = n + 1
                if n == 0:  # the day's first request: earlier days' slots go
                    await guarded(
                        collection.delete_many({"account": self.account, "category": "day", "window": {"$lt": window}})
                    )
            elif n == 0 and window % _SWEEP_EVERY == 0:
                # Slots of windows a minute old can never be contended again.
                horizon = now.timestamp() - 120
                await guarded(
                    collection.delete_many({"account": self.account, "category": category, "at": {"$lt": horizon}})
                )
            return True
        if category == "day":
            self._day_cursor[str(window)] = slots
        return False

    def budget_left(self) -> int:
        """The daily Heavy budget left today as this replica last counted it (0 once Zoom said it is spent)."""
        now = self.clock()
        if self._spent_until is not None and now < self._spent_until:
            return 0
        return self.plan.daily_heavy - self._day_cursor.get(now.astimezone(UTC).strftime("%Y%m%d"), 0)
