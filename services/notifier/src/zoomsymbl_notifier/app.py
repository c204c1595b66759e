"""The notifier's aiohttp application: callbacks, link renewals, health, the job-status consumer and the sweeper.

Resources open in one cleanup context each, in order (tenants, MongoDB, HTTP session for the
providers, Kafka with the consumer, sweeper task) and close in reverse; the shared parts come from
:mod:`zoomsymbl_common.service`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from faststream.kafka import KafkaBroker
from zoomsymbl_common.background import background
from zoomsymbl_common.events import Event
from zoomsymbl_common.health import METRICS_REGISTRY
from zoomsymbl_common.kafka import RetryPolicy, publish_event
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.providers.pool import ProviderPool, SummaryWait
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
from zoomsymbl_common.tenants import Tenants

from zoomsymbl_notifier.digest import Digests
from zoomsymbl_notifier.fallback import Fallback
from zoomsymbl_notifier.handlers import register_digests, register_subscribers
from zoomsymbl_notifier.insights import InsightsStore
from zoomsymbl_notifier.jobs import Jobs
from zoomsymbl_notifier.meetings import Meetings
from zoomsymbl_notifier.metrics import FailureMetrics, MailMetrics
from zoomsymbl_notifier.outbox import Backoff, Outbox
from zoomsymbl_notifier.pipeline import SERVICE, Pipeline
from zoomsymbl_notifier.providers import EnginePool
from zoomsymbl_notifier.renewals import RENEWAL_DEPS, RenewalDeps, RenewalMetrics, add_renewal_routes
from zoomsymbl_notifier.settings import Settings
from zoomsymbl_notifier.slots import SlotReleaser
from zoomsymbl_notifier.smtp import SmtpTransport
from zoomsymbl_notifier.stalled import StalledMeetings
from zoomsymbl_notifier.sweeper import Sweeper
from zoomsymbl_notifier.webhooks import CALLBACK_DEPS, CallbackDeps, CallbackMetrics, add_webhook_routes

SETTINGS = web.AppKey("settings", Settings)
HTTP = web.AppKey("http", aiohttp.ClientSession)
BROKER = web.AppKey("broker", KafkaBroker)
PIPELINE = web.AppKey("pipeline", Pipeline)
SWEEPER = web.AppKey("sweeper", Sweeper)
REGISTRY = METRICS_REGISTRY  # the app's metrics registry (the health module's key)
log = logging.getLogger("zoomsymbl.notifier.app")


def build_app(settings: Settings, tenants: Tenants | None = None) -> web.Application:
    """The notifier, ready for ``web.run_app``; ``tenants`` defaults to :func:`load_tenants` at start-up."""
    register_secret(settings.callback_secret.get_secret_value())
    register_secret(settings.smtp_password.get_secret_value())
    register_secret(settings.page_key.get_secret_value())
    register_secret(settings.page_key_previous.get_secret_value())
    if not settings.page_key.get_secret_value():
        log.info("no page key, report e-mails carry no meeting page link", extra={"setting": "page_key"})
    app = new_app(SERVICE, settings.infra, consumes=True, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    add_webhook_routes(app)
    add_renewal_routes(app)
    contexts = [tenants_context(tenants, symbl_dns="reported"), mongo_context(), _renewals, _http, _kafka, _sweeper]
    app.cleanup_ctx.extend(contexts)
    return app


async def _renewals(app: web.Application) -> AsyncIterator[None]:
    app[RENEWAL_DEPS] = RenewalDeps(app[SETTINGS], app[TENANTS], app[MONGO], RenewalMetrics(app[REGISTRY]))
    yield


async def _http(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[SETTINGS].provider_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP] = session
        yield


async def _kafka(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    infra = settings.infra
    broker = service_broker(settings, SERVICE)
    pipeline = build_pipeline(app, broker)
    policy = RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay=settings.retry_base_delay_seconds,
        max_delay=settings.retry_max_delay_seconds,
    )
    consumer = make_consumer(app, broker, SERVICE, policy)
    digests = Digests(app[MONGO], app[TENANTS], pipeline.outbox, settings.mail_from)
    deadlines = [
        *register_subscribers(
            broker, consumer, pipeline, settings.kafka_session_timeout_ms, concurrent_jobs=settings.concurrent_jobs
        ),
        register_digests(broker, consumer, digests, settings.kafka_session_timeout_ms),
    ]

    async def publish(event: Event, timeout: float) -> None:
        await publish_event(broker, infra, event, timeout=timeout)

    app[CALLBACK_DEPS] = CallbackDeps(settings, pipeline.jobs, publish, CallbackMetrics(app[REGISTRY]))
    app[BROKER] = broker
    app[PIPELINE] = pipeline
    try:
        async with running_broker(app, broker):
            yield
    finally:
        for deadline in deadlines:  # work no handler waits for any more (its partition went elsewhere)
            await deadline.close()


def build_pipeline(app: web.Application, broker: KafkaBroker) -> Pipeline:
    """The domain flow wired to this app's MongoDB, provider session, SMTP server and Kafka broker."""
    settings, mongo = app[SETTINGS], app[MONGO]
    backoff = Backoff.of(settings)
    summary_wait = SummaryWait(settings.summary_retry_attempts, settings.summary_retry_delay_seconds)

    async def publish(event: Event) -> None:
        await publish_event(broker, settings.infra, event)

    return Pipeline(
        settings=settings,
        tenants=app[TENANTS],
        jobs=Jobs(mongo),
        meetings=Meetings(mongo),
        insights=InsightsStore(mongo),
        outbox=Outbox(mongo, SmtpTransport(settings), backoff, metrics=MailMetrics(app[REGISTRY])),
        provider_for=ProviderPool(app[HTTP], mongo=mongo, summary_wait=summary_wait).get,
        engine_for=EnginePool(app[HTTP]),
        publish=publish,
        release_slot=SlotReleaser(mongo),
        count_failure=FailureMetrics(app[REGISTRY]).count,
        fallback=Fallback(mongo, settings.infra),
    )


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    sweeper = Sweeper(app[PIPELINE], StalledMeetings(app[MONGO], app[REGISTRY], app[SETTINGS].stalled_after_seconds))
    app[SWEEPER] = sweeper
    stop = asyncio.Event()
    # Cancelling mid-send could leave an e-mail that did go out recorded as "sending", to be sent
    # again once its lease expires; so the current round may finish within the grace period.
    grace = app[SETTINGS].shutdown_timeout_seconds
    async with background(sweeper.run_forever(stop), "notifier-sweeper", grace=grace, stop=stop.set):
        yield
