"""An ``acquire`` that stops between its slot and its token (MongoDB gone, or cancelled at shutdown): the
redelivered message's ``acquire`` spends the token all the same, and the slot is not left held for nobody.
Against the real MongoDB-wire server; the outage is one collection's calls failing as the driver fails them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.errors import MongoUnavailable
from zoomsymbl_common.limiter import Limiter
from zoomsymbl_common.mongo import Mongo
from zoomsymbl_common.records import LIMITER_TICKS

from tests.common.test_limiter import virtual_sleep

pytestmark = pytest.mark.integration

ACCOUNT = "symbl|redelivery"


class Outage:
    """A collection whose ``failing`` methods fail as pymongo fails without a server, while ``down``."""

    def __init__(self, col: Any, *failing: str) -> None:
        self._col = col
        self._failing = set(failing)
        self.down = True
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._col, name)
        if name not in self._failing:
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.failed += 1
                raise ServerSelectionTimeoutError("no server reachable (test outage)")
            return await method(*args, **kwargs)

        return call


def limiter(mongo: Mongo, clock: FakeClock, **kwargs: Any) -> Limiter:
    params: dict[str, Any] = {"rate_per_second": 1.0, "burst": 1, "max_in_flight": 1, "lease_seconds": 60.0}
    params |= kwargs
    return Limiter(mongo, ACCOUNT, **params, poll_max_seconds=0.05, clock=clock, sleep=virtual_sleep(clock))


async def ticks_spent(mongo: Mongo) -> int:
    return await mongo.db[LIMITER_TICKS].count_documents({"account": ACCOUNT})


async def test_mongodb_lost_between_slot_and_token_gives_the_slot_back_and_the_redelivery_pays(mongo: Mongo) -> None:
    clock = FakeClock()
    first = limiter(mongo, clock)
    outage = Outage(first._ticks, "insert_one")
    first._ticks = outage  # type: ignore[assignment]

    with pytest.raises(MongoUnavailable):
        await first.acquire("job-1", timeout=5)

    assert outage.failed == 1, "the slot was taken, then the token could not be spent"
    assert (await first.snapshot())["slots"] == [], "the unpaid slot is given back, not left for the reclaimer"
    redelivery = limiter(mongo, clock)
    await redelivery.acquire("job-1", timeout=5)
    assert await ticks_spent(mongo) == 1, "the redelivered message spent its token"
    assert [(s.ref, s.paid) for s in await redelivery.slots()] == [("job-1", True)]


async def test_a_slot_left_unpaid_when_mongodb_is_gone_for_both_calls_is_paid_for_by_the_redelivery(
    mongo: Mongo,
) -> None:
    clock = FakeClock()
    first = limiter(mongo, clock)
    ticks, slots = Outage(first._ticks, "insert_one"), Outage(first._slots, "delete_one")
    first._ticks, first._slots = ticks, slots  # type: ignore[assignment]

    with pytest.raises(MongoUnavailable):
        await first.acquire("job-1", timeout=5)

    assert ticks.failed == 1, "the slot was taken, then the token could not be spent (nor the slot given back)"
    other = limiter(mongo, clock)
    assert [s.ref for s in await other.slots()] == ["job-1"], "the slot stays held until its reference is back"
    await other.acquire("job-1", timeout=5)
    assert await ticks_spent(mongo) == 1, "the held slot was paid for, not taken as paid"
    assert slots.failed == 1, "the first acquire tried to give its unpaid slot back"
    assert [(s.ref, s.paid) for s in await other.slots()] == [("job-1", True)]
    await other.acquire("job-1", timeout=5)
    assert await ticks_spent(mongo) == 1, "a paid slot is not paid for again (a takeover, a redelivery after it)"


async def test_a_shutdown_while_waiting_for_the_token_gives_the_slot_back_and_the_redelivery_pays(
    mongo: Mongo,
) -> None:
    clock = FakeClock()
    await limiter(mongo, clock, max_in_flight=5).acquire("job-0", timeout=5)  # the only token of this second
    waiting = asyncio.Event()

    async def wait_for_ever(_: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    stopping = Limiter(mongo, ACCOUNT, 1.0, 1, 5, 60.0, poll_max_seconds=0.05, clock=clock, sleep=wait_for_ever)
    task = asyncio.create_task(stopping.acquire("job-1"))
    await asyncio.wait_for(waiting.wait(), 10)
    assert {s.ref for s in await stopping.slots()} == {"job-0", "job-1"}, "it holds its slot, waiting for a token"
    task.cancel()  # SIGTERM's grace period ran out
    with pytest.raises(asyncio.CancelledError):
        await task

    assert [s.ref for s in await stopping.slots()] == ["job-0"], "the unpaid slot is given back on the way out"
    await limiter(mongo, clock, max_in_flight=5).acquire("job-1", timeout=5)
    assert await ticks_spent(mongo) == 2, "the redelivered message waited for a token of its own"
