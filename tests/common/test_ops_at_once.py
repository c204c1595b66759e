"""``in_order``: an operator command's reads a few at once, results in the values' order, a failure as itself."""

from __future__ import annotations

import asyncio

import pytest
from zoomsymbl_common.ops.at_once import READS_AT_ONCE, in_order


class Gauge:
    """How many calls run at once; each waits until ``until`` run together (a timeout fails a one-at-a-time run)."""

    def __init__(self, until: int) -> None:
        self.until, self.running, self.peak = until, 0, 0
        self.together = asyncio.Event()

    async def __call__(self, value: int) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.running >= self.until:
                self.together.set()
            await asyncio.wait_for(self.together.wait(), timeout=10)
            await asyncio.sleep(0.001 * (value % 3))  # finish out of order
            return value * 10
        finally:
            self.running -= 1


async def test_results_come_in_the_values_order_with_at_most_at_once_running() -> None:
    gauge = Gauge(until=READS_AT_ONCE)
    values = list(range(3 * READS_AT_ONCE + 1))
    assert await in_order(values, gauge) == [value * 10 for value in values]
    assert gauge.peak == READS_AT_ONCE
    assert gauge.running == 0


async def test_fewer_values_than_workers_each_run_once() -> None:
    seen: list[int] = []

    async def work(value: int) -> int:
        seen.append(value)
        return -value

    assert await in_order([1, 2, 3], work, at_once=8) == [-1, -2, -3]
    assert sorted(seen) == [1, 2, 3]
    assert await in_order([], work) == []
    assert await in_order([4, 5], work, at_once=1) == [-4, -5]


async def test_the_first_failure_is_raised_as_itself_and_the_others_are_cancelled() -> None:
    cancelled: list[int] = []
    started: list[int] = []

    async def work(value: int) -> int:
        started.append(value)
        if value == 2:
            await asyncio.sleep(0)  # the others are waiting by now
            raise LookupError("no such bucket")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(value)
            raise
        return value

    with pytest.raises(LookupError, match="no such bucket"):
        await in_order(list(range(10)), work, at_once=4)
    assert sorted(started) == [0, 1, 2, 3], "no value is taken after the failure"
    assert sorted(cancelled) == [0, 1, 3]


def test_at_once_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        asyncio.run(in_order([1], asyncio.sleep, at_once=0))
