"""The skeleton every service shares, so that a service declares only what is its own.

A service names its settings class, its resources (aiohttp cleanup contexts), its routes and its
handlers; this module does the rest, the same way in each:

- :func:`run` (the console script and ``python -m``): settings loaded once, a configuration error —
  in the environment or raised while a resource opens — ends the process with :data:`EXIT_CONFIG`
  and one line naming the variables; JSON logs; tracing; serve until SIGTERM, drain within the
  service's grace period, flush traces.
- :func:`new_app`: ``/healthz``, ``/readyz``, ``/metrics``, ``/version`` and ``zoomsymbl_build_info``.
- :func:`tenants_context`: no service starts without a tenant (one message for all).
- :func:`mongo_context`, :func:`running_broker`, :func:`make_consumer`: MongoDB and Kafka opened,
  checked by ``/readyz`` and closed the same way everywhere; the consumers' attempt counts
  (``app[ATTEMPTS]``) deleted behind the messages, and what is left deleted before MongoDB closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, NoReturn, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from zoomsymbl_common.attempts import MongoAttempts
from zoomsymbl_common.consumer import Consumer, RetryPolicy
from zoomsymbl_common.dead_letters import ConsumerMetrics
from zoomsymbl_common.errors import ConfigError
from zoomsymbl_common.health import METRICS_REGISTRY, add_health_routes, add_readiness_check, add_version_route
from zoomsymbl_common.kafka import kafka_check, make_broker, start_broker
from zoomsymbl_common.logs import setup_logging
from zoomsymbl_common.mongo import Mongo, ensure_indexes, make_mongo
from zoomsymbl_common.providers.dns import resolvable_check, unresolvable_hosts
from zoomsymbl_common.settings import InfraSettings, load_settings
from zoomsymbl_common.telemetry import setup_tracing
from zoomsymbl_common.tenants import Tenants, load_tenants

EXIT_CONFIG = 2
"""The exit code of every configuration error, whichever service and whenever during start-up."""

log = logging.getLogger("zoomsymbl.service")
INFRA = web.AppKey("infra", InfraSettings)
TENANTS = web.AppKey("tenants", Tenants)
MONGO = web.AppKey("mongo", Mongo)
ATTEMPTS = web.AppKey("attempts", MongoAttempts)
CONSUMER_METRICS = web.AppKey("consumer_metrics", ConsumerMetrics)
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


class ServiceSettings(BaseSettings):
    """What every service's settings have; a service's ``Settings`` subclasses it with its env prefix.

    A subclass overrides ``http_port`` (each service has its own) and, where its work takes longer
    to drain, ``shutdown_timeout_seconds``.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    infra: InfraSettings = Field(default_factory=InfraSettings)
    http_host: str = Field("0.0.0.0", description="Address the HTTP server binds.")  # noqa: S104 (a pod's port)
    http_port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP server (health, metrics, version).")
    shutdown_timeout_seconds: float = Field(30.0, gt=0, description="Grace period for in-flight work on SIGTERM.")


S = TypeVar("S", bound=ServiceSettings)


def config_exit(service: str, exc: ConfigError) -> NoReturn:
    """End the process as every service ends on a configuration error: one line on stderr, exit 2."""
    print(f"zoomsymbl-{service}: {exc}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def load_or_exit(service: str, settings_cls: type[S]) -> S:
    """The service's settings from the environment (else :func:`config_exit`), and JSON logs at their level."""
    try:
        settings = load_settings(settings_cls)
    except ConfigError as exc:
        config_exit(service, exc)
    setup_logging(settings.infra.log_level)
    return settings


def serve(
    service: str,
    settings: S,
    build_app: Callable[[S], web.Application],
    *,
    access_log_class: type[AbstractAccessLogger] | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Trace, build the app and serve it until SIGTERM; a ConfigError while resources open exits 2.

    ``loop_factory`` makes the event loop (ingest: uvloop's, for the webhook rate); asyncio's otherwise.
    """
    stop_tracing = setup_tracing(f"zoomsymbl-{service}")
    logging_options: dict[str, Any] = (
        {"access_log_class": access_log_class} if access_log_class is not None else {"access_log": None}
    )
    try:
        app = build_app(settings)
        quiet_garbage_collector()
        web.run_app(
            app,
            loop=loop_factory() if loop_factory is not None else None,
            host=settings.http_host,
            port=settings.http_port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            print=None,
            **logging_options,
        )
    except ConfigError as exc:
        config_exit(service, exc)
    finally:
        stop_tracing()


def quiet_garbage_collector(young_threshold: int = 10_000) -> None:
    """Keep the cyclic garbage collector off the request path.

    Everything alive once the app is built (modules, settings, the app) lives as long as the process,
    yet every full collection walked it again: in ingest under load 10 full collections of ~50 ms
    each in 10 s, the slowest requests waiting behind them, and about a tenth of its CPU in the
    collector (issue 21). ``gc.freeze()`` moves those objects out of the collector's sight, and a
    higher first threshold lets a request's short-lived objects die by reference count before a
    young collection looks at them (measured: 1 young collection instead of ~1,200 per run at 20,000).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def run(
    service: str,
    settings_cls: type[S],
    build_app: Callable[[S], web.Application],
    *,
    access_log_class: type[AbstractAccessLogger] | None = None,
) -> None:
    """The whole life of a service process: settings → logging → tracing → app → serve → drain."""
    settings = load_or_exit(service, settings_cls)
    serve(service, settings, build_app, access_log_class=access_log_class)


def new_app(
    service: str,
    infra: InfraSettings,
    *,
    registry: CollectorRegistry | None = None,
    consumes: bool = False,
    client_max_size: int = 1024**2,
) -> web.Application:
    """An app with the routes every service has (health, readiness, metrics, version) and no resources yet.

    A service that ``consumes`` Kafka topics also gets the consumer policy's metrics (dead letters) on
    its registry from the start, so the series exist before the first message.
    """
    app = web.Application(client_max_size=client_max_size)
    app[INFRA] = infra
    add_health_routes(app, registry if registry is not None else CollectorRegistry())
    add_version_route(app, service)
    if consumes:
        app[CONSUMER_METRICS] = ConsumerMetrics(app[METRICS_REGISTRY])
    return app


NO_TENANT = "no tenant configured: set ZOOMSYMBL_TENANTS_FILE or ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"


def require_tenants(tenants: Tenants) -> Tenants:
    """``tenants``, or the one :class:`ConfigError` every service stops with when there is none."""
    if not tenants.all():
        raise ConfigError(NO_TENANT, variables=("ZOOMSYMBL_TENANTS_FILE", "ZOOMSYMBL_TENANT_ZOOM_WEBHOOK_SECRET"))
    return tenants


def tenants_context(
    tenants: Tenants | None = None, *, symbl_dns: Literal["required", "reported"] | None = None
) -> CleanupContext:
    """Load the tenants (or take ``tenants``), refusing to start without one.

    With ``symbl_dns``, ``/readyz`` names the host while a Symbl tenant's API host does not resolve
    (Symbl's hosts have not resolved since 2026-08): said at deployment, before any meeting. ``required``
    fails readiness (the submitter, which would submit there); ``reported`` only says so (the notifier,
    whose webhooks serve every tenant, stays ready).
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[TENANTS] = require_tenants(tenants if tenants is not None else load_tenants())
        log.info("tenants loaded", extra={"tenants": {t.id: t.provider for t in app[TENANTS].all()}})
        if symbl_dns is not None:
            await _check_symbl_hosts(app, app[TENANTS], required=symbl_dns == "required")
        yield

    return context


async def _check_symbl_hosts(app: web.Application, tenants: Tenants, *, required: bool) -> None:
    urls = sorted({t.symbl_api_base for t in tenants.all() if t.provider == "symbl"})
    if not urls:
        return
    add_readiness_check(app, "symbl-dns", resolvable_check(urls, what="symbl API"), required=required)
    missing = await unresolvable_hosts(urls)
    if missing:
        log.error("symbl api host does not resolve", extra={"hosts": missing})


def mongo_context(*, indexes: bool = True, required: bool = True) -> CleanupContext:
    """Open MongoDB (``app[MONGO]``), create the indexes first unless ``indexes`` is False, check it in /readyz
    (a failure only reported, the pod still ready, unless ``required``).

    ``app[ATTEMPTS]`` is the consumers' attempt store on it (:func:`make_consumer`): it deletes the
    counts of done messages behind them, and the rest when this context closes — after the contexts
    opened later (Kafka, its consumers) have closed, before MongoDB does.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        mongo = make_mongo(app[INFRA])
        attempts = MongoAttempts(mongo)
        try:
            if indexes:
                await ensure_indexes(mongo)
            app[MONGO] = mongo
            app[ATTEMPTS] = attempts
            add_readiness_check(app, "mongo", mongo.ping, required=required)
            yield
        finally:
            await attempts.close()
            await mongo.close()

    return context


def service_broker(settings: ServiceSettings, service: str) -> KafkaBroker:
    """The broker of a consuming ``service``: on SIGTERM its messages in hand get ``shutdown_timeout_seconds``.

    That is the grace each service's setting promises and the chart's ``terminationGracePeriodSeconds`` counts
    (``zoomsymbl.terminationGrace``); a fixed 30 s cancelled the mixer's meeting in hand half-way through its 60 s.
    """
    return make_broker(settings.infra, service, graceful_timeout=settings.shutdown_timeout_seconds)


@contextlib.asynccontextmanager
async def running_broker(app: web.Application, broker: KafkaBroker, *, timeout: float = 10.0) -> AsyncIterator[None]:
    """Start ``broker`` (its subscribers registered), check it in /readyz, stop it on the way out."""
    await start_broker(broker, timeout=timeout)
    add_readiness_check(app, "kafka", kafka_check(broker))
    try:
        yield
    finally:
        await broker.stop()


def make_consumer(app: web.Application, broker: KafkaBroker, service: str, policy: RetryPolicy) -> Consumer:
    """The consumer policy of ``service``: attempts counted in MongoDB (``app[ATTEMPTS]``, from
    :func:`mongo_context`, which deletes what is left of them on shutdown), dead letters counted on
    the app's registry."""
    metrics = app[CONSUMER_METRICS]  # a KeyError here: new_app(..., consumes=True) was forgotten
    return Consumer(broker, app[INFRA], service, policy, attempts=app[ATTEMPTS], metrics=metrics)
