"""The notifier's aiohttp application: callbacks, health, the job-status consumer and the sweeper.

Resources open in one cleanup context each, in order (MongoDB, HTTP session for the providers,
Kafka with the consumer, sweeper task) and close in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from zoomsymbl_common.attempts import MongoAttempts
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import Event
from zoomsymbl_common.health import add_health_routes, add_readiness_check
from zoomsymbl_common.kafka import Consumer, ConsumerMetrics, RetryPolicy, make_broker, publish_event, start_broker
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.mongo import Mongo, ensure_indexes, make_mongo
from zoomsymbl_common.providers.dns import resolvable_check
from zoomsymbl_common.tenants import Tenants, load_tenants

from zoomsymbl_notifier.handlers import register_subscribers
from zoomsymbl_notifier.insights import InsightsStore
from zoomsymbl_notifier.jobs import Jobs
from zoomsymbl_notifier.mail import SmtpTransport
from zoomsymbl_notifier.meetings import Meetings
from zoomsymbl_notifier.outbox import Backoff, Outbox
from zoomsymbl_notifier.pipeline import Pipeline
from zoomsymbl_notifier.providers import EnginePool, ProviderPool
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.slots import SlotReleaser
from zoomsymbl_notifier.sweeper import Sweeper
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes

SETTINGS = web.AppKey("settings", Settings)
TENANTS = web.AppKey("tenants", Tenants)
MONGO = web.AppKey("mongo", Mongo)
HTTP = web.AppKey("http", aiohttp.ClientSession)
BROKER = web.AppKey("broker", KafkaBroker)
PIPELINE = web.AppKey("pipeline", Pipeline)
SWEEPER = web.AppKey("sweeper", Sweeper)
REGISTRY = web.AppKey("registry", CollectorRegistry)


def build_app(settings: Settings, tenants: Tenants | None = None) -> web.Application:
    """The notifier, ready for ``web.run_app``; ``tenants`` defaults to :func:`load_tenants`."""
    register_secret(settings.callback_secret.get_secret_value())
    register_secret(settings.smtp_password.get_secret_value())
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[TENANTS] = tenants if tenants is not None else load_tenants()
    app[REGISTRY] = CollectorRegistry()
    add_health_routes(app, app[REGISTRY])
    symbl_urls = sorted({t.symbl_api_base for t in app[TENANTS].all() if t.provider == "symbl"})
    if symbl_urls:
        # Symbl's hosts have not resolved since 2026-08: say so at deployment, naming the host.
        add_readiness_check(app, "symbl-dns", resolvable_check(symbl_urls, what="symbl API"))
    add_webhook_routes(app)
    app.cleanup_ctx.extend([_mongo, _http, _kafka, _sweeper])
    return app


async def _mongo(app: web.Application) -> AsyncIterator[None]:
    mongo = make_mongo(app[SETTINGS].infra)
    await ensure_indexes(mongo)
    app[MONGO] = mongo
    add_readiness_check(app, "mongo", mongo.ping)
    yield
    await mongo.close()


async def _http(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[SETTINGS].provider_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP] = session
        yield


async def _kafka(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    infra = settings.infra
    broker = make_broker(infra, "notifier")
    pipeline = build_pipeline(app, broker)
    policy = RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
    )
    consumer = Consumer(
        broker,
        infra,
        "notifier",
        policy=policy,
        attempts=MongoAttempts(app[MONGO]),
        metrics=ConsumerMetrics(app[REGISTRY]),
    )
    register_subscribers(broker, consumer, pipeline, settings.kafka_session_timeout_ms)

    async def publish(event: Event, timeout: float) -> None:
        await publish_event(broker, infra, event, timeout=timeout)

    app[CALLBACK_DEPS] = CallbackDeps(settings, pipeline.jobs, publish, CallbackMetrics(app[REGISTRY]))
    app[BROKER] = broker
    app[PIPELINE] = pipeline
    await start_broker(broker)

    async def ping() -> None:
        if not await broker.ping(timeout=2.0):
            raise KafkaUnavailable("ping not answered")

    add_readiness_check(app, "kafka", ping)
    yield
    await broker.stop()


def build_pipeline(app: web.Application, broker: KafkaBroker) -> Pipeline:
    """The domain flow wired to this app's MongoDB, provider session, SMTP server and Kafka broker."""
    settings, mongo = app[SETTINGS], app[MONGO]
    backoff = Backoff(settings.mail_retry_base_seconds, settings.mail_retry_max_seconds, settings.mail_lease_seconds)

    async def publish(event: Event) -> None:
        await publish_event(broker, settings.infra, event)

    return Pipeline(
        settings=settings,
        tenants=app[TENANTS],
        jobs=Jobs(mongo),
        meetings=Meetings(mongo),
        insights=InsightsStore(mongo),
        outbox=Outbox(mongo, SmtpTransport(settings), backoff),
        provider_for=ProviderPool(app[HTTP], settings, mongo),
        engine_for=EnginePool(app[HTTP]),
        publish=publish,
        release_slot=SlotReleaser(mongo),
    )


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    sweeper = Sweeper(app[PIPELINE])
    app[SWEEPER] = sweeper
    stop = asyncio.Event()
    task = asyncio.create_task(sweeper.run_forever(stop), name="notifier-sweeper")
    yield
    stop.set()
    # Cancelling mid-send could leave an e-mail that did go out recorded as "sending", to be sent
    # again once its lease expires; so the current round may finish within the grace period.
    try:
        await asyncio.wait_for(task, timeout=app[SETTINGS].shutdown_timeout_seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
