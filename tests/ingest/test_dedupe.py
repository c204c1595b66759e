"""Per-key locks, the recent-keys memory, group commit and the bounded write-behind queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from zoomsymbl_ingest.dedupe import Coalescer, KeyedLocks, RecentKeys, WriteBehind


async def test_one_key_is_held_by_one_task_at_a_time_and_other_keys_run_freely() -> None:
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def work(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            peak[key] = max(peak[key], inside[key])
            await asyncio.sleep(0.001)
            inside[key] -= 1

    await asyncio.gather(*(work("a") for _ in range(10)), *(work("b") for _ in range(10)))
    assert peak == {"a": 1, "b": 1}
    assert len(locks) == 0  # nothing left behind once everyone is done


async def test_a_failing_holder_releases_the_key() -> None:
    locks = KeyedLocks()

    async def fail() -> None:
        async with locks.hold("k"):
            raise RuntimeError("boom")

    results = await asyncio.gather(fail(), fail(), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert len(locks) == 0


def test_recent_keys_forget_the_least_recently_used() -> None:
    recent = RecentKeys(capacity=2)
    recent.add("a")
    recent.add("b")
    assert "a" in recent  # touching "a" makes "b" the oldest
    recent.add("c")
    assert "a" in recent
    assert "c" in recent
    assert "b" not in recent
    assert len(recent) == 2


async def test_concurrent_submissions_share_batches_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [2 * i for i in items]

    coalescer: Coalescer[int, int] = Coalescer(double, parallel=1)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(20)))
    assert results == [2 * i for i in range(20)]
    assert sorted(i for batch in batches for i in batch) == list(range(20))
    assert len(batches) < 20  # the ones waiting while a batch ran went together


async def test_a_failed_batch_fails_each_of_its_callers_and_a_gone_caller_is_not_written() -> None:
    written: list[str] = []

    async def store(items: list[str]) -> list[None]:
        await asyncio.sleep(0.05)
        if "bad" in items:
            raise RuntimeError("store down")
        written.extend(items)
        return [None] * len(items)

    coalescer: Coalescer[str, None] = Coalescer(store, parallel=1)
    first = asyncio.ensure_future(coalescer.submit("first"))
    await asyncio.sleep(0)  # "first" is being written; the next three wait for the next batch
    waiting = [asyncio.ensure_future(coalescer.submit(item)) for item in ("bad", "also")]
    gone = asyncio.ensure_future(coalescer.submit("gone"))
    await asyncio.sleep(0)
    gone.cancel()
    await first
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert written == ["first"]


def _write_behind(
    write: Callable[[list[str]], Awaitable[None]], given_up: list[int], capacity: int = 10
) -> WriteBehind[str]:
    return WriteBehind(
        write,
        key=str,
        retry_on=(OSError,),
        on_give_up=lambda count, _: given_up.append(count),
        capacity=capacity,
        attempts=2,
        retry_delay=0.01,
    )


async def test_a_queued_item_stays_pending_until_written_and_close_writes_the_rest() -> None:
    written: list[str] = []
    writing, gate = asyncio.Event(), asyncio.Event()

    async def write(items: list[str]) -> None:
        writing.set()
        await gate.wait()
        written.extend(items)

    given_up: list[int] = []
    queue = _write_behind(write, given_up)
    assert await queue.put("a", timeout=1)
    assert await queue.put("b", timeout=1)
    await asyncio.wait_for(writing.wait(), 5)  # the writer has them and is held at the gate
    assert "a" in queue
    assert "b" in queue
    assert written == []
    gate.set()
    assert await queue.close(timeout=1) == 0
    assert sorted(written) == ["a", "b"]
    assert "a" not in queue
    assert given_up == []


async def test_a_full_queue_holds_callers_back_and_a_failing_store_is_given_up_on() -> None:
    async def broken(items: list[str]) -> None:
        await asyncio.sleep(0.05)
        raise OSError("down")

    given_up: list[int] = []
    queue = _write_behind(broken, given_up, capacity=2)
    assert await queue.put("a", timeout=1)
    assert await queue.put("b", timeout=1)
    assert not await queue.put("c", timeout=0.01)  # full, and nothing written in time
    assert await queue.put("c", timeout=2)  # room once the first batch was given up
    await queue.close(timeout=2)
    assert sum(given_up) == 3
    assert len(queue) == 0


async def test_with_a_linger_what_arrives_meanwhile_goes_in_the_same_batch() -> None:
    batches: list[list[str]] = []

    async def write(items: list[str]) -> None:
        batches.append(list(items))

    queue = WriteBehind(write, key=str, retry_on=(), on_give_up=lambda n, e: None, linger=0.05)
    assert await queue.put("a", timeout=1)
    await asyncio.sleep(0)  # the writer has started and lingers
    for item in "bcd":
        assert await queue.put(item, timeout=1)
    assert await queue.close(timeout=5) == 0
    assert batches == [["a", "b", "c", "d"]]  # one round trip; without the linger "a" went alone
