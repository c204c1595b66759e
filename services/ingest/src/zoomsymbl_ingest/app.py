"""The ingest aiohttp application: routes, and every resource opened (and closed, in reverse) in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from zoomsymbl_common.errors import ConfigError, MongoUnavailable
from zoomsymbl_common.health import add_health_routes, add_readiness_check
from zoomsymbl_common.kafka import make_broker
from zoomsymbl_common.mongo import Mongo, ensure_indexes, make_mongo, purge_expired
from zoomsymbl_common.tenants import load_tenants

from zoomsymbl_ingest.backfill import run_periodic_backfill
from zoomsymbl_ingest.handlers import INTAKE, METRICS, SETTINGS, TENANTS, add_webhook_routes
from zoomsymbl_ingest.intake import Intake
from zoomsymbl_ingest.metrics import IngestMetrics
from zoomsymbl_ingest.producer import Producer
from zoomsymbl_ingest.settings import Settings
from zoomsymbl_ingest.stores import MongoReceipts, MongoTokens

log = logging.getLogger("zoomsymbl.ingest")
MONGO = web.AppKey("mongo", Mongo)
PRODUCER = web.AppKey("producer", Producer)
PURGE_INTERVAL_SECONDS = 3600.0


def build_app(settings: Settings) -> web.Application:
    """The ingest app; resources open on start-up and close on shutdown."""
    app = create_app(settings, IngestMetrics.create())
    app.cleanup_ctx.extend([_tenants_ctx, _mongo_ctx, _kafka_ctx, _intake_ctx, _backfill_ctx])
    return app


def create_app(settings: Settings, metrics: IngestMetrics) -> web.Application:
    """Routes only, no resources: tests set ``TENANTS`` and ``INTAKE`` themselves."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    add_health_routes(app, metrics.registry)
    add_webhook_routes(app)
    return app


async def _tenants_ctx(app: web.Application) -> AsyncIterator[None]:
    tenants = load_tenants()
    if not tenants.all():
        raise ConfigError(
            "no tenant configured: set ZOOMSYMBL_TENANTS_FILE or ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET",
            variables=("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"),
        )
    app[TENANTS] = tenants
    log.info("tenants loaded", extra={"tenants": [t.id for t in tenants.all()], "default": tenants.default_id})
    yield


async def _mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    mongo = make_mongo(app[SETTINGS].infra)
    app[MONGO] = mongo
    add_readiness_check(app, "mongo", mongo.ping)
    # Without MongoDB ingest still publishes (only deduplication suffers), so a down server must not
    # keep it from starting: the indexes are created as soon as the server answers.
    tasks = [
        asyncio.create_task(_ensure_indexes_forever(mongo), name="mongo-indexes"),
        asyncio.create_task(_purge_expired_forever(mongo), name="mongo-purge"),
    ]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await mongo.close()


async def _ensure_indexes_forever(mongo: Mongo) -> None:
    delay = 0.5
    while True:
        try:
            await ensure_indexes(mongo)
            return
        except MongoUnavailable as exc:
            log.warning("mongodb unavailable, indexes pending", extra={"error": str(exc)})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _purge_expired_forever(mongo: Mongo) -> None:
    # Servers without TTL indexes (the local FerretDB) keep expired receipts and download tokens
    # until someone deletes them; ingest writes both, so it cleans up. Harmless where TTL works.
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            removed = await purge_expired(mongo)
        except MongoUnavailable as exc:
            log.warning("expired documents not purged", extra={"error": str(exc)})
        else:
            log.info("expired documents purged", extra={"removed": removed})


async def _kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    producer = Producer(make_broker(settings.infra, "ingest"), settings.infra)
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


async def _backfill_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.backfill_interval_seconds <= 0:
        yield
        return
    task = asyncio.create_task(run_periodic_backfill(app[INTAKE], app[TENANTS], settings), name="periodic-backfill")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
