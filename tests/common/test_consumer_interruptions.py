"""Attempts the service's own stop cuts short (rollouts, drains, evictions) spend a budget of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from zoomsymbl_common.attempts import AttemptKey, MemoryAttempts
from zoomsymbl_common.errors import MongoUnavailable, RetryableError
from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.kafka import Consumer, RetryPolicy

from tests.common.test_consumer import (
    BODY,
    EVENT,
    INFRA,
    POLICY,
    TOPIC,
    Rig,
    _no_sleep,
    failing,
    memory_rig,
    stopped_during_the_handler,
)

KEY = AttemptKey("svc", TOPIC, EVENT.event_id)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with memory_rig() as running:
        yield running


async def test_a_stop_during_the_handler_is_an_interruption_not_an_attempt(rig: Rig) -> None:
    store = MemoryAttempts()  # shared by the 'restarts' as MongoAttempts is
    runs = [await stopped_during_the_handler(rig.consumer(store)) for _ in range(POLICY.max_attempts + 2)]
    assert runs == [1] * (POLICY.max_attempts + 2) and rig.letters == []
    # Five rollouts later the message still has its whole budget for its own failures.
    handler, calls = failing(*[RetryableError("zoom answered 502")] * POLICY.max_attempts)
    await rig.consumer(store).consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    assert calls == [POLICY.max_attempts]
    [letter] = rig.letters
    assert (letter.error_type, letter.attempts) == ("RetryableError", POLICY.max_attempts)


async def test_a_message_stopped_in_every_attempt_is_dead_lettered_after_the_interruption_budget(rig: Rig) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_interruptions=4)
    store = MemoryAttempts()

    def consumer() -> Consumer:
        return Consumer(rig.broker, INFRA, "svc", policy, sleep=_no_sleep, attempts=store)

    runs = [await stopped_during_the_handler(consumer()) for _ in range(policy.max_interruptions)]
    assert runs == [1] * policy.max_interruptions and rig.letters == []
    handler, calls = failing()
    await consumer().consume(TOPIC, BODY, RecordingCompleted, handler, rig.on_give_up)
    assert calls == [0], "not run a fifth time"
    [letter] = rig.letters
    assert (letter.error_type, letter.attempts) == ("Interrupted", 4)
    assert letter.reason.startswith("gave up after 4 interruptions: the service stopped during each attempt")
    assert rig.given_up == [("retry", letter.reason)]


async def test_a_failure_before_the_interruptions_is_named_when_they_run_out(rig: Rig) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_interruptions=2)
    store = MemoryAttempts()
    consumer = Consumer(rig.broker, INFRA, "svc", policy, sleep=_no_sleep, attempts=store)
    stopped = asyncio.Event()

    async def stop_in_the_backoff(_: float) -> None:
        stopped.set()
        await asyncio.Event().wait()

    first, _ = failing(RetryableError("zoom answered 502"))
    backing_off = Consumer(rig.broker, INFRA, "svc", policy, sleep=stop_in_the_backoff, attempts=store)
    task = asyncio.create_task(backing_off.consume(TOPIC, BODY, RecordingCompleted, first))
    await stopped.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for _ in range(policy.max_interruptions):
        await stopped_during_the_handler(consumer)
    handler, calls = failing()
    await consumer.consume(TOPIC, BODY, RecordingCompleted, handler)
    assert calls == [0]
    [letter] = rig.letters
    assert letter.reason.endswith("; the last error noted: zoom answered 502")
    assert letter.attempts == 3, "one failed attempt and two interrupted ones"


async def test_a_cancelled_error_the_handler_raises_itself_stays_a_spent_attempt(rig: Rig) -> None:
    # Nobody cancelled the consumer: a CancelledError leaking out of the handler's own work is no stop.
    store = MemoryAttempts()
    handler, _ = failing(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await rig.consumer(store).consume(TOPIC, BODY, RecordingCompleted, handler)
    after = await store.begin(KEY)
    assert (after.number, after.interruptions) == (2, 0)


class Unreachable(MemoryAttempts):
    """MongoDB away, or hung, as the service stops."""

    def __init__(self, *, hang: bool) -> None:
        super().__init__()
        self.hang = hang

    async def interrupted(self, key: AttemptKey) -> None:
        if self.hang:
            await asyncio.Event().wait()
        raise MongoUnavailable("ServerSelectionTimeoutError")


@pytest.mark.parametrize("hang", [False, True], ids=["refused", "hung"])
async def test_an_interruption_that_cannot_be_noted_leaves_the_attempt_spent_and_the_stop_goes_on(
    rig: Rig, hang: bool
) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, interruption_note_seconds=0.05)
    store = Unreachable(hang=hang)
    consumer = Consumer(rig.broker, INFRA, "svc", policy, sleep=_no_sleep, attempts=store)
    async with asyncio.timeout(10):  # the bound of the test: the note's own bound is 0.05 s here
        assert await stopped_during_the_handler(consumer) == 1
    after = await store.begin(KEY)
    assert (after.number, after.interruptions) == (2, 0)
