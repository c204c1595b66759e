"""Kafka through FastStream: a broker factory, typed publishing, and the consumer policy.

Publishing waits for the broker's acknowledgement (acks=all, idempotent producer) within a deadline
and raises :class:`KafkaUnavailable` instead of hanging. :func:`consume` applies the one policy
every consumer shares: invalid input and poison errors go to ``<topic>.dlq`` at once, retryable
errors are retried with backoff and dead-lettered after the attempt budget, 429s and outages of
our own servers (Kafka, MongoDB, S3) wait without spending it. A failure to dead-letter propagates,
so the offset is not committed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from pydantic import ValidationError

from zoomsymbl_common.errors import (
    InfrastructureUnavailable,
    KafkaUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
)
from zoomsymbl_common.events import DeadLetter, Event
from zoomsymbl_common.settings import InfraSettings

log = logging.getLogger("zoomsymbl.kafka")
E = TypeVar("E", bound=Event)
_BOOTSTRAP: weakref.WeakKeyDictionary[KafkaBroker, str] = weakref.WeakKeyDictionary()


def make_broker(infra: InfraSettings, service: str) -> KafkaBroker:
    """A broker whose publishes are durable (acks=all, idempotent) and traced (W3C headers)."""
    broker = KafkaBroker(
        infra.kafka_bootstrap,
        client_id=f"zoomsymbl-{service}",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=max(infra.kafka_request_timeout_ms, 1000),
        middlewares=(KafkaTelemetryMiddleware(),),
        logger=logging.getLogger(f"zoomsymbl.{service}.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
    )
    _BOOTSTRAP[broker] = infra.kafka_bootstrap
    return broker


async def start_broker(broker: KafkaBroker, *, timeout: float = 10.0) -> None:
    """Connect ``broker``; raises :class:`KafkaUnavailable` (and cleans up) when Kafka does not answer."""
    # Probe first: a producer whose start() failed cannot be closed through FastStream and leaks.
    await probe_bootstrap(_BOOTSTRAP.get(broker, "localhost:9092"), timeout=min(timeout, 3.0))
    try:
        await asyncio.wait_for(broker.start(), timeout=timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        await broker.stop()
        raise KafkaUnavailable(f"cannot connect: {type(exc).__name__}") from exc


async def probe_bootstrap(servers: list[str] | str, *, timeout: float = 3.0) -> None:
    """Raise :class:`KafkaUnavailable` unless one bootstrap server accepts a TCP connection."""
    hosts = servers.split(",") if isinstance(servers, str) else servers
    for server in hosts:
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "localhost", int(port)), timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise KafkaUnavailable(f"no bootstrap server reachable among {hosts!r}")


def topic_name(infra: InfraSettings, base: str) -> str:
    """The full topic name for ``base`` (e.g. ``audio.mixed.v1``) under the configured prefix."""
    return f"{infra.kafka_topic_prefix}{base}"


def event_key(event: Event) -> bytes:
    """Partition key: all events of one meeting land on one partition, in order."""
    return f"{event.tenant}\x1f{event.meeting_uuid}".encode()


async def publish_event(
    broker: KafkaBroker,
    infra: InfraSettings,
    event: Event,
    *,
    timeout: float | None = None,
    topic: str | None = None,
) -> None:
    """Publish ``event`` to its topic and return only once Kafka acknowledged it.

    Raises :class:`KafkaUnavailable` when no acknowledgement arrives within ``timeout`` seconds.
    """
    deadline = timeout if timeout is not None else infra.kafka_request_timeout_ms / 1000
    destination = topic or topic_name(infra, event.topic)
    try:
        await asyncio.wait_for(
            broker.publish(
                event.model_dump_json().encode(),
                topic=destination,
                key=event_key(event),
                headers={"event_id": event.event_id, "event_type": type(event).__name__},
            ),
            timeout=deadline,
        )
    except (TimeoutError, KafkaError) as exc:
        raise KafkaUnavailable(f"publish to {destination!r} not acknowledged: {type(exc).__name__}") from exc


async def dead_letter(
    broker: KafkaBroker,
    infra: InfraSettings,
    letter: DeadLetter,
    *,
    timeout: float = 10.0,
) -> None:
    """Publish ``letter`` to the dead-letter topic of its source topic (acknowledged, or raises)."""
    destination = DeadLetter.topic_for(letter.source_topic)
    try:
        await asyncio.wait_for(
            broker.publish(
                letter.model_dump_json().encode(),
                topic=destination,
                headers={"reason": letter.reason[:200], "event_id": letter.event_id or ""},
            ),
            timeout=timeout,
        )
    except (TimeoutError, KafkaError) as exc:
        raise KafkaUnavailable(f"dead-letter to {destination!r} not acknowledged") from exc
    log.warning(
        "message dead-lettered",
        extra={"topic": destination, "reason": letter.reason, "event_id": letter.event_id},
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a consumer retries a retryable failure."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_rate_limit_wait: float = 300.0
    # Our own servers (Kafka, MongoDB, S3) being down is not the meeting's fault: such failures wait
    # (backoff up to max_delay) without spending the attempt budget, for up to this long per message.
    max_outage_wait: float = 1800.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the given 1-based attempt."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


GiveUp = Callable[[Event | None, str, str], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """The shared consumer policy of one service for one topic."""

    broker: KafkaBroker
    infra: InfraSettings
    service: str
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    async def consume(
        self,
        source_topic: str,
        body: bytes,
        model: type[E],
        handler: Callable[[E], Awaitable[None]],
        on_give_up: GiveUp | None = None,
    ) -> None:
        """Parse ``body`` as ``model`` and run ``handler`` under the retry/dead-letter policy."""
        try:
            event = model.model_validate_json(body)
        except ValidationError as exc:
            reason = f"invalid {model.__name__}: {exc.error_count()} error(s): {_first_error(exc)}"
            await self._give_up(source_topic, body, None, reason, "ValidationError", 1, on_give_up, "parse")
            return
        attempt = 1
        outage_waited = 0.0
        outage_waits = 0
        while True:
            try:
                await handler(event)
                return
            except PoisonInputError as exc:
                await self._give_up(
                    source_topic, body, event, exc.reason, type(exc).__name__, attempt, on_give_up, exc.stage
                )
                return
            except RateLimitedError as exc:
                wait = min(exc.retry_after or self.policy.delay(1), self.policy.max_rate_limit_wait)
                log.info("rate limited, waiting", extra={"seconds": wait, "event_id": event.event_id})
                await self.sleep(wait)
            except InfrastructureUnavailable as exc:
                if outage_waited >= self.policy.max_outage_wait:
                    reason = f"gave up after {outage_waited:.0f} s of infrastructure outage: {exc}"
                    await self._give_up(
                        source_topic, body, event, reason, type(exc).__name__, attempt, on_give_up, "retry"
                    )
                    return
                outage_waits += 1
                delay = self.policy.delay(min(outage_waits, 20))
                log.warning(
                    "infrastructure unavailable, waiting",
                    extra={"error": str(exc), "waited": round(outage_waited, 1), "delay": delay,
                           "event_id": event.event_id},
                )  # fmt: skip
                outage_waited += delay
                await self.sleep(delay)
            except RetryableError as exc:
                if attempt >= self.policy.max_attempts:
                    reason = f"gave up after {attempt} attempts: {exc}"
                    await self._give_up(
                        source_topic, body, event, reason, type(exc).__name__, attempt, on_give_up, "retry"
                    )
                    return
                delay = self.policy.delay(attempt)
                log.warning(
                    "retryable failure",
                    extra={"error": str(exc), "attempt": attempt, "delay": delay, "event_id": event.event_id},
                )
                attempt += 1
                await self.sleep(delay)

    async def _give_up(
        self,
        source_topic: str,
        body: bytes,
        event: Event | None,
        reason: str,
        error_type: str,
        attempts: int,
        on_give_up: GiveUp | None,
        stage: str,
    ) -> None:
        if on_give_up is not None:
            await on_give_up(event, stage, reason)
        letter = DeadLetter(
            source_topic=source_topic,
            service=self.service,
            reason=reason,
            error_type=error_type,
            attempts=attempts,
            payload=body.decode("utf-8", errors="replace"),
            event_id=event.event_id if event else None,
        )
        await dead_letter(self.broker, self.infra, letter)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"
