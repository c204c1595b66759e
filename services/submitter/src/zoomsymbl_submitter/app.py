"""The submitter aiohttp application: health routes, and every resource opened (and closed, in reverse) here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import aiohttp
from aiohttp import web
from zoomsymbl_common.attempts import MongoAttempts
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.events import JobSubmitted, MeetingFailed
from zoomsymbl_common.health import add_health_routes, add_readiness_check
from zoomsymbl_common.kafka import (
    Consumer,
    ConsumerMetrics,
    RetryPolicy,
    make_broker,
    probe_bootstrap,
    publish_event,
    start_broker,
)
from zoomsymbl_common.mongo import Mongo, ensure_indexes, make_mongo
from zoomsymbl_common.providers.dns import resolvable_check, unresolvable_hosts
from zoomsymbl_common.tenants import Tenants, load_tenants

from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.downmix import Downmixer
from zoomsymbl_submitter.handlers import register_subscribers
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.parts import PartPlanner, SplitSettings
from zoomsymbl_submitter.plan import CallbackConfig
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings, ProviderPool
from zoomsymbl_submitter.reclaim import Reclaimer
from zoomsymbl_submitter.settings import Settings
from zoomsymbl_submitter.submission import Publish, Submitter

log = logging.getLogger("zoomsymbl.submitter")
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", SubmitterMetrics)
TENANTS = web.AppKey("tenants", Tenants)
MONGO = web.AppKey("mongo", Mongo)
AUDIO = web.AppKey("audio", AudioSource)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SUBMITTER = web.AppKey("submitter", Submitter)


def build_app(settings: Settings) -> web.Application:
    """The submitter app; resources open on start-up and close on shutdown."""
    metrics = SubmitterMetrics.create()
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = metrics
    add_health_routes(app, metrics.registry)
    app.cleanup_ctx.extend([_tenants_ctx, _mongo_ctx, _storage_ctx, _http_ctx, _kafka_ctx, _reclaim_ctx])
    return app


async def _tenants_ctx(app: web.Application) -> AsyncIterator[None]:
    tenants = load_tenants()
    if not tenants.all():
        raise ConfigError(
            "no tenant configured: set ZOOMSYMBL_TENANTS_FILE or ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET",
            variables=("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"),
        )
    app[TENANTS] = tenants
    log.info("tenants loaded", extra={"tenants": {t.id: t.provider for t in tenants.all()}})
    await _check_symbl_hosts(app, tenants)
    yield


async def _check_symbl_hosts(app: web.Application, tenants: Tenants) -> None:
    """/readyz fails, naming the host, while a Symbl tenant's API host does not resolve (said once at start too)."""
    urls = sorted({t.symbl_api_base for t in tenants.all() if t.provider == "symbl"})
    if not urls:
        return
    add_readiness_check(app, "symbl-dns", resolvable_check(urls, what="symbl API"))
    missing = await unresolvable_hosts(urls)
    if missing:
        log.error("symbl api host does not resolve", extra={"hosts": missing})


async def _mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    mongo = make_mongo(app[SETTINGS].infra)
    await ensure_indexes(mongo)
    app[MONGO] = mongo
    add_readiness_check(app, "mongo", mongo.ping)
    yield
    await mongo.close()


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    audio = AudioSource(
        settings.infra,
        public_endpoint=settings.public_s3_endpoint,
        presign_expiry=timedelta(seconds=settings.presign_expiry_seconds),
    )
    app[AUDIO] = audio
    add_readiness_check(app, "s3", audio.store(settings.infra.s3_bucket).ping)
    yield


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    # Provider calls carry their own timeouts; the connector only bounds parallel connections.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
    app[HTTP] = session
    yield
    await session.close()


def _limits(settings: Settings) -> LimiterSettings:
    return LimiterSettings(
        settings.rate_per_second,
        settings.burst,
        settings.max_in_flight,
        settings.lease_seconds,
        settings.limiter_poll_max_seconds,
        settings.whisper_max_in_flight,
    )


def _split(settings: Settings) -> SplitSettings:
    return SplitSettings(
        settings.max_part_seconds,
        settings.split_margin_seconds,
        settings.split_search_seconds,
        settings.work_dir,
        settings.ffmpeg_timeout_seconds,
    )


def _submitter(app: web.Application, publish: Publish) -> Submitter:
    settings, mongo = app[SETTINGS], app[MONGO]
    limits, split = _limits(settings), _split(settings)
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    meetings = MeetingStore(mongo)
    return Submitter(
        tenants=app[TENANTS],
        providers=ProviderPool(app[HTTP], settings.submit_timeout_seconds, mongo),
        limiters=LimiterPool(mongo, limits),
        jobs=JobStore(mongo, owner, settings.claim_grace_seconds),
        meetings=meetings,
        planner=PartPlanner(app[AUDIO], (meetings.split_plan, meetings.save_split_plan), split),
        audio=app[AUDIO],
        callbacks=CallbackConfig(
            settings.notifier_base(), settings.callback_secret, settings.assemblyai_auth_header_name
        ),
        publish=publish,
        metrics=app[METRICS],
        acquire_timeout=settings.acquire_timeout_seconds,
        downmixer=Downmixer(app[AUDIO], work_dir=split.work_dir, ffmpeg_timeout=split.ffmpeg_timeout),
    )


async def _kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    infra = settings.infra
    broker = make_broker(infra, "submitter")

    async def publish(event: JobSubmitted | MeetingFailed) -> None:
        await publish_event(broker, infra, event, timeout=settings.publish_timeout_seconds)

    submitter = _submitter(app, publish)
    app[SUBMITTER] = submitter
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        max_rate_limit_wait=settings.max_rate_limit_wait_seconds,
    )
    consumer = Consumer(
        broker,
        infra,
        "submitter",
        policy,
        attempts=MongoAttempts(app[MONGO]),
        metrics=ConsumerMetrics(app[METRICS].registry),
    )
    poll_ms = settings.max_poll_interval_ms
    register_subscribers(
        broker,
        consumer,
        submitter.on_audio_mixed,
        submitter.meetings,
        publish_failure=publish,
        max_poll_interval_ms=poll_ms,
    )
    await start_broker(broker)
    add_readiness_check(app, "kafka", partial(probe_bootstrap, infra.kafka_bootstrap))
    yield
    await broker.stop()


async def _reclaim_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, submitter = app[SETTINGS], app[SUBMITTER]
    if settings.reclaim_interval_seconds <= 0:
        yield
        return
    reclaimer = Reclaimer(
        submitter.tenants,
        submitter.providers,
        submitter.limiters,
        submitter.jobs,
        app[METRICS],
        settings.reclaim_interval_seconds,
    )
    task = asyncio.create_task(reclaimer.run_forever(), name="limiter-reclaim")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
