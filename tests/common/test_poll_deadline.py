"""PollDeadline's bookkeeping the services' subscriber tests do not reach (tests/submitter/test_poll_deadline.py,
tests/transcriber/test_poll_deadline.py, tests/notifier/test_poll_deadline.py show the behaviour).

FastStream's messages built by hand: a consumer stand-in per aiokafka consumer, which records its rewinds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream.kafka.message import KafkaAckableMessage
from zoomsymbl_common.poll_deadline import KEPT_OUTCOMES, PollDeadline

INTERVAL_MS = 20
"""A poll deadline of 18 ms."""


class KafkaConsumer:
    """One aiokafka consumer, as far as a message's nack and ack reach it (FastStream commits after a return)."""

    def __init__(self) -> None:
        self.rewound: list[tuple[int, int]] = []

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.rewound.append((partition.partition, offset))

    async def commit(self) -> None:
        raise AssertionError("PollDeadline never commits: FastStream does, after the handler returned")


def message(consumer: KafkaConsumer, offset: int, partition: int = 0) -> KafkaAckableMessage:
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord("t", partition, offset, 0, 0, None, b"{}", None, 0, 2, ())
    return KafkaAckableMessage(raw_message=record, body=b"{}", consumer=consumer)


async def test_each_consumer_of_a_subscriber_works_on_its_own_message() -> None:
    """FastStream's ``max_workers`` (the notifier's ``concurrent_jobs``) runs one consumer per partition: each
    one's work goes on at once, only messages of one consumer wait for each other."""
    deadline, release = PollDeadline(INTERVAL_MS), asyncio.Event()
    started: list[int] = []

    def work(index: int) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            started.append(index)
            await release.wait()

        return run

    first, second = KafkaConsumer(), KafkaConsumer()
    await deadline.handle(message(first, 0), work(1))
    await deadline.handle(message(second, 0, partition=1), work(2))
    assert started == [1, 2]
    assert (first.rewound, second.rewound) == ([(0, 0)], [(1, 0)])
    release.set()
    await deadline.close()


async def test_ended_work_whose_message_never_came_back_is_dropped_with_its_error_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its partition went to another member: the lane keeps at most KEPT_OUTCOMES such outcomes."""
    deadline, release = PollDeadline(INTERVAL_MS), asyncio.Event()
    consumer = KafkaConsumer()

    async def failing() -> None:
        await release.wait()
        raise RuntimeError("lost outcome")

    async def done() -> None:
        return None

    await deadline.handle(message(consumer, 0), failing)  # given back, never delivered again
    release.set()
    caplog.set_level(logging.WARNING, logger="zoomsymbl.kafka.poll_deadline")
    for offset in range(1, KEPT_OUTCOMES + 2):
        hold = asyncio.Event()

        async def held(hold: asyncio.Event = hold) -> None:
            await hold.wait()

        await deadline.handle(message(consumer, offset, partition=1), held)  # given back: its work ends later
        hold.set()
    await deadline.handle(message(consumer, KEPT_OUTCOMES + 2, partition=1), done)

    # Warnings only: a test before this one may have left the logger at INFO (its give-backs are INFO).
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.error for r in warnings] == ["RuntimeError('lost outcome')"]  # type: ignore[attr-defined]
    assert [offset for _, offset in consumer.rewound] == list(range(KEPT_OUTCOMES + 2)), "the last one was done"
    await deadline.close()
