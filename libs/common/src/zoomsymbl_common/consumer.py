"""The consumer policy every service shares, and dead letters.

:meth:`Consumer.consume` parses a message and runs its handler: invalid input and poison errors
go to ``<topic>.dlq`` at once; retryable errors and exceptions no zoomsymbl code anticipated are
retried with backoff and dead-lettered after the attempt budget; 429s and outages of our own
servers (Kafka, MongoDB, S3) wait without spending it. Attempts are counted before they run (in
MongoDB where a service gives a store), so a message that kills its consumer is dead-lettered too.
A failure to dead-letter propagates, so the offset is not committed. Dead letters are counted by
the class of their reason. ``zoomsymbl_common.kafka`` re-exports these names.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from zoomsymbl_common.attempts import AttemptKey, AttemptStore, MemoryAttempts
from zoomsymbl_common.errors import (
    InfrastructureUnavailable,
    KafkaUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
)
from zoomsymbl_common.events import DeadLetter, Event
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.settings import InfraSettings

log = logging.getLogger("zoomsymbl.kafka")
E = TypeVar("E", bound=Event)


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
        async with asyncio.timeout(timeout):
            await broker.publish(
                letter.model_dump_json().encode(),
                topic=destination,
                headers={"reason": letter.reason[:200], "event_id": letter.event_id or ""},
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


class ConsumerMetrics:
    """The consumer policy's metrics on one app's registry (a private one when none is given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.dead_letters = Counter(
            "zoomsymbl_consumer_dead_letters",
            "Messages dead-lettered, by source topic and the class of the reason (error_type of the letter).",
            ["topic", "error_type"],
            registry=self.registry,
        )


@dataclass
class _Delivery:
    """One message under the policy: what giving up needs, and how long it waited for our own servers."""

    topic: str
    body: bytes
    on_give_up: GiveUp | None
    key: AttemptKey | None = None
    waited: float = 0.0
    waits: int = 0


@dataclass(frozen=True)
class Consumer:
    """The shared consumer policy of one service for one topic.

    Every exception a handler raises has an outcome: poison is dead-lettered at once; retryable
    failures and exceptions no zoomsymbl code anticipated (a ``KeyError``, a ``TypeError``: a bug)
    are retried within ``policy.max_attempts`` and then dead-lettered with the reason; 429s and
    outages of our own servers wait without spending attempts. Only a failure to dead-letter (and
    cancellation) leaves :meth:`consume`, so the offset is not committed. ``attempts`` counts each
    message's attempts (:class:`~zoomsymbl_common.attempts.MongoAttempts` survives restarts).
    """

    broker: KafkaBroker
    infra: InfraSettings
    service: str
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    attempts: AttemptStore = field(default_factory=MemoryAttempts)
    metrics: ConsumerMetrics = field(default_factory=ConsumerMetrics)

    async def consume(
        self,
        source_topic: str,
        body: bytes,
        model: type[E],
        handler: Callable[[E], Awaitable[None]],
        on_give_up: GiveUp | None = None,
    ) -> None:
        """Parse ``body`` as ``model`` and run ``handler`` under the retry/dead-letter policy."""
        delivery = _Delivery(source_topic, body, on_give_up)
        try:
            event = model.model_validate_json(body)
        except ValidationError as exc:
            reason = f"invalid {model.__name__}: {exc.error_count()} error(s): {_first_error(exc)}"
            await self._give_up(delivery, None, reason, "ValidationError", 1, "parse")
            return
        delivery.key = AttemptKey(self.service, source_topic, event.event_id)
        while True:
            try:
                attempt = await self.attempts.begin(delivery.key)
            except InfrastructureUnavailable as exc:
                if not await self._wait_out(delivery, event, exc, 0):
                    return
                continue
            if attempt.number > self.policy.max_attempts:
                # Every attempt so far was cut short (the process died during it): stop here.
                reason = f"gave up after {attempt.number - 1} attempts; the last was cut short (the service stopped)"
                reason += f"; the one before failed: {attempt.last_error}" if attempt.last_error else ""
                await self._give_up(delivery, event, reason, "Interrupted", attempt.number - 1)
                return
            if await self._attempt(delivery, event, handler, attempt.number):
                return

    async def _attempt(
        self, delivery: _Delivery, event: E, handler: Callable[[E], Awaitable[None]], attempt: int
    ) -> bool:
        """Run ``handler`` once; True when the message is done (handled or dead-lettered)."""
        try:
            await handler(event)
        except PoisonInputError as exc:
            await self._give_up(delivery, event, exc.reason, type(exc).__name__, attempt, exc.stage)
            return True
        except RateLimitedError as exc:
            await self._bookkeep(self.attempts.refund, delivery)
            wait = min(exc.retry_after or self.policy.delay(1), self.policy.max_rate_limit_wait)
            log.info("rate limited, waiting", extra={"seconds": wait, "event_id": event.event_id})
            await self.sleep(wait)
            return False
        except InfrastructureUnavailable as exc:
            await self._bookkeep(self.attempts.refund, delivery)
            return not await self._wait_out(delivery, event, exc, attempt)
        except RetryableError as exc:
            return await self._retry(delivery, event, str(exc), type(exc).__name__, attempt)
        except Exception as exc:  # a bug must not loop through NACK_ON_ERROR: the same budget, then a dead letter
            log.exception("unexpected failure", extra={"event_id": event.event_id, "topic": delivery.topic})
            return await self._retry(
                delivery, event, scrub(f"{type(exc).__name__}: {exc}", 500), type(exc).__name__, attempt
            )
        await self._bookkeep(self.attempts.forget, delivery)
        return True

    async def _retry(self, delivery: _Delivery, event: Event, error: str, error_type: str, attempt: int) -> bool:
        """Dead-letter after the last attempt (True), else note the error and back off (False)."""
        if attempt >= self.policy.max_attempts:
            await self._give_up(delivery, event, f"gave up after {attempt} attempts: {error}", error_type, attempt)
            return True
        delay = self.policy.delay(attempt)
        log.warning(
            "retryable failure",
            extra={"error": error, "attempt": attempt, "delay": delay, "event_id": event.event_id},
        )
        await self._bookkeep(lambda key: self.attempts.failed(key, error), delivery)
        await self.sleep(delay)
        return False

    async def _wait_out(self, delivery: _Delivery, event: Event, exc: InfrastructureUnavailable, attempt: int) -> bool:
        """Wait for our own servers without spending attempts (True), or dead-letter once waited too long."""
        if delivery.waited >= self.policy.max_outage_wait:
            reason = f"gave up after {delivery.waited:.0f} s of infrastructure outage: {exc}"
            await self._give_up(delivery, event, reason, type(exc).__name__, attempt)
            return False
        delivery.waits += 1
        delay = self.policy.delay(min(delivery.waits, 20))
        log.warning(
            "infrastructure unavailable, waiting",
            extra={"error": str(exc), "waited": round(delivery.waited, 1), "delay": delay, "event_id": event.event_id},
        )
        delivery.waited += delay
        await self.sleep(delay)
        return True

    async def _bookkeep(self, operation: Callable[[AttemptKey], Awaitable[None]], delivery: _Delivery) -> None:
        """Counting must not fail a message: a count left behind expires (``ATTEMPT_TTL_SECONDS``)."""
        if delivery.key is None:
            return
        try:
            await operation(delivery.key)
        except InfrastructureUnavailable as exc:
            log.warning("attempt count not updated", extra={"error": str(exc), "event_id": delivery.key.event_id})

    async def _give_up(
        self,
        delivery: _Delivery,
        event: Event | None,
        reason: str,
        error_type: str,
        attempts: int,
        stage: str = "retry",
    ) -> None:
        if delivery.on_give_up is not None:
            await delivery.on_give_up(event, stage, reason)
        letter = DeadLetter(
            source_topic=delivery.topic,
            service=self.service,
            reason=reason,
            error_type=error_type,
            attempts=max(1, attempts),  # at least one: a wait for our servers before the first also counts
            payload=delivery.body.decode("utf-8", errors="replace"),
            event_id=event.event_id if event else None,
        )
        await dead_letter(self.broker, self.infra, letter)
        self.metrics.dead_letters.labels(delivery.topic, error_type).inc()
        await self._bookkeep(self.attempts.forget, delivery)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"
