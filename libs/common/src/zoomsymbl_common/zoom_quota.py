"""The Zoom API quota of one account, shared by every replica through MongoDB, with priority for webhooks.

Zoom limits an account per rate-limit label (https://developers.zoom.us/docs/api/rate-limits/): each
label has a per-second allowance (Business+: Light 80, Medium 60, Heavy 40 a second, Resource-intensive
20 a minute; Pro: 30, 20, 10 a second, 10 a minute) and Heavy plus Resource-intensive share a daily
budget (Business+ 60,000, Pro 30,000 a UTC day). "Zoom Phone APIs have unique rate limits": the Phone API
(``/phone/...``) has its own, lower table (Business+: Light 40, Medium 20, Heavy 10 a second, Resource-intensive
10 a minute, Heavy plus Resource-intensive 30,000 a day; Pro: 20, 10, 5 a second, 5 a minute, 15,000 a day), so
its calls are counted apart (family ``phone``), against those limits. Every replica and every app on the account
spends the same allowance, so the count lives in MongoDB, as the provider limiter's does (limiter.py): each request
inserts one slot document whose ``_id`` is unique — ``{account}|{category}|{window}|{n}`` with ``n`` below
the window's allowance, ``{account}|day|{yyyymmdd}|{n}`` for the daily budget (``{account}|phone|{category}|…``
and ``{account}|phoneday|…`` for the Phone API's). An insert either wins the
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
Family = Literal["api", "phone"]
DAILY_CATEGORIES: frozenset[Category] = frozenset({"Heavy", "Resource-intensive"})
_RESOURCE_INTENSIVE = frozenset({"metrics/meetings", "metrics/webinars", "metrics/zoomrooms", "metrics/im"})
_MEDIUM_LISTS = (("users",), ("users", "*", "recordings"), ("past_meetings", "*", "participants"))
# The slot category (and ``_id`` part) of each family's daily budget; "day" is the meeting API's, as before.
_DAY_POOLS: dict[Family, str] = {"api": "day", "phone": "phoneday"}
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
    phone_limits: Mapping[Category, CategoryLimit] = field(default_factory=lambda: dict(_BUSINESS_PLUS_PHONE))
    phone_daily_heavy: int = 30_000

    def limit(self, family: Family, category: Category) -> CategoryLimit:
        """The per-window limit of ``category`` in the API ``family``."""
        return (self.phone_limits if family == "phone" else self.limits)[category]

    def daily(self, family: Family) -> int:
        """The Heavy plus Resource-intensive daily budget of the API ``family``."""
        return self.phone_daily_heavy if family == "phone" else self.daily_heavy


# https://developers.zoom.us/docs/api/rate-limits/ ("Zoom Phone APIs have unique rate limits").
_BUSINESS_PLUS_PHONE: dict[Category, CategoryLimit] = {
    "Light": CategoryLimit(40),
    "Medium": CategoryLimit(20),
    "Heavy": CategoryLimit(10),
    "Resource-intensive": CategoryLimit(10, 60),
}
_PRO_PHONE: dict[Category, CategoryLimit] = {
    "Light": CategoryLimit(20),
    "Medium": CategoryLimit(10),
    "Heavy": CategoryLimit(5),
    "Resource-intensive": CategoryLimit(5, 60),
}


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
    phone_limits=_PRO_PHONE,
    phone_daily_heavy=15_000,
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


def api_family(path: str) -> Family:
    """``phone`` for the Phone API (``/phone/...``), which Zoom limits apart; else ``api``."""
    return "phone" if path.split("?")[0].strip("/").split("/")[0] == "phone" else "api"


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
    _spent_until: dict[Family, datetime] = field(default_factory=dict)
    _day_cursor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_tenant(cls, mongo: Mongo, tenant: TenantConfig, metrics: QuotaMetrics | None = None) -> ZoomQuota:
        """The quota of ``tenant``'s Zoom account: every caller keys it alike, so replicas and services share it."""
        return cls(mongo, tenant.zoom_account_id or tenant.id, metrics=metrics or QuotaMetrics.create())

    async def acquire(self, category: Category, priority: Priority = "bulk", family: Family = "api") -> None:
        """Wait until one request of ``category`` (of the API ``family``) may be sent, then count it (daily first)."""
        if category in DAILY_CATEGORIES:
            await self._spend_daily(priority, family)
        limit = self.plan.limit(family, category)
        prefix = f"{self.account}|{category}" if family == "api" else f"{self.account}|phone|{category}"
        while True:
            now = self.clock()
            window = int(now.timestamp() // limit.window_seconds)
            if await self._take(
                prefix,
                category if family == "api" else f"phone {category}",
                window,
                allowance(limit.requests, priority, self.plan.reserve),
                now,
            ):
                self.metrics.requests.labels(self.account, category, priority).inc()
                return
            await self.sleep((window + 1) * limit.window_seconds - now.timestamp())

    def note_rate_limited(
        self, category: Category, kind: str, reset: datetime | None = None, family: Family = "api"
    ) -> None:
        """Zoom answered 429 (``kind``: its ``X-RateLimit-Type``); a Daily-limit holds ``family`` until ``reset``.

        Without ``reset`` the hold ends at the next 00:00 UTC; a ``reset`` later than that midnight plus
        :data:`DAILY_RESET_MARGIN` is cut to it (Zoom's daily limits reset at midnight, whatever the header said).
        """
        self.metrics.rate_limited.labels(self.account, category, kind).inc()
        if kind.lower() == "daily-limit":
            now = self.clock()
            self._spent_until[family] = next_utc_midnight(now) if reset is None else min(reset, latest_daily_reset(now))
            if family == "api":
                self.metrics.budget_left.labels(self.account).set(0)

    async def _spend_daily(self, priority: Priority, family: Family) -> None:
        daily = self.plan.daily(family)
        budget = allowance(daily, priority, self.plan.reserve)
        pool = _DAY_POOLS[family]
        while True:
            now = self.clock()
            spent_until = self._spent_until.get(family)
            if spent_until is not None and now < spent_until:
                await self.sleep((spent_until - now).total_seconds())
                continue
            day = int(now.astimezone(UTC).strftime("%Y%m%d"))
            key = f"{pool}|{day}"
            start = self._day_cursor.get(key, 0)
            if start < budget and await self._take(f"{self.account}|{pool}", pool, day, budget, now, start=start):
                if family == "api":
                    self.metrics.budget_left.labels(self.account).set(daily - self._day_cursor[key])
                return
            self._spent_until[family] = next_utc_midnight(now)

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
            if category in _DAY_POOLS.values():
                self._day_cursor[f"{category}|{window}"] = n + 1
                if n == 0:  # the day's first request: earlier days' slots go
                    await guarded(
                        collection.delete_many(
                            {"account": self.account, "category": category, "window": {"$lt": window}}
                        )
                    )
            elif n == 0 and window % _SWEEP_EVERY == 0:
                # Slots of windows a minute old can never be contended again.
                horizon = now.timestamp() - 120
                await guarded(
                    collection.delete_many({"account": self.account, "category": category, "at": {"$lt": horizon}})
                )
            return True
        if category in _DAY_POOLS.values():
            self._day_cursor[f"{category}|{window}"] = slots
        return False

    def budget_left(self, family: Family = "api") -> int:
        """``family``'s daily Heavy budget left today as this replica last counted it (0 once Zoom said it is spent)."""
        now = self.clock()
        spent_until = self._spent_until.get(family)
        if spent_until is not None and now < spent_until:
            return 0
        day = f"{_DAY_POOLS[family]}|{now.astimezone(UTC).strftime('%Y%m%d')}"
        return self.plan.daily(family) - self._day_cursor.get(day, 0)
