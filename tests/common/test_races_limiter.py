"""Replicas racing on the provider limiter never hold more slots than its cap (real MongoDB-wire server).

The interleaving is forced: one replica is paused right after it read the slots (an event the test
controls) while the other releases and takes slots.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo

pytestmark = pytest.mark.integration

ACCOUNT = "symbl|race"


class PausedRead:
    """The slots collection of one replica: its next ``find`` stops after the read until ``go``."""

    def __init__(self, col: Any) -> None:
        self._col = col
        self.armed = False
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._col, name)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        cursor = self._col.find(*args, **kwargs)
        if not self.armed:
            return cursor
        self.armed = False
        pause = self

        class Cursor:
            async def to_list(self, length: int | None) -> list[Any]:
                docs: list[Any] = await cursor.to_list(length)
                pause.reached.set()
                await pause.go.wait()
                return docs

        return Cursor()


def _limiter(mongo: Mongo, sleep: Any = asyncio.sleep) -> Limiter:
    return Limiter(mongo, ACCOUNT, rate_per_second=1000, burst=10, max_in_flight=1, sleep=sleep)


async def test_a_re_acquire_racing_the_release_of_its_slot_waits_for_a_free_one(mongo: Mongo) -> None:
    """X re-acquires (a redelivery) and reads that it holds slot 0; before it renews, X's slot is released
    and Y takes slot 0. X must not return as if it held a slot: with a cap of 1 that is two jobs in flight."""
    polling = asyncio.Event()
    resume = asyncio.Event()

    async def x_sleep(_: float) -> None:
        polling.set()
        await resume.wait()

    x = _limiter(mongo, x_sleep)
    y = _limiter(mongo)
    await x.acquire("X")
    read = PausedRead(x._slots)
    x._slots = read  # type: ignore[assignment]
    read.armed = True

    x_again = asyncio.create_task(x.acquire("X"))
    await read.reached.wait()  # X read: "X holds slot 0"
    assert await y.release("X"), "the job finished: its slot is freed"
    await y.acquire("Y")
    read.go.set()

    waiting = asyncio.create_task(polling.wait())
    await asyncio.wait({x_again, waiting}, return_when=asyncio.FIRST_COMPLETED)
    assert not x_again.done(), f"X returned while Y holds the only slot: {await y.slots()}"
    assert [s.ref for s in await y.slots()] == ["Y"]

    assert await y.release("Y")
    resume.set()
    await x_again
    assert [s.ref for s in await y.slots()] == ["X"]
