"""Per-key locks serialise identical deliveries; the recent-keys memory forgets the oldest first."""

from __future__ import annotations

import asyncio

from zoomsymbl_ingest.dedupe import KeyedLocks, RecentKeys


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
