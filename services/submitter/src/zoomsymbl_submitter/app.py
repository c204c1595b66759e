"""The submitter aiohttp application: health routes, and every resource opened (and closed, in reverse) here."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web
from zoomsymbl_common.events import JobStatusReported, JobSubmitted, MeetingFailed
from zoomsymbl_common.health import add_readiness_check
from zoomsymbl_common.kafka import RetryPolicy, publish_event
from zoomsymbl_common.ops.forget import is_forgotten
from zoomsymbl_common.providers.pool import ProviderPool
from zoomsymbl_common.scratch import scratch_root, sweep
from zoomsymbl_common.service import (
    MONGO,
    TENANTS,
    make_consumer,
    mongo_context,
    new_app,
    running_broker,
    service_broker,
    tenants_context,
)

from zoomsymbl_submitter.audio import AudioSource
from zoomsymbl_submitter.downmix import DOWNMIX_PREFIX, Downmixer
from zoomsymbl_submitter.handlers import register_subscribers
from zoomsymbl_submitter.held import TASK as HELD_TASK
from zoomsymbl_submitter.held import HeldSweeper
from zoomsymbl_submitter.jobs import JobStore
from zoomsymbl_submitter.meetings import MeetingStore
from zoomsymbl_submitter.metrics import SubmitterMetrics
from zoomsymbl_submitter.parts import SPLIT_PREFIX, PartPlanner, SplitSettings
from zoomsymbl_submitter.periodic import running
from zoomsymbl_submitter.plan import CallbackConfig
from zoomsymbl_submitter.pools import LimiterPool, LimiterSettings
from zoomsymbl_submitter.reclaim import Reclaimer
from zoomsymbl_submitter.settings import Settings
from zoomsymbl_submitter.submission import Publish, Submitter
from zoomsymbl_submitter.transcript_wait import TASK as TRANSCRIPT_WAIT_TASK
from zoomsymbl_submitter.transcript_wait import TranscriptWaits

SERVICE = "submitter"
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", SubmitterMetrics)
AUDIO = web.AppKey("audio", AudioSource)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SUBMITTER = web.AppKey("submitter", Submitter)
TRANSCRIPT_WAITS = web.AppKey("transcript_waits", TranscriptWaits)


def build_app(settings: Settings) -> web.Application:
    """The submitter app; resources open on start-up and close on shutdown."""
    metrics = SubmitterMetrics.create()
    app = new_app(SERVICE, settings.infra, registry=metrics.registry, consumes=True)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.extend(
        [
            tenants_context(symbl_dns="required"),
            mongo_context(),
            _storage_ctx,
            _http_ctx,
            _kafka_ctx,
            _reclaim_ctx,
            _held_ctx,
            _transcript_wait_ctx,
        ]
    )
    return app


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
        providers=ProviderPool(app[HTTP], submit_timeout=settings.submit_timeout_seconds, mongo=mongo),
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
    broker = service_broker(settings, SERVICE)

    async def publish(event: JobSubmitted | JobStatusReported | MeetingFailed) -> None:
        await publish_event(broker, settings.infra, event, timeout=settings.publish_timeout_seconds)

    for prefix in (SPLIT_PREFIX, DOWNMIX_PREFIX):  # a killed run's files, before new work
        await asyncio.to_thread(sweep, scratch_root(settings.work_dir), prefix)
    submitter = _submitter(app, publish)
    submitter.report = publish  # the zoom source's jobs are complete once submitted
    app[SUBMITTER] = submitter
    wait, check = settings.zoom_transcript_wait_seconds, settings.transcript_wait_check_seconds
    app[TRANSCRIPT_WAITS] = TranscriptWaits(submitter.meetings, publish, wait, check)
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        max_rate_limit_wait=settings.max_rate_limit_wait_seconds,
    )
    deadline = register_subscribers(
        broker,
        make_consumer(app, broker, SERVICE, policy),
        submitter.on_audio_mixed,
        submitter.meetings,
        publish_failure=publish,
        max_poll_interval_ms=settings.max_poll_interval_ms,
    )
    try:
        async with running_broker(app, broker):
            yield
    finally:
        await deadline.close()  # a meeting no handler waits for any more (its partition went elsewhere)


async def _reclaim_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, submitter = app[SETTINGS], app[SUBMITTER]
    reclaimer = Reclaimer(
        submitter.tenants,
        submitter.providers,
        submitter.limiters,
        submitter.jobs,
        app[METRICS],
        settings.reclaim_interval_seconds,
    )
    async with running(settings.reclaim_interval_seconds, reclaimer.run_forever, "limiter-reclaim"):
        yield


async def _held_ctx(app: web.Application) -> AsyncIterator[None]:
    """What leftover cleanups kept for unfinished jobs, judged again every ``leftovers_interval_seconds``."""
    settings, submitter = app[SETTINGS], app[SUBMITTER]
    forgotten = functools.partial(is_forgotten, app[MONGO])
    interval = settings.leftovers_interval_seconds
    sweeper = HeldSweeper(submitter.meetings, submitter.jobs, submitter.planner, forgotten, interval)
    async with running(interval, sweeper.run_forever, HELD_TASK):
        yield


async def _transcript_wait_ctx(app: web.Application) -> AsyncIterator[None]:
    """``zoom``-source meetings Zoom sent no transcript of in time, failed every ``transcript_wait_check_seconds``."""
    waits = app[TRANSCRIPT_WAITS]
    async with running(waits.interval, waits.run_forever, TRANSCRIPT_WAIT_TASK):
        yield
