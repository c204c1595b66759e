"""Kafka through FastStream: a broker factory, typed publishing, and the consumer policy.

Publishing waits for the broker's acknowledgement (acks=all, idempotent producer) within a deadline
and raises :class:`KafkaUnavailable` instead of hanging. The consumer policy (:class:`Consumer`,
:class:`RetryPolicy`) lives in :mod:`zoomsymbl_common.consumer`, its dead letters (:func:`dead_letter`) in
:mod:`zoomsymbl_common.dead_letters`; both are re-exported here.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

from zoomsymbl_common.consumer import Consumer as Consumer
from zoomsymbl_common.consumer import GiveUp as GiveUp
from zoomsymbl_common.consumer import RetryPolicy as RetryPolicy
from zoomsymbl_common.consumer import event_key as event_key
from zoomsymbl_common.dead_letters import ConsumerMetrics as ConsumerMetrics
from zoomsymbl_common.dead_letters import dead_letter as dead_letter
from zoomsymbl_common.errors import KafkaUnavailable
from zoomsymbl_common.events import Event
from zoomsymbl_common.kafka_producer import publish_acknowledged
from zoomsymbl_common.kafka_producer import start_client as start_client
from zoomsymbl_common.kafka_security import broker_security, check_connection
from zoomsymbl_common.settings import InfraSettings

_BOOTSTRAP: weakref.WeakKeyDictionary[KafkaBroker, str] = weakref.WeakKeyDictionary()
_INFRA: weakref.WeakKeyDictionary[KafkaBroker, InfraSettings] = weakref.WeakKeyDictionary()


def make_broker(infra: InfraSettings, service: str, *, graceful_timeout: float = 30.0) -> KafkaBroker:
    """A broker whose publishes are durable (acks=all, idempotent) and traced (W3C headers).

    Stopping it waits up to ``graceful_timeout`` seconds for the messages its subscribers have in hand, then
    cancels them (uncommitted: redelivered). A service passes its ``shutdown_timeout_seconds``
    (:func:`zoomsymbl_common.service.service_broker`), which the chart's termination grace is made of.
    TLS and SASL come from :func:`zoomsymbl_common.kafka_security.broker_security` (docs/kafka-security.md).
    """
    broker = KafkaBroker(
        infra.kafka_bootstrap,
        security=broker_security(infra),
        client_id=f"zoomsymbl-{service}",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=max(infra.kafka_request_timeout_ms, 1000),
        middlewares=(KafkaTelemetryMiddleware(),),
        logger=logging.getLogger(f"zoomsymbl.{service}.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
    )
    _BOOTSTRAP[broker] = infra.kafka_bootstrap
    _INFRA[broker] = infra
    return broker


async def start_broker(broker: KafkaBroker, *, timeout: float = 10.0) -> None:
    """Connect ``broker``; raises :class:`KafkaUnavailable` (and cleans up) when Kafka does not answer."""
    # Probe first: a producer whose start() failed cannot be closed through FastStream and leaks.
    await probe_bootstrap(_BOOTSTRAP.get(broker, "localhost:9092"), timeout=min(timeout, 3.0))
    if (infra := _INFRA.get(broker)) is not None:
        # TLS handshake and SASL login too: a refusal is named here (KafkaSecurityRefused), not "cannot connect".
        await check_connection(infra, timeout=min(timeout, 5.0))
    try:
        async with asyncio.timeout(timeout):
            await broker.start()
    except (TimeoutError, KafkaError, OSError) as exc:
        await broker.stop()
        raise KafkaUnavailable(f"cannot connect: {type(exc).__name__}") from exc


def kafka_check(broker: KafkaBroker, *, timeout: float = 2.0) -> Callable[[], Awaitable[None]]:
    """The readiness check of every service's Kafka: the started ``broker`` answers a metadata request.

    Not started (or stopping) counts as unavailable, so a service that connects in the background
    is unready until it is connected.
    """

    async def check() -> None:
        if not await broker.ping(timeout=timeout):
            raise KafkaUnavailable("no answer to ping")

    return check


async def probe_bootstrap(servers: list[str] | str, *, timeout: float = 3.0) -> None:
    """Raise :class:`KafkaUnavailable` unless one bootstrap server accepts a TCP connection."""
    hosts = servers.split(",") if isinstance(servers, str) else servers
    for server in hosts:
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host or "localhost", int(port))
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise KafkaUnavailable(f"no bootstrap server reachable among {hosts!r}")


def topic_name(infra: InfraSettings, base: str) -> str:
    """The full topic name for ``base`` (e.g. ``audio.mixed.v1``) under the configured prefix."""
    return f"{infra.kafka_topic_prefix}{base}"


async def publish_event(
    broker: KafkaBroker,
    infra: InfraSettings,
    event: Event,
    *,
    timeout: float | None = None,
    topic: str | None = None,
) -> None:
    """Publish ``event`` to its topic and return only once Kafka acknowledged it.

    Raises :class:`KafkaUnavailable` when no acknowledgement arrives within ``timeout`` seconds; a producer that lost
    its sequence with the broker is renewed first (:mod:`zoomsymbl_common.kafka_producer`).
    """
    deadline = timeout if timeout is not None else infra.kafka_request_timeout_ms / 1000
    await publish_acknowledged(
        broker,
        event.model_dump_json().encode(),
        topic=topic or topic_name(infra, event.topic),
        key=event_key(event),
        headers={"event_id": event.event_id, "event_type": type(event).__name__},
        timeout=deadline,
    )
