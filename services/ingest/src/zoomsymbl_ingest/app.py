"""The ingest aiohttp application: routes, and every resource opened (and closed, in reverse) in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pymongo.errors import OperationFailure
from zoomsymbl_common.background import background, raise_if_cancelled
from zoomsymbl_common.errors import MongoUnauthorized, MongoUnavailable
from zoomsymbl_common.events import Event
from zoomsymbl_common.health import add_readiness_check
from zoomsymbl_common.mongo import Mongo, ensure_indexes, purge_expired
from zoomsymbl_common.service import (
    MONGO,
    TENANTS,
    mongo_context,
    new_app,
    tenants_context,
)
from zoomsymbl_common.zoom_quota import QuotaMetrics

from zoomsymbl_ingest.handlers import INTAKE, METRICS, SETTINGS, add_webhook_routes
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.rounds import run_periodic_backfill, run_periodic_reconciliation
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTokens

log = logging.getLogger("zoomsymbl.ingest")
SERVICE = "ingest"
PRODUCER = web.AppKey("producer", Producer)
QUOTA_METRICS = web.AppKey("quota_metrics", QuotaMetrics)
PURGE_INTERVAL_SECONDS = 3600.0
INDEX_RETRY_MAX_SECONDS = 30.0


def build_app(settings: Settings) -> web.Application:
    """The ingest app; resources open on start-up and close on shutdown."""
    app = create_app(settings, IngestMetrics.create())
    # Without MongoDB ingest still publishes (only deduplication suffers), so a down server must not
    # keep it from starting, nor from being ready (every pod out of the Service: Zoom's webhooks get the
    # Ingress's 503); /readyz says "degraded". The indexes are created as soon as the server answers.
    app.cleanup_ctx.extend(
        [
            tenants_context(),
            mongo_context(indexes=False, required=False),
            _mongo_upkeep_ctx,
            _kafka_ctx,
            _intake_ctx,
            _backfill_ctx,
            _reconcile_ctx,
        ]
    )
    return app


def create_app(settings: Settings, metrics: IngestMetrics) -> web.Application:
    """Routes only, no resources: tests set ``TENANTS`` and ``INTAKE`` themselves."""
    app = new_app(SERVICE, settings.infra, registry=metrics.registry, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    add_webhook_routes(app)
    return app


async def _mongo_upkeep_ctx(app: web.Application) -> AsyncIterator[None]:
    mongo = app[MONGO]
    async with (
        background(_ensure_indexes_forever(mongo), "mongo-indexes"),
        background(_purge_expired_forever(mongo), "mongo-purge"),
    ):
        yield


async def _ensure_indexes_forever(mongo: Mongo, *, max_delay: float = INDEX_RETRY_MAX_SECONDS) -> None:
    """Create the indexes once MongoDB answers; a refusal is said (ERROR) at every try until someone mends it.

    A refusal is permanent until then (an index of the same name with other options, a role without
    ``createIndex``): the other services stop at start-up on it, ingest goes on publishing (it must not refuse
    webhooks over an index) without the indexes that keep receipts and tokens unique and the backfill's look-up
    cheap, so it says so every ``max_delay`` seconds rather than once, and creates them once the cause is gone.
    """
    delay = 0.5
    while True:
        try:
            await ensure_indexes(mongo)
            return
        except (OperationFailure, MongoUnauthorized) as exc:  # before MongoUnavailable: MongoUnauthorized is one
            log.error("mongodb refused an index, indexes pending", extra=_refusal(exc))
            delay = max_delay
        except MongoUnavailable as exc:
            log.warning("mongodb unavailable, indexes pending", extra={"error": str(exc)})
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


def _refusal(exc: OperationFailure | MongoUnauthorized) -> dict[str, object]:
    """The log fields of a refused index: MongoDB's code and code name, and the error (a role's names the fix)."""
    failure = exc.__cause__ if isinstance(exc, MongoUnauthorized) else exc
    code = name = None
    if isinstance(failure, OperationFailure):
        code = failure.code
        name = failure.details.get("codeName") if isinstance(failure.details, dict) else None
    return {"code": code, "code_name": name, "error": str(exc)[:300]}


async def _purge_expired_forever(mongo: Mongo) -> None:
    # Servers without TTL indexes (the local FerretDB) keep expired documents (receipts, download
    # tokens, claims, attempt counts...) until someone deletes them; ingest cleans up for every
    # service. Harmless where TTL works.
    while True:
        raise_if_cancelled()  # a cancellation that pymongo dropped during the last round, before the next wait
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            removed = await purge_expired(mongo)
        except MongoUnavailable as exc:
            log.warning("expired documents not purged", extra={"error": str(exc)})
        except Exception:
            # A refusal (a delete MongoDB answers with an error) must not end the loop: nothing starts another, and
            # receipts, tokens, claims and attempt counts would pile up for as long as the process lives.
            log.exception("expired documents not purged: unexpected failure, tried again next round")
        else:
            log.info("expired documents purged", extra={"removed": removed})


async def _kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    producer = Producer(settings.infra, service=SERVICE)
    app[PRODUCER] = producer
    add_readiness_check(app, "kafka", producer.check)
    producer.start()
    yield
    await producer.close()


async def _intake_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, mongo = app[SETTINGS], app[MONGO]
    app[INTAKE] = Intake(
        publisher=app[PRODUCER],
        receipts=MongoReceipts(mongo),
        tokens=MongoTokens(mongo),
        metrics=app[METRICS],
        publish_timeout=settings.publish_timeout_seconds,
        store_timeout=settings.mongo_timeout_seconds,
        store_concurrency=settings.mongo_concurrency,
    )
    yield
    # Receipts and late tokens queued behind the answers: written before MongoDB closes (contexts unwind in reverse).
    await app[INTAKE].close(timeout=max(5.0, settings.shutdown_timeout_seconds / 2))


async def _backfill_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.backfill_interval_seconds <= 0:
        yield
        return
    # The backfill's Zoom calls count in the account's shared quota; its metrics join ingest's /metrics.
    quota_metrics = _quota_metrics(app)
    periodic = run_periodic_backfill(app[INTAKE], app[TENANTS], settings, mongo=app[MONGO], quota_metrics=quota_metrics)
    async with background(periodic, "periodic-backfill"):
        yield


async def _reconcile_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.reconcile_interval_seconds <= 0:  # off by default: the dashboard API needs a Business+ plan
        yield
        return
    quota_metrics = _quota_metrics(app)
    producer = app[PRODUCER]

    async def publish(event: Event) -> None:  # the digest's event: the notifier e-mails the tenant's admins
        await producer.publish(event, timeout=max(settings.publish_timeout_seconds, 10.0))

    periodic = run_periodic_reconciliation(app[MONGO], app[TENANTS], settings, publish, quota_metrics=quota_metrics)
    async with background(periodic, "periodic-reconciliation"):
        yield


def _quota_metrics(app: web.Application) -> QuotaMetrics:
    """The quota metrics on ingest's /metrics, registered once for the backfill and the reconciliation."""
    if QUOTA_METRICS not in app:
        app[QUOTA_METRICS] = QuotaMetrics.create(app[METRICS].registry)
    return app[QUOTA_METRICS]
