"""Wait for an outcome instead of sleeping: poll until it holds, fail naming what never came.

``eventually(probe)`` calls ``probe()`` until it returns a truthy value (or one ``until`` accepts)
and returns that value; the pause between calls grows from ``interval`` to ``max_interval``. When
``timeout`` runs out it raises ``AssertionError`` naming what was awaited and the last value seen,
so a failing test says what it was waiting for and how far things got. Errors ``probe`` raises are
not swallowed: a broken probe fails at once instead of looking like a slow outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

_NOTHING: Any = object()


def _describe(probe: Callable[[], object], what: str | None) -> str:
    return what or getattr(probe, "__qualname__", None) or repr(probe)


def _timed_out(what: str, timeout: float, last: object) -> AssertionError:
    seen = "no value (the first call did not finish)" if last is _NOTHING else repr(last)
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value: {seen}")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    max_interval: float = ...,
    what: str | None = ...,
) -> T: ...  # a truthy value: never None


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], object],
    *,
    timeout: float = ...,
    interval: float = ...,
    max_interval: float = ...,
    what: str | None = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Awaitable[Any]],
    until: Callable[[Any], object] = bool,
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    max_interval: float = 0.5,
    what: str | None = None,
) -> Any:
    """The first value of ``await probe()`` that ``until`` accepts (truthy by default), within ``timeout`` s."""
    last: Any = _NOTHING
    pause = interval
    try:
        async with asyncio.timeout(timeout) as deadline:
            while True:
                last = await probe()
                if until(last):
                    return last
                await asyncio.sleep(pause)
                pause = min(pause * 2, max_interval)
    except TimeoutError:
        if not deadline.expired():
            raise  # the probe's own timeout: a failure of its own, not a slow outcome
    raise _timed_out(_describe(probe, what), timeout, last)


def eventually_sync(
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    max_interval: float = 0.5,
    what: str | None = None,
) -> T:
    """:func:`eventually` for code without an event loop (sync fixtures, subprocess checks)."""
    deadline = time.monotonic() + timeout
    pause = interval
    while True:
        last = probe()
        if until(last):
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(_describe(probe, what), timeout, last)
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, max_interval)
