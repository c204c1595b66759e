"""A few of an operator command's reads at once: every erasure of an archive is one survey of MongoDB and S3 (and one
read of its log entry), and one at a time a large archive's ``zoomsymbl erasures`` took minutes of round trips.

Workers take the values in order, so at most ``at_once`` calls are running and their results come back in the
values' order. The first failure cancels the other calls and is raised as itself (not wrapped in an exception
group), so a command's handling of S3 and MongoDB errors stays what it was one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

# Surveys or reads running at once: enough to overlap the round trips, few enough for a MongoDB-wire server and an
# S3 gateway that the services share while the command runs.
READS_AT_ONCE = 8

T = TypeVar("T")
R = TypeVar("R")


async def in_order(values: Sequence[T], work: Callable[[T], Awaitable[R]], at_once: int = READS_AT_ONCE) -> list[R]:
    """``[await work(v) for v in values]`` with at most ``at_once`` calls running."""
    if at_once < 1:
        raise ValueError(f"at_once must be at least 1, not {at_once}")
    results: dict[int, R] = {}
    pending = iter(enumerate(values))

    async def worker() -> None:
        for index, value in pending:  # one iterator shared by the workers: each value is taken once
            results[index] = await work(value)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(at_once, len(values))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [results[index] for index in range(len(values))]
