"""The shared consumer policy in memory (TestKafkaBroker): every exception has an outcome, attempts are counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from prometheus_client import CollectorRegistry
from zoomsymbl_common.attempts import AttemptKey, AttemptStore, MemoryAttempts
from zoomsymbl_common.errors import (
    KafkaUnavailable,
    MongoUnavailable,
    PoisonInputError,
    RateLimitedError,
    RetryableError,
)
from zoomsymbl_common.events import DeadLetter, Event, RecordingCompleted
from zoomsymbl_common.kafka import Consumer, ConsumerMetrics, RetryPolicy, topic_name
from zoomsymbl_common.logs import register_secret
from zoomsymbl_common.settings import InfraSettings

INFRA = InfraSettings(kafka_topic_prefix="unit-consumer-")
TOPIC = topic_name(INFRA, RecordingCompleted.topic)
EVENT = RecordingCompleted(event_id="evt-1", tenant="acme", meeting_uuid="m1==")
BODY = EVENT.model_dump_json().encode()
POLICY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_rate_limit_wait=0.001)


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@dataclass
class Rig:
    broker: KafkaBroker
    letters: list[DeadLetter] = field(default_factory=list)
    given_up: list[tuple[str, str]] = field(default_factory=list)

    def consumer(self, attempts: AttemptStore | None = None, registry: CollectorRegistry | None = None) -> Consumer:
        return Consumer(
            self.broker,
            INFRA,
            "svc",
            POLICY,
            sleep=_no_sleep,
            attempts=attempts if attempts is not None else MemoryAttempts(),
            metrics=ConsumerMetrics(registry),
        )

    async def on_give_up(self, event: Event | None, stage: str, reason: str) -> None:
        self.given_up.append((stage, reason))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with memory_rig() as running:
        yield running


@contextlib.asynccontextmanager
async def memory_rig() -> AsyncIterator[Rig]:
    """A consumer's broker in memory, collecting the dead letters of ``TOPIC``."""
    broker = KafkaBroker()
    rig = Rig(broker)

    @broker.subscriber(DeadLetter.topic_for(TOPIC))
    async def dead(message: KafkaMessage) -> None:
        rig.letters.append(DeadLetter.model_validate_json(message.body))

    async with TestKafkaBroker(broker):
        yield rig


def failing(*outcomes: BaseException | None) -> tuple[Callable[[RecordingCompleted], Awaitable[None]], list[int]]:
    """A handler raising ``outcomes`` in turn (None: success; past the end: success), and its call count."""
    calls = [0]
    queue = list(outcomes)

    async def handler(event: RecordingCompleted) -> None:
        calls[0] += 1
        outcome = queue.pop(0) if queue else None
        if outcome is not None:
            raise outcome

    return handler, calls


def dead_letters(consumer: Consumer, error_type: str) -> float | None:
    labels = {"topic": TOPIC, "error_type": error_type}
    return consumer.metrics.registry.get_sample_value("zoomsymbl_consumer_dead_letters_total", labels)


@pytest.mark.parametrize("bug", [KeyError("host_email"), TypeError("'NoneType' object is not subscriptable")])
async def test_an_unexpected_exception_is_retried_within_the_budget_then_dead_lettered_with_its_class(
    rig: Rig, bug: Exception
) -> None:
    consumer = rig.consumer()
    handler, calls = failing(bug, bug, bug, bug)
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)  # returns: nothing re-raised
    assert calls == [3]
    [letter] = rig.letters
    assert letter.error_type == type(bug).__name__ and letter.attempts == 3
    assert letter.reason == f"gave up after 3 attempts: {type(bug).__name__}: {bug}"
    assert rig.given_up == [("retry", letter.reason)]
    assert dead_letters(consumer, type(bug).__name__) == 1


async def test_a_bug_that_passes_on_a_later_attempt_is_handled_without_a_dead_letter(rig: Rig) -> None:
    attempts = MemoryAttempts()
    handler, calls = failing(KeyError("flaky"))
    await rig.consumer(attempts).consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    assert (calls, rig.letters) == ([2], [])
    assert (await attempts.begin(AttemptKey("svc", TOPIC, EVENT.event_id))).number == 1, "count dropped when done"


async def test_the_reason_of_an_unexpected_exception_is_scrubbed(rig: Rig) -> None:
    register_secret("bug-secret-0042")
    bug = ValueError("bad answer from https://bucket.s3/mixed/x.flac?X-Amz-Signature=abc with bug-secret-0042")
    handler, _ = failing(bug, bug, bug)
    await rig.consumer().consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    [letter] = rig.letters
    assert "bug-secret-0042" not in letter.reason and "X-Amz-Signature" not in letter.reason
    assert letter.reason == "gave up after 3 attempts: ValueError: bad answer from https://bucket.s3/… with [redacted]"


class NotingAttempts(MemoryAttempts):
    """Keeps every reason noted for a failed attempt (what MongoAttempts stores as ``last_error``)."""

    def __init__(self) -> None:
        super().__init__()
        self.noted: list[str] = []

    async def failed(self, key: AttemptKey, reason: str) -> None:
        self.noted.append(reason)
        await super().failed(key, reason)


@pytest.mark.parametrize(
    "outcomes",
    [
        [PoisonInputError("not audio: https://bucket.s3/raw/x.m4a?X-Amz-Signature=abc quoted", stage="verify")],
        [RetryableError("S3 said 503 for https://bucket.s3/raw/x.m4a?X-Amz-Signature=abc")] * 3,
    ],
    ids=["poison", "retryable"],
)
async def test_every_reason_is_scrubbed_before_it_leaves(rig: Rig, outcomes: list[BaseException]) -> None:
    attempts = NotingAttempts()
    handler, _ = failing(*outcomes)
    await rig.consumer(attempts).consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    [letter] = rig.letters
    [(_, hook_reason)] = rig.given_up
    noted = attempts.noted
    for text in (letter.reason, hook_reason, *noted):
        assert "X-Amz-Signature" not in text and "https://bucket.s3/…" in text
    assert len(noted) == len(outcomes) - 1  # each failed attempt before the last was noted


async def test_every_dead_letter_is_counted_by_the_class_of_its_reason(rig: Rig) -> None:
    registry = CollectorRegistry()
    consumer = rig.consumer(registry=registry)
    handler, _ = failing(PoisonInputError("not audio", stage="verify"))
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler)
    await consumer.consume(TOPIC, b"{not json", RecordingCompleted, handler)
    retry, _ = failing(*[RetryableError("503")] * 3)
    await consumer.consume(TOPIC, BODY, RecordingCompleted, retry)
    assert [letter.error_type for letter in rig.letters] == ["PoisonInputError", "ValidationError", "RetryableError"]
    for error_type in ("PoisonInputError", "ValidationError", "RetryableError"):
        labels = {"topic": TOPIC, "error_type": error_type}
        assert registry.get_sample_value("zoomsymbl_consumer_dead_letters_total", labels) == 1


async def test_waits_for_429s_and_outages_do_not_spend_the_budget(rig: Rig) -> None:
    handler, calls = failing(RateLimitedError("429", retry_after=0.001), MongoUnavailable("down"), KeyError("a"), None)
    await rig.consumer().consume(TOPIC, BODY, RecordingCompleted, handler)
    assert (calls, rig.letters) == ([4], [])


class KilledOutright(MemoryAttempts):
    """The attempts of a process killed outright (SIGKILL, the OOM killer) while its handler runs: it notes no
    interruption, the attempt stays spent."""

    async def interrupted(self, key: AttemptKey) -> None:
        return None


async def stopped_during_the_handler(consumer: Consumer) -> int:
    """Deliver once and stop the 'process' while the handler runs (its task cancelled); handler calls."""
    started = asyncio.Event()
    calls = [0]

    async def handler(event: RecordingCompleted) -> None:
        calls[0] += 1
        started.set()
        await asyncio.Event().wait()  # until killed

    task = asyncio.create_task(consumer.consume(TOPIC, BODY, RecordingCompleted, handler))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return calls[0]


async def test_a_message_that_kills_its_consumer_is_dead_lettered_once_the_budget_is_spent(rig: Rig) -> None:
    store = KilledOutright()  # shared by the 'restarts' as MongoAttempts is (tests/common/test_attempts.py)
    runs = [await stopped_during_the_handler(rig.consumer(store)) for _ in range(POLICY.max_attempts)]
    assert runs == [1, 1, 1] and rig.letters == []
    handler, calls = failing()
    await rig.consumer(store).consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    assert calls == [0], "the handler is not run a fourth time"
    [letter] = rig.letters
    assert (letter.error_type, letter.attempts) == ("Interrupted", 3)
    assert letter.reason == "gave up after 3 attempts; the last was cut short (the service stopped)"


async def test_the_reason_after_restarts_names_the_last_error_noted(rig: Rig) -> None:
    store = KilledOutright()
    first, _ = failing(RetryableError("zoom answered 502"))
    consumer = rig.consumer(store)
    # The process stops during the backoff after a failure, then twice during the handler.
    stopped = asyncio.Event()

    async def sleep(_: float) -> None:
        stopped.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        Consumer(rig.broker, INFRA, "svc", POLICY, sleep=sleep, attempts=store).consume(
            TOPIC, BODY, RecordingCompleted, first
        )
    )
    await stopped.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stopped_during_the_handler(consumer)
    await stopped_during_the_handler(consumer)
    handler, calls = failing()
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler)
    assert calls == [0]
    assert rig.letters[0].reason.endswith("; the one before failed: zoom answered 502")


async def test_without_a_shared_store_each_restart_starts_counting_again(rig: Rig) -> None:
    runs = [await stopped_during_the_handler(rig.consumer(KilledOutright())) for _ in range(POLICY.max_attempts + 2)]
    assert runs == [1] * 5 and rig.letters == []  # the in-memory default: what a persistent store fixes


class HookBroke(RuntimeError):
    """A bug in a service's give-up hook."""


async def test_a_give_up_hook_that_raises_still_dead_letters_the_message_and_consume_returns(rig: Rig) -> None:
    register_secret("hook-secret-0042")
    calls: list[str] = []

    async def broken_hook(event: Event | None, stage: str, reason: str) -> None:
        calls.append(reason)
        raise HookBroke("marking failed with hook-secret-0042 at https://mongo.example/db?password=x")

    consumer = rig.consumer()
    handler, _ = failing(PoisonInputError("not audio", stage="verify"))
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler, broken_hook)  # returns: the offset is committed
    assert calls == ["not audio"], "the hook ran once"
    [letter] = rig.letters
    assert (
        letter.reason
        == "not audio; the give-up hook failed: HookBroke: marking failed with [redacted] at https://mongo.example/…"
    )
    assert (letter.error_type, letter.event_id) == ("PoisonInputError", EVENT.event_id)
    assert dead_letters(consumer, "PoisonInputError") == 1


async def test_an_outage_in_the_give_up_hook_is_not_dead_lettered_but_backed_off_and_raised(rig: Rig) -> None:
    # Hooks announce the failure before the dead letter: the message must come again, not after at once.
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def hook(event: Event | None, stage: str, reason: str) -> None:
        await rig.on_give_up(event, stage, reason)
        raise KafkaUnavailable("publish not acknowledged")

    consumer = Consumer(rig.broker, INFRA, "svc", POLICY, sleep=sleep)
    handler, _ = failing(PoisonInputError("not audio", stage="verify"))
    with pytest.raises(KafkaUnavailable):  # the offset is not committed
        await consumer.consume(TOPIC, BODY, RecordingCompleted, handler, hook)
    assert (rig.given_up, rig.letters) == ([("verify", "not audio")], [])
    assert len(pauses) == 1, "one backoff before the redelivery"


def _publish_failing(broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
    """Kafka refuses the next ``failures`` publishes of ``broker`` (as during an outage), then takes them."""
    publish = broker.publish
    left = [failures]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise KafkaConnectionError("kafka down")
        return await publish(*args, **kwargs)

    monkeypatch.setattr(broker, "publish", flaky)


async def test_an_outage_while_dead_lettering_is_waited_out_without_running_the_hook_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_failing(rig.broker, monkeypatch, 2)
    handler, calls = failing(PoisonInputError("not audio", stage="verify"))
    await rig.consumer().consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    assert calls == [1] and rig.given_up == [("verify", "not audio")]
    assert [letter.reason for letter in rig.letters] == ["not audio"]


async def test_a_dead_letter_outage_longer_than_the_wait_leaves_consume_so_the_offset_is_not_committed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_failing(rig.broker, monkeypatch, 1)
    consumer = Consumer(rig.broker, INFRA, "svc", RetryPolicy(max_outage_wait=0.0), sleep=_no_sleep)
    with pytest.raises(KafkaUnavailable):
        await consumer.consume(TOPIC, b"{not json", RecordingCompleted, failing()[0], rig.on_give_up)
    assert rig.letters == []


async def test_429s_that_name_no_wait_back_off_longer_each_time() -> None:
    """A provider's 429 without Retry-After (Symbl's concurrency cap) was waited out with the first delay every time
    (under a second here by default): the submitter uploaded the whole file again twice a second for as long as it
    lasted. Now each 429 in a row waits longer, up to ``max_delay``."""
    broker = KafkaBroker()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0)
    consumer = Consumer(broker, INFRA, "svc", policy, sleep=sleep, attempts=MemoryAttempts())
    handler, calls = failing(*[RateLimitedError("429")] * 7, None)
    async with TestKafkaBroker(broker):
        await consumer.consume(TOPIC, BODY, RecordingCompleted, handler)
    assert calls == [8] and len(waits) == 7
    ceilings = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # full jitter: each wait is between half its ceiling and it
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True)), waits
