"""The cluster-wide limiter: the arithmetic as pure functions, the sharing against the real MongoDB-wire server."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zoomsymbl_common.clock import FakeClock
from zoomsymbl_common.limiter import Limiter, LimiterTimeout
from zoomsymbl_common.limiter_slots import Slot, expired, free_slot_numbers
from zoomsymbl_common.limiter_ticks import next_tick_in, pick_tick, tick_window
from zoomsymbl_common.mongo import Mongo

from tests.support.eventually import eventually

# ---------------------------------------------------------------- pure arithmetic


def test_the_window_holds_the_last_burst_ticks_due() -> None:
    assert tick_window(100.0, 2.0, 3) == (197, 200)
    assert tick_window(100.49, 2.0, 3) == (197, 200)
    assert tick_window(100.5, 2.0, 3) == (198, 201)


def test_the_next_tick_is_due_at_the_next_multiple_of_the_period() -> None:
    assert next_tick_in(100.0, 2.0) == pytest.approx(0.5)
    assert next_tick_in(100.4, 2.0) == pytest.approx(0.1)


def test_the_oldest_unspent_tick_is_spent_first() -> None:
    assert pick_tick(set(), 197, 200) == 198
    assert pick_tick({198, 199}, 197, 200) == 200
    assert pick_tick({198, 199, 200}, 197, 200) is None


def test_free_slot_numbers_stay_below_the_cap() -> None:
    assert free_slot_numbers({0, 2}, 3) == [1]
    assert free_slot_numbers({0, 1, 5}, 2) == []


def test_expired_lists_slots_past_their_lease() -> None:
    slots = [Slot("old", 0, 0, 50), Slot("new", 1, 0, 500)]
    assert [s.ref for s in expired(slots, 100.0)] == ["old"]


@given(
    st.floats(min_value=0.5, max_value=50.0),
    st.integers(min_value=1, max_value=10),
    st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=200),
)
def test_no_one_second_window_sees_more_than_rate_plus_burst(rate: float, burst: int, gaps: list[float]) -> None:
    """Whatever the arrival pattern, spending ticks keeps every window [t, t+1) within ceil(rate) + burst."""
    spent: set[int] = set()
    now, grants = 1_000_000.0, []
    for gap in gaps:
        now += gap
        lo, hi = tick_window(now, rate, burst)
        tick = pick_tick(spent, lo, hi)
        if tick is not None:
            spent.add(tick)
            grants.append(now)
    for start in grants:
        assert len([t for t in grants if start <= t < start + 1.0]) <= math.ceil(rate) + burst


# ---------------------------------------------------------------- against MongoDB (FerretDB locally)


def make(mongo: Mongo, clock: FakeClock | None = None, **kwargs: float) -> Limiter:
    params: dict[str, float] = {"rate_per_second": 100.0, "burst": 100, "max_in_flight": 3, "lease_seconds": 60.0}
    params.update(kwargs)
    args = (
        mongo,
        "symbl:test-app",
        params["rate_per_second"],
        int(params["burst"]),
        int(params["max_in_flight"]),
        params["lease_seconds"],
    )
    if clock is None:
        return Limiter(*args, poll_max_seconds=0.05)
    return Limiter(*args, poll_max_seconds=0.05, clock=clock, sleep=virtual_sleep(clock))


def virtual_sleep(clock: FakeClock, waits: list[float] | None = None) -> Callable[[float], Awaitable[None]]:
    """A limiter's wait that moves ``clock`` instead of taking time (and lets other tasks run)."""

    async def sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)
        clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


@pytest.mark.integration
async def test_replicas_never_hold_more_slots_than_the_cap(mongo: Mongo) -> None:
    replicas = [make(mongo) for _ in range(3)]
    holding: set[str] = set()
    most = 0

    async def job(index: int) -> None:
        nonlocal most
        ref = f"job-{index}"
        await replicas[index % 3].acquire(ref, timeout=30)
        holding.add(ref)
        most = max(most, len(holding))
        await asyncio.sleep(0.2)
        holding.discard(ref)
        assert await replicas[(index + 1) % 3].release(ref)

    await asyncio.gather(*(job(i) for i in range(24)))
    assert most == 3
    assert (await replicas[0].snapshot())["in_flight"] == 0


@pytest.mark.integration
async def test_release_frees_a_slot_exactly_once(mongo: Mongo) -> None:
    limiter = make(mongo)
    await limiter.acquire("job-1", timeout=5)
    results = await asyncio.gather(*(make(mongo).release("job-1") for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]
    assert not await limiter.release("never-held")


@pytest.mark.integration
async def test_acquire_is_idempotent_for_a_job_that_holds_a_slot(mongo: Mongo) -> None:
    limiter = make(mongo, max_in_flight=1)
    await limiter.acquire("job-1", timeout=5)
    await limiter.acquire("job-1", timeout=5)
    snapshot = await limiter.snapshot()
    assert [s["ref"] for s in snapshot["slots"]] == ["job-1"]


@pytest.mark.integration
async def test_a_full_limiter_times_out_then_admits_once_a_slot_is_released(mongo: Mongo) -> None:
    clock = FakeClock()
    limiter = make(mongo, clock, max_in_flight=1)
    await limiter.acquire("first", timeout=5)
    start = clock()
    with pytest.raises(LimiterTimeout, match="no limiter slot"):
        await limiter.acquire("second", timeout=30)
    assert (clock() - start).total_seconds() == pytest.approx(30), "it waited the whole timeout, no more"
    polls: list[float] = []
    waiting = Limiter(mongo, "symbl:test-app", 100.0, 100, 1, 60.0, clock=clock, sleep=virtual_sleep(clock, polls))
    waiter = asyncio.create_task(waiting.acquire("second"))

    async def polled_a_few_times() -> bool:
        return len(polls) >= 3

    await eventually(polled_a_few_times, what="the waiter to poll the full limiter")
    assert not waiter.done()
    await limiter.release("first")
    await asyncio.wait_for(waiter, 5)
    assert [s["ref"] for s in (await limiter.snapshot())["slots"]] == ["second"]


@pytest.mark.integration
async def test_waiting_for_a_token_sleeps_instead_of_polling(mongo: Mongo) -> None:
    clock, sleeps = FakeClock(), list[float]()
    limiter = Limiter(mongo, "symbl:slow", 5.0, 1, 10, 60.0, clock=clock, sleep=virtual_sleep(clock, sleeps))
    await limiter.acquire("a", timeout=5)
    await limiter.acquire("b", timeout=5)
    # One sleep until the next token (at most a period, 0.2 s), not a busy loop of polls.
    assert 1 <= len(sleeps) <= 2
    assert all(s <= 0.21 for s in sleeps)


@pytest.mark.integration
async def test_rate_is_shared_across_replicas(mongo: Mongo) -> None:
    """Three replicas on one clock grant ``burst`` at once, then one token per period between them."""
    clock = FakeClock()
    clock.advance(0.075 - clock().timestamp() % 0.05)  # mid-period: each step below crosses one tick boundary
    replicas = [make(mongo, clock, rate_per_second=20.0, burst=2, max_in_flight=1000) for _ in range(3)]
    count = 0

    async def round_of_attempts() -> int:
        nonlocal count

        async def take(index: int) -> bool:
            try:
                await replicas[index % 3].acquire(f"job-{count}-{index}", timeout=0)
            except LimiterTimeout:
                return False
            return True

        count += 1
        return sum(await asyncio.gather(*(take(i) for i in range(6))))

    granted = [await round_of_attempts()]
    for _ in range(10):
        clock.advance(1 / 20)
        granted.append(await round_of_attempts())
    assert granted == [2] + [1] * 10
    assert (await replicas[0].snapshot())["in_flight"] == 12, "refused attempts hold no slot"


async def _finished(answers: dict[str, bool]) -> Callable[[str], Awaitable[bool]]:
    async def is_finished(ref: str) -> bool:
        return answers[ref]

    return is_finished


@pytest.mark.integration
async def test_expired_slots_are_reclaimed_only_when_their_job_finished(mongo: Mongo) -> None:
    clock = FakeClock()
    start = clock().timestamp()
    limiter = Limiter(mongo, "assemblyai:abc", 100.0, 100, 5, 60.0, clock=clock)
    for ref in ("done", "running", "fresh"):
        await limiter.acquire(ref, timeout=1)
    clock.advance(30)
    await limiter.acquire("fresh", timeout=1)  # renewed lease
    clock.advance(45)
    freed = await limiter.reclaim_expired(await _finished({"done": True, "running": False, "fresh": True}))
    assert freed == 1
    refs = {s["ref"]: s["expires_at"] for s in (await limiter.snapshot())["slots"]}
    assert set(refs) == {"running", "fresh"}
    assert refs["running"] == pytest.approx(start + 75.0 + 60.0)
    assert not await limiter.release("done")


@pytest.mark.integration
async def test_a_slot_paid_after_a_long_wait_for_its_token_starts_a_fresh_lease(mongo: Mongo) -> None:
    """A token due later than the lease (a low rate, many waiting) once left the slot paid with its lease already
    past: the reclaimer, finding no job for it yet, freed it under the job the submitter was about to send."""
    clock = FakeClock()
    limiter = make(mongo, clock, rate_per_second=0.001, burst=1, max_in_flight=1, lease_seconds=100.0)
    await limiter.acquire("first", timeout=5)  # spends the one token: the next falls due up to 1,000 s later
    assert await limiter.release("first")
    await limiter.acquire("second")
    [waited] = (await limiter.snapshot())["slots"]
    assert clock().timestamp() - waited["acquired_at"] > 100, "paid after its first lease had run out"

    assert await limiter.reclaim_expired(await _finished({"second": True})) == 0, "no job yet: its lease is fresh"
    [slot] = (await limiter.snapshot())["slots"]
    assert (slot["ref"], slot["paid"]) == ("second", True)
    assert slot["expires_at"] == pytest.approx(clock().timestamp() + 100.0)
