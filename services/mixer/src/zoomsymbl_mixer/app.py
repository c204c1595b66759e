"""The mixer's aiohttp application: resources opened in order, closed in reverse, health and metrics.

Order: tenants → MongoDB (indexes) → S3 (bucket) → HTTP sessions (Zoom API, downloads) → Kafka
(subscriber registered, then started); the shared parts come from :mod:`zoomsymbl_common.service`.
Downloads use two sessions: a strict one whose resolver refuses private addresses, and one for
tenants configured with ``allow_private_download_hosts`` (the sandbox). Neither keeps cookies, so
nothing leaks between tenants.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from zoomsymbl_common.events import AudioMixed, MeetingFailed
from zoomsymbl_common.health import add_readiness_check
from zoomsymbl_common.kafka import RetryPolicy, publish_event
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.scratch import sweep
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
from zoomsymbl_common.storage import ObjectStore
from zoomsymbl_common.tenants import TenantConfig, has_oauth
from zoomsymbl_common.zoom import ZoomClient
from zoomsymbl_common.zoom_quota import QuotaMetrics, ZoomQuota

from zoomsymbl_mixer.config import MixConfig
from zoomsymbl_mixer.credentials import RecordingsApi
from zoomsymbl_mixer.download import DownloadPolicy, Fetcher
from zoomsymbl_mixer.ffmpeg import SilenceSettings
from zoomsymbl_mixer.handlers import SERVICE, MixerMetrics, give_up, on_recording_completed, register_subscribers
from zoomsymbl_mixer.hosts import GuardedResolver, HostPolicy
from zoomsymbl_mixer.mixing import SCRATCH_PREFIX, Mixer
from zoomsymbl_mixer.settings import Settings
from zoomsymbl_mixer.state import MeetingState
from zoomsymbl_mixer.transcripts import TranscriptMixer

SETTINGS = web.AppKey("settings", Settings)
OBJECTS = web.AppKey("objects", ObjectStore)
MIXER = web.AppKey("mixer", Mixer)
METRICS = web.AppKey("metrics", MixerMetrics)
QUOTA_METRICS = web.AppKey("quota_metrics", QuotaMetrics)


def download_session(settings: Settings, *, allow_private: bool) -> aiohttp.ClientSession:
    """A session for Zoom downloads: guarded resolver, no cookies, read timeout, no decompression."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=allow_private), limit=64)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=settings.download_read_timeout_seconds)
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    )


def mix_config(settings: Settings) -> MixConfig:
    """The mix knobs of ``settings``."""
    return MixConfig(
        scratch_dir=settings.scratch_dir,
        scratch_limit=settings.scratch_limit_bytes,
        output_format=settings.output_format,
        silence=SilenceSettings(settings.silence_threshold_db, settings.silence_min_seconds),
        opus_bitrate_per_channel=settings.opus_bitrate_per_channel,
        opus_complexity=settings.opus_complexity,
        ffmpeg_timeout=settings.ffmpeg_timeout_seconds,
        probe_timeout=settings.ffprobe_timeout_seconds,
        concurrency=settings.download_concurrency,
        part_bytes=settings.raw_part_bytes,
        upload_parallel=settings.upload_parallel,
        single_put_max=settings.single_put_max_bytes,
        mp4_direct_track_hours=settings.mp4_direct_track_hours,
        token_margin=timedelta(seconds=settings.token_expiry_margin_seconds),
        token_wait=settings.download_token_wait_seconds,
    )


def download_policy(settings: Settings) -> DownloadPolicy:
    """The per-file retry policy of ``settings``."""
    return DownloadPolicy(
        retries=settings.download_retries,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
        max_redirects=settings.max_redirects,
        chunk_bytes=settings.download_chunk_bytes,
        min_bytes_per_second=settings.download_min_bytes_per_second,
        time_allowance=settings.download_time_allowance_seconds,
    )


async def _storage(app: web.Application) -> AsyncIterator[None]:
    objects = ObjectStore(app[SETTINGS].infra, timeout=app[SETTINGS].s3_timeout_seconds)
    await objects.ensure_bucket()
    app[OBJECTS] = objects
    add_readiness_check(app, "s3", objects.ping)
    yield


class ZoomAccess:
    """The HTTP sessions of downloads and API calls, and the per-tenant fetchers and clients on them.

    The mixer's Zoom API calls are webhook-driven work: they count in the account's shared quota (MongoDB,
    ``zoom_quota.py``) as ``priority``, so they may use the share a backfill leaves free.
    """

    def __init__(
        self, settings: Settings, mongo: Mongo | None = None, quota_metrics: QuotaMetrics | None = None
    ) -> None:
        self.mongo = mongo
        self.quota_metrics = quota_metrics or QuotaMetrics.create()
        self.strict = download_session(settings, allow_private=False)
        self.private = download_session(settings, allow_private=True)
        self.api = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), cookie_jar=aiohttp.DummyCookieJar())
        self.policy = download_policy(settings)
        self.clients: dict[str, ZoomClient] = {}

    def fetcher_for(self, tenant: TenantConfig) -> Fetcher:
        """Downloads under the tenant's host policy (loopback only where the tenant allows it)."""
        hosts = HostPolicy(tenant.download_allowed_hosts, tenant.allow_private_download_hosts)
        return Fetcher(self.private if tenant.allow_private_download_hosts else self.strict, hosts, self.policy)

    def api_for(self, tenant: TenantConfig) -> RecordingsApi | None:
        """The tenant's Zoom API client (one per tenant: it caches the OAuth token), if it has OAuth."""
        if not has_oauth(tenant):
            return None
        client = self.clients.get(tenant.id)
        if client is None:
            quota = ZoomQuota.of_tenant(self.mongo, tenant, self.quota_metrics) if self.mongo is not None else None
            client = self.clients[tenant.id] = ZoomClient(tenant, session=self.api, quota=quota, priority="priority")
        return client

    async def close(self) -> None:
        """Close every session."""
        for session in (self.api, self.private, self.strict):
            await session.close()


async def _mixer(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    broker = service_broker(settings, SERVICE)
    kafka_timeout = max(10.0, settings.infra.kafka_request_timeout_ms / 1000)

    async def publish(event: AudioMixed) -> None:
        await publish_event(broker, settings.infra, event)

    async def publish_failure(event: MeetingFailed) -> None:
        # As patient as the dead letter that follows: a timeout here redelivers the event and redoes the meeting.
        await publish_event(broker, settings.infra, event, timeout=kafka_timeout)

    await asyncio.to_thread(sweep, settings.scratch_dir, SCRATCH_PREFIX)  # a killed run's tracks, before new work
    zoom = ZoomAccess(settings, app[MONGO], app[QUOTA_METRICS])
    try:
        state = MeetingState(app[MONGO].db)
        config = mix_config(settings)
        mixer = Mixer(
            state=state,
            objects=app[OBJECTS],
            tenants=app[TENANTS],
            fetcher_for=zoom.fetcher_for,
            api_for=zoom.api_for,
            publish=publish,
            config=config,
        )
        # Zoom's own transcript files (TRANSCRIPT, CC) are stored first and named in AudioMixed.
        transcripts = TranscriptMixer(
            mixer,
            state,
            app[OBJECTS],
            app[TENANTS],
            zoom.fetcher_for,
            zoom.api_for,
            token_margin=config.token_margin,
            progress=mixer.progress,
        )
        app[MIXER] = mixer
        deadline = register_subscribers(
            broker,
            make_consumer(app, broker, SERVICE, retry_policy(settings)),
            partial(on_recording_completed, mixer=transcripts, metrics=app[METRICS], tombstones=state),
            give_up(mixer.state, app[METRICS], publish_failure, mixer.announce, mixer.progress),
            concurrent_meetings=settings.concurrent_meetings,
            max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        )
        try:
            async with running_broker(app, broker, timeout=kafka_timeout):
                yield
        finally:
            await deadline.close()  # a meeting no handler waits for any more (its partition went elsewhere)
    finally:
        await zoom.close()


def retry_policy(settings: Settings) -> RetryPolicy:
    """How patiently the mixer retries a meeting."""
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
    )


def build_app(settings: Settings) -> web.Application:
    """The mixer application; resources open when it starts and close when it stops."""
    registry = CollectorRegistry()
    app = new_app(SERVICE, settings.infra, registry=registry, consumes=True)
    app[SETTINGS] = settings
    app[METRICS] = MixerMetrics(registry)
    app[QUOTA_METRICS] = QuotaMetrics.create(registry)
    app.cleanup_ctx.extend([tenants_context(), mongo_context(), _storage, _mixer])
    return app
