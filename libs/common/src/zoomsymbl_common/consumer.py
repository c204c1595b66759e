"""The consumer policy every service shares.

:meth:`Consumer.consume` parses a message and runs its handler: invalid input and poison errors
go to ``<topic>.dlq`` at once; retryable errors and exceptions no zoomsymbl code anticipated are
retried with backoff and dead-lettered after the attempt budget; 429s and outages of our own
servers (Kafka, MongoDB, S3) wait without spending it. Attempts are counted before they run (in
MongoDB where a service gives a store), so a message that kills its consumer is dead-lettered too.
A give-up hook that fails does not stop the dead letter (its reason says so), unless the failure
is an outage of our servers. An outage while dead-lettering is waited out like any other; past
that wait it propagates, so the offset is not committed. Dead letters are cut to fit, published
and counted by :mod:`zoomsymbl_common.dead_letters`.
An attempt given back while MongoDB is away is owed, and given back before the next one is counted.
An attempt the service's stop cuts short (the handler cancelled: a rollout, a drain, an eviction) is
an interruption, with a budget of its own (:mod:`zoomsymbl_common.attempts`).
``zoomsymbl_common.kafka`` re-exports these names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from zoomsymbl_common.attempts import AttemptKey, AttemptStore, MemoryAttempts
from zoomsymbl_common.consumer_policy import OUTAGE_GIVE_UP as OUTAGE_GIVE_UP
from zoomsymbl_common.consumer_policy import GiveUp as GiveUp
from zoomsymbl_common.consumer_policy import RetryPolicy as RetryPolicy
from zoomsymbl_common.consumer_policy import event_key as event_key
from zoomsymbl_common.dead_letters import ConsumerMetrics, dead_letter, fitted
from zoomsymbl_common.errors import (
    HeldElsewhere,
    InfrastructureUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
)
from zoomsymbl_common.events import DeadLetter, Event
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.settings import InfraSettings

log = logging.getLogger("zoomsymbl.kafka")
E = TypeVar("E", bound=Event)


@dataclass
class _Delivery:
    """One message under the policy: what giving up needs, and how long it waited for our own servers."""

    topic: str
    body: bytes
    on_give_up: GiveUp | None
    key: AttemptKey | None = None
    waited: float = 0.0
    waits: int = 0
    limited: int = 0  # 429s (or held elsewhere) of this delivery so far: the backoff of those that name no wait
    owed: int = 0  # attempts to give back that MongoDB was not there to take


@dataclass(frozen=True)
class Consumer:
    """The shared consumer policy of one service for one topic.

    Every exception a handler raises has an outcome: poison is dead-lettered at once; retryable
    failures and exceptions no zoomsymbl code anticipated (a ``KeyError``, a ``TypeError``: a bug)
    are retried within ``policy.max_attempts`` and then dead-lettered with the reason; 429s and
    outages of our own servers wait without spending attempts. A give-up hook that fails is logged
    and named in the dead letter's reason. Only an outage during the hook, a failure to dead-letter
    that outlasts the outage wait, and cancellation leave :meth:`consume`, so the offset is not
    committed. ``attempts`` counts each message's attempts
    (:class:`~zoomsymbl_common.attempts.MongoAttempts` survives restarts).
    """

    broker: KafkaBroker
    infra: InfraSettings
    service: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
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
                await self._settle(delivery)
                attempt = await self.attempts.begin(delivery.key)
            except InfrastructureUnavailable as exc:
                if not await self._wait_out(delivery, event, exc, 0):
                    return
                continue
            if attempt.number > self.policy.max_attempts:
                # Every attempt so far was cut short (the process died during it): stop here.
                reason = f"gave up after {attempt.number - 1} attempts; the last was cut short (the service stopped)"
                reason += f"; the one before failed: {attempt.last_error}" if attempt.last_error else ""
                await self._give_up_spent(delivery, event, reason, "Interrupted", attempt.number - 1)
                return
            if attempt.interruptions >= self.policy.max_interruptions:
                reason = (
                    f"gave up after {attempt.interruptions} interruptions: the service stopped during each attempt"
                    " (rollouts, drains, evictions, or this message brings it down)"
                )
                reason += f"; the last error noted: {attempt.last_error}" if attempt.last_error else ""
                tries = attempt.number - 1 + attempt.interruptions
                await self._give_up_spent(delivery, event, reason, "Interrupted", tries)
                return
            if await self._attempt(delivery, event, handler, attempt.number):
                return

    async def _attempt(
        self, delivery: _Delivery, event: E, handler: Callable[[E], Awaitable[None]], attempt: int
    ) -> bool:
        """Run ``handler`` once; True when the message is done (handled or dead-lettered)."""
        try:
            await handler(event)
        except asyncio.CancelledError:
            await self._note_interruption(delivery)
            raise
        except PoisonInputError as exc:
            await self._give_up_spent(delivery, event, exc.reason, type(exc).__name__, attempt, exc.stage)
            return True
        except (RateLimitedError, HeldElsewhere) as exc:
            await self._refund(delivery)
            # No wait named: a backoff that grows with each 429 of the delivery (up to max_delay); it was the first
            # delay each time, under a second: a provider's 429 without Retry-After (Symbl's concurrency cap) had the
            # submitter upload the whole file again twice a second, for as long as it lasted.
            # (Our limiter's timeout names 0: it waited in its acquire already; it is retried after the first delay.)
            delivery.limited += 1
            backoff = self.policy.delay(1 if exc.retry_after is not None else min(delivery.limited, 20))
            wait = min(exc.retry_after or backoff, self.policy.max_rate_limit_wait)
            what = "held elsewhere" if isinstance(exc, HeldElsewhere) else "rate limited"
            log.info(f"{what}, waiting", extra={"seconds": wait, "event_id": event.event_id})
            await self.sleep(wait)
            return False
        except InfrastructureUnavailable as exc:
            await self._refund(delivery)
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
        error = scrub(error, 1000)  # noted in MongoDB and logged: a provider's or S3's text may quote a signed URL
        if attempt >= self.policy.max_attempts:
            await self._give_up_spent(
                delivery, event, f"gave up after {attempt} attempts: {error}", error_type, attempt
            )
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
            reason = f"gave up after {delivery.waited:.0f} s {OUTAGE_GIVE_UP}: {exc}"
            await self._give_up(delivery, event, reason, type(exc).__name__, attempt)
            return False
        await self._pause(delivery, exc, event.event_id)
        return True

    async def _pause(self, delivery: _Delivery, exc: InfrastructureUnavailable, event_id: str | None) -> None:
        """One backoff of the outage wait of ``delivery`` (counted towards ``policy.max_outage_wait``)."""
        delivery.waits += 1
        delay = self.policy.delay(min(delivery.waits, 20))
        if exc.retry_after:  # the server named its wait (S3 throttled: StorageThrottled): not shorter than that
            delay = max(delay, min(exc.retry_after, self.policy.max_rate_limit_wait))
        log.warning(
            "infrastructure unavailable, waiting",
            extra={"error": str(exc), "waited": round(delivery.waited, 1), "delay": delay, "event_id": event_id},
        )
        delivery.waited += delay
        await self.sleep(delay)

    async def _dead_letter(self, delivery: _Delivery, letter: DeadLetter, key: bytes | None) -> None:
        """Publish ``letter``, waiting out a Kafka outage while the outage budget lasts (then it propagates).

        Waited out here because a redelivery would come back at once and run the give-up hook again.
        """
        while True:
            try:
                await dead_letter(self.broker, self.infra, letter, key=key)
                return
            except InfrastructureUnavailable as exc:
                if delivery.waited >= self.policy.max_outage_wait:
                    raise
                await self._pause(delivery, exc, letter.event_id)

    async def _note_interruption(self, delivery: _Delivery) -> None:
        """The service is stopping the handler: its attempt becomes an interruption, if MongoDB takes it in time.

        Only a cancellation from outside (the task is being cancelled): a ``CancelledError`` the handler let out
        of its own work stays a spent attempt. Not noted (MongoDB away, the stop's grace used up), the attempt
        stays spent, as a process killed outright leaves it.
        """
        task = asyncio.current_task()
        if delivery.key is None or task is None or not task.cancelling():
            return
        try:
            async with asyncio.timeout(self.policy.interruption_note_seconds):
                await self.attempts.interrupted(delivery.key)
        except Exception as exc:  # bookkeeping on the way out: whatever fails, the stop goes on
            log.warning(
                "interruption not noted, the attempt stays spent",
                extra={"error": scrub(f"{type(exc).__name__}: {exc}", 300), "event_id": delivery.key.event_id},
            )

    async def _refund(self, delivery: _Delivery) -> None:
        """Give the attempt back; when MongoDB is away (as in the very outage that ended it), it is owed."""
        delivery.owed += 1
        await self._bookkeep(lambda _: self._settle(delivery), delivery)

    async def _settle(self, delivery: _Delivery) -> None:
        """Give back the attempts owed (raises while MongoDB is away): else each outage that began during an
        attempt would spend it, and a few such outages the budget ("the last was cut short")."""
        while delivery.owed and delivery.key is not None:
            await self.attempts.refund(delivery.key)
            delivery.owed -= 1

    async def _bookkeep(self, operation: Callable[[AttemptKey], Awaitable[None]], delivery: _Delivery) -> None:
        """Counting must not fail a message: a count left behind expires (``ATTEMPT_TTL_SECONDS``)."""
        if delivery.key is None:
            return
        try:
            await operation(delivery.key)
        except InfrastructureUnavailable as exc:
            log.warning("attempt count not updated", extra={"error": str(exc), "event_id": delivery.key.event_id})

    async def _give_up_spent(
        self, delivery: _Delivery, event: Event, reason: str, error_type: str, attempts: int, stage: str = "retry"
    ) -> None:
        """:meth:`_give_up` at the end of an attempt still counted. An outage that stops the give-up gives that attempt
        back, as any outage does: else the redelivery would begin past the budget and be dead-lettered as cut short
        (``Interrupted``), not with its reason. (With MongoDB the one away, the refund is lost with the delivery.)"""
        try:
            await self._give_up(delivery, event, reason, error_type, attempts, stage)
        except InfrastructureUnavailable:
            await self._refund(delivery)
            raise

    async def _give_up(
        self,
        delivery: _Delivery,
        event: Event | None,
        reason: str,
        error_type: str,
        attempts: int,
        stage: str = "retry",
    ) -> None:
        """Run the give-up hook, then dead-letter the message (acknowledged, or raises: offset not committed)."""
        # Reasons quote outside text (Zoom's or S3's error bodies, a provider's message): the letter goes to
        # Kafka, its header and the log, the hook's copy into MongoDB and e-mails.
        reason = scrub(reason, 2000)
        event_id = event.event_id if event else None
        reason = await self._run_hook(delivery, event, stage, reason)
        letter = DeadLetter(
            source_topic=delivery.topic,
            service=self.service,
            reason=reason,
            error_type=error_type,
            attempts=max(1, attempts),  # at least one: a wait for our servers before the first also counts
            payload=delivery.body.decode("utf-8", errors="replace"),
            event_id=event_id,
        )
        letter = fitted(letter)
        await self._dead_letter(delivery, letter, event_key(event) if event else None)
        self.metrics.dead_letters.labels(delivery.topic, error_type).inc()
        await self._bookkeep(self.attempts.forget, delivery)

    async def _run_hook(self, delivery: _Delivery, event: Event | None, stage: str, reason: str) -> str:
        """Run ``on_give_up``; the reason to dead-letter with, naming the hook's failure if it failed.

        An outage of our own servers propagates (after one backoff, so the message does not come back at
        once): hooks announce the failure before the dead letter, and a redelivery announces it again.
        """
        hook = delivery.on_give_up
        if hook is None:
            return reason
        event_id = event.event_id if event else None
        try:
            await hook(event, stage, reason)
        except InfrastructureUnavailable as exc:
            await self._pause(delivery, exc, event_id)
            raise
        except Exception as exc:  # a bug in the hook: redelivery would fail the same way and block the partition
            log.exception("give-up hook failed", extra={"event_id": event_id, "topic": delivery.topic, "stage": stage})
            return f"{reason}; the give-up hook failed: {scrub(f'{type(exc).__name__}: {exc}', 500)}"
        return reason


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"
