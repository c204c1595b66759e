"""``eventually``: returns the awaited value, fails naming what never came and the last value seen."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.eventually import eventually, eventually_sync


async def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()

    async def third_call() -> str | None:
        return "found" if next(counter) == 2 else None

    assert await eventually(third_call, interval=0.001) == "found"


async def test_returns_the_first_value_the_predicate_accepts() -> None:
    counter = itertools.count()

    async def count() -> int:
        return next(counter)

    assert await eventually(count, lambda n: n >= 3, interval=0.001) == 3


async def test_fails_naming_what_was_awaited_and_the_last_value() -> None:
    async def stage() -> str:
        return "mixed"

    with pytest.raises(AssertionError, match=r"waiting for the meeting to be notified; last value: 'mixed'"):
        await eventually(stage, lambda s: s == "notified", timeout=0.1, what="the meeting to be notified")


async def test_without_a_description_the_probe_is_named() -> None:
    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"never.*last value: False"):
        await eventually(never, timeout=0.05)


async def test_a_probe_that_never_answers_fails_in_time() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    with pytest.raises(AssertionError, match="the first call did not finish"):
        await eventually(hangs, timeout=0.05)


async def test_errors_of_the_probe_are_not_swallowed() -> None:
    async def broken() -> bool:
        raise TimeoutError("the probe's own timeout")

    with pytest.raises(TimeoutError, match="the probe's own timeout"):
        await eventually(broken, timeout=5)


def test_the_sync_twin_returns_the_value_and_reports_the_last_one() -> None:
    counter = itertools.count()
    assert eventually_sync(lambda: next(counter), lambda n: n >= 2, interval=0.001) == 2
    with pytest.raises(AssertionError, match=r"waiting for a port; last value: 0"):
        eventually_sync(lambda: 0, timeout=0.05, what="a port")
