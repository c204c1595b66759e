"""Periodic and background work of a service: a task that runs beside the app and stops with it, however a library
treats its cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from zoomsymbl_common.logs import scrub

log = logging.getLogger("zoomsymbl.background")


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` when this task was asked to stop and a library dropped the request.

    Python 3.11's ``asyncio.wait_for``, which pymongo's async network layer uses, can return its answer and drop
    a cancellation that arrives as the answer does; the request still counts in ``Task.cancelling()``. Periodic
    loops call this once a round, so that a lost cancellation stops them at the next round instead of never.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def background(
    work: Coroutine[Any, Any, None], name: str, *, grace: float = 0.0, stop: Callable[[], None] | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``work`` as a task for the body's duration; then ``stop()`` it and wait ``grace`` s before cancelling.

    The cancellation is repeated every second until the task ends: a library may drop one (see
    :func:`raise_if_cancelled`), and a shutdown must not hang on it. A task that ends with an error before that is
    logged at once (:func:`_ended`), not only when the service stops.
    """
    task = asyncio.create_task(work, name=name)
    task.add_done_callback(_ended)
    try:
        yield task
    finally:
        if stop is not None:
            stop()
            # Stopped rather than cancelled: the round in hand may finish within the grace period.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.shield(task)
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _ended(task: asyncio.Task[None]) -> None:
    """Log a background task that ended with an error: the work it did (a sweep, a periodic round) stopped for the
    rest of the process's life, which nothing else would show until shutdown."""
    if task.cancelled() or (error := task.exception()) is None:
        return
    reason = scrub(f"{type(error).__name__}: {error}", 500)
    log.error("background task ended", extra={"task": task.get_name(), "error": reason}, exc_info=error)
