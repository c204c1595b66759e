"""The submitter's periodic passes (slot reclaim, held leftovers): a round every ``interval`` seconds, beside the app.

A round that fails must not end its pass: every later round would be lost with it (for the held leftovers, the leak
with them), and a background task that died is only noticed at shutdown. So a failed round is logged and the next one
tries again: our own error types (an outage of MongoDB or S3, a provider) as a warning, anything else (a bug) with its
traceback. Only a cancellation (the app stopping) ends a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from zoomsymbl_common.background import background, raise_if_cancelled
from zoomsymbl_common.errors import ZoomsymblError
from zoomsymbl_common.logs import scrub


async def every(interval: float, one_round: Callable[[], Awaitable[object]], what: str, log: logging.Logger) -> None:
    """Run ``one_round`` every ``interval`` seconds until cancelled; a failed round is logged (``{what} round failed``,
    ``{what} round crashed``) and the next one tries again."""
    while True:
        await asyncio.sleep(interval)
        try:
            await one_round()
        except ZoomsymblError as exc:
            log.warning(f"{what} round failed", extra={"error": str(exc)})
        except Exception as exc:
            log.exception(f"{what} round crashed", extra={"error": scrub(f"{type(exc).__name__}: {exc}", 500)})
        raise_if_cancelled()  # a cancellation pymongo dropped during the round, before the next wait


@contextlib.asynccontextmanager
async def running(interval: float, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> AsyncIterator[None]:
    """``work()`` as the background task ``name`` for the body's duration (cancelled after it); none when ``interval``
    is 0 or less (the pass is turned off)."""
    if interval <= 0:
        yield
        return
    async with background(work(), name):
        yield
