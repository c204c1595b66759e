"""The periodic rounds of ingest: the last days of every OAuth tenant backfilled (backfill.py) and reconciled
(reconcile.py), each on its own interval, as bulk work in the account's shared Zoom quota."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError
from zoomsymbl_common.background import raise_if_cancelled
from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.events import Event, utcnow
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.tenants import Tenants, has_oauth
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import QuotaMetrics, ZoomQuota

from zoomsymbl_ingest.backfill import Backfill
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.reconcile import reconcile_and_publish
from zoomsymbl_ingest.reconcile_command import earliest_day
from zoomsymbl_ingest.reconcile_pages import RECORDING_SETTLE
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoTombstones

log = logging.getLogger("zoomsymbl.ingest.reconcile")  # a round that failed is the reconciliation's line


async def run_periodic_backfill(
    intake: Intake,
    tenants: Tenants,
    settings: Settings,
    *,
    mongo: Mongo | None = None,
    quota_metrics: QuotaMetrics | None = None,
) -> None:
    """Every ``backfill_interval_seconds``, backfill the last ``backfill_lookback_days`` of every OAuth tenant.

    The first run comes soon after start-up: a restart is exactly when webhooks may have been missed.
    With ``mongo``, each run is bulk work within the account's shared Zoom quota (zoom_quota.py) and skips the
    meetings erased with ``zoomsymbl forget``.
    """
    delay = min(30, settings.backfill_interval_seconds)
    while True:
        raise_if_cancelled()  # a cancellation that pymongo dropped during the last round, before the next wait
        await asyncio.sleep(delay)
        delay = settings.backfill_interval_seconds
        today = utcnow().date()
        tombstones = MongoTombstones(mongo) if mongo else None
        for tenant in filter(has_oauth, tenants.all()):
            quota = ZoomQuota.of_tenant(mongo, tenant, quota_metrics) if mongo else None
            try:
                async with ZoomClient(tenant, quota=quota, priority="bulk") as client:
                    await Backfill(intake, tenant, client, tombstones=tombstones).run(
                        today - timedelta(days=settings.backfill_lookback_days), today
                    )
            except Exception as exc:  # a bug on one tenant's data: the round goes on, the task lives (_crashed)
                _crashed("backfill", tenant.id, exc)


def scheduled_window(now: datetime, interval_seconds: float, lookback_days: int) -> tuple[date, date]:
    """The days a scheduled run at ``now`` reconciles: ``lookback_days`` ending yesterday, reaching further back to
    the day of any meeting the previous run (one interval earlier) found too recent to judge (``RECORDING_SETTLE``).

    Without the reach, a meeting that ended shortly before an early-morning run was ``pending`` there, and with a
    1-day look-back and a daily schedule no later run's window held its day: it was never judged, so a lost
    recording of it was never flagged. The same reach covers the days between runs further apart than the look-back
    (a weekly schedule with a 2-day look-back left five days of every week unread)."""
    yesterday = now.date() - timedelta(days=1)
    start = yesterday - timedelta(days=lookback_days - 1)
    pending_since = (now - timedelta(seconds=interval_seconds) - RECORDING_SETTLE).date()
    return max(min(start, pending_since), earliest_day(now.date())), yesterday  # Zoom lists 6 months back only


async def run_periodic_reconciliation(
    mongo: Mongo,
    tenants: Tenants,
    settings: Settings,
    publish: Callable[[Event], Awaitable[None]],
    *,
    quota_metrics: QuotaMetrics | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> None:
    """Every ``reconcile_interval_seconds``, reconcile the last ``reconcile_lookback_days`` of every OAuth tenant
    (:func:`scheduled_window`).

    The window ends yesterday (UTC): today's meetings may still be recording or uploading. Bulk work in
    the account's shared quota, so webhook-driven downloads keep their reserve. Each run publishes
    ``zoom.reconciliation-completed.v1`` (the notifier's digest to the tenant's administrators). A tenant
    whose run fails (Zoom, MongoDB or Kafka not answering, MongoDB refusing an operation) is logged and tried again
    at the next round; the other tenants go on.
    """
    while True:
        raise_if_cancelled()  # a cancellation that pymongo dropped during the last round, before the next wait
        await sleep(settings.reconcile_interval_seconds)
        start, yesterday = scheduled_window(
            utcnow(), settings.reconcile_interval_seconds, settings.reconcile_lookback_days
        )
        for tenant in filter(has_oauth, tenants.all()):
            try:
                await reconcile_and_publish(mongo, tenant, start, yesterday, publish, quota_metrics)
            except (ZoomsymblError, TimeoutError, PyMongoError) as exc:
                log.error(
                    "reconciliation failed, next round retries",
                    extra={"tenant": tenant.id, "error": f"{type(exc).__name__}: {exc}"},
                )
            except Exception as exc:
                _crashed("reconciliation", tenant.id, exc)


def _crashed(what: str, tenant: str, exc: Exception) -> None:
    """Log an unexpected error of one tenant's periodic run loudly; the other tenants and the next round go on.

    Uncaught, it ended the periodic task for every tenant, silently until shutdown (an id no UTF-8 holds did so)."""
    error = scrub(f"{type(exc).__name__}: {exc}", 500)
    log.exception(f"{what} crashed, next round retries", extra={"tenant": tenant, "error": error})
