"""In-process helpers of the intake: per-key locks, recent keys, group commit and write-behind.

The lock serialises identical deliveries inside one replica, so a burst of Zoom retries publishes
once. The memory answers repeats without a MongoDB round trip and keeps deduplicating while MongoDB
is unreachable. :class:`Coalescer` lets concurrent requests share one MongoDB round trip (group
commit): a server that spends 5 ms per insert spends about the same on an insert of 100. And
:class:`WriteBehind` takes writes that need not finish before the answer off the request's path,
bounded, with the keys it still holds queryable so the memory covers the gap until they are written.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("zoomsymbl.ingest.dedupe")


class KeyedLocks:
    """An ``asyncio.Lock`` per key, created on demand and dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class RecentKeys:
    """The last ``capacity`` keys added, least recently used forgotten first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        if key in self._keys:
            self._keys.move_to_end(str(key))
            return True
        return False

    def add(self, key: str) -> None:
        """Remember ``key``."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class Coalescer(Generic[T, R]):
    """Group commit: items submitted while a batch is running wait and go together in the next one.

    ``run`` gets a batch and returns one result per item, in order; if it raises, every item of the
    batch gets that error. At most ``parallel`` batches run at once. No timer: a lone item goes at
    once, so batching only happens when there is a queue anyway.
    """

    def __init__(
        self, run: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 256, parallel: int = 1
    ) -> None:
        self._run = run
        self._max_batch = max_batch
        self._parallel = parallel
        self._waiting: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """The result of ``item``'s batch (or its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self._parallel:
            self._running += 1
            task = asyncio.create_task(self._drain(), name="coalescer")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                if batch:
                    await self._one(batch)
        finally:
            self._running -= 1

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        while self._waiting and len(batch) < self._max_batch:
            item, future = self._waiting.popleft()
            if not future.done():  # a caller that gave up (timeout, cancelled) is not written for
                batch.append((item, future))
        return batch

    async def _one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # not swallowed: every caller of the batch receives it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


class WriteBehind(Generic[T]):
    """Items written in batches by a background task, so the caller need not wait for the store.

    Bounded: :meth:`put` waits (up to its timeout) for room, so a slow store slows callers down
    instead of growing memory. An item's key counts as pending (``key in queue``) until it is
    written or given up. A batch whose write fails with one of ``retry_on`` is retried ``attempts``
    times with backoff, then given up (``on_give_up`` is told how many items and why); a batch failing
    otherwise is written item by item and the items still failing are given up at once. The writer
    task exists only while there is something to write; :meth:`close` flushes what is left.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        key: Callable[[T], str],
        retry_on: tuple[type[Exception], ...],
        on_give_up: Callable[[int, Exception], None],
        capacity: int = 10_000,
        max_batch: int = 500,
        attempts: int = 5,
        retry_delay: float = 0.2,
        write_timeout: float = 10.0,
        linger: float = 0.0,
    ) -> None:
        self._write, self._key, self._on_give_up = write, key, on_give_up
        self._linger = linger
        self._retryable: tuple[type[Exception], ...] = (*retry_on, TimeoutError)
        self._capacity, self._max_batch, self._attempts = capacity, max_batch, attempts
        self._retry_delay, self._write_timeout = retry_delay, write_timeout
        self._queue: deque[T] = deque()
        self._pending: Counter[str] = Counter()
        self._room = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._queue)

    def queued(self) -> Iterator[T]:
        """The items not yet written (do not put while iterating)."""
        return iter(self._queue)

    async def put(self, item: T, timeout: float) -> bool:
        """Queue ``item``; False when no room appeared within ``timeout`` (the item is not queued)."""
        if len(self._queue) >= self._capacity:
            async with self._room:
                try:
                    async with asyncio.timeout(timeout):
                        await self._room.wait_for(self._has_room)
                except TimeoutError:
                    return False
        self._queue.append(item)
        self._pending[self._key(item)] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="write-behind")
        return True

    async def close(self, timeout: float) -> int:
        """Write what is queued within ``timeout``; returns how many items were given up."""
        if self._task is not None and not self._task.done():
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._task)
            if not self._task.done():
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task
        left = len(self._queue)
        if left:
            self._on_give_up(left, TimeoutError(f"not written within {timeout}s of shutdown"))
            self._forget(left)
        return left

    def _has_room(self) -> bool:
        return len(self._queue) < self._capacity

    async def _drain(self) -> None:
        while self._queue:
            if self._linger and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._linger)  # let the batch fill: one round trip for many items
            # Peek, do not pop: until written, the items count as pending.
            batch = [self._queue[i] for i in range(min(len(self._queue), self._max_batch))]
            await self._write_batch(batch)
            self._forget(len(batch))
            async with self._room:
                self._room.notify_all()

    async def _write_batch(self, batch: list[T]) -> None:
        delay = self._retry_delay
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._write_timeout):
                    await self._write(batch)
                return
            except self._retryable as exc:
                if attempt == self._attempts:
                    self._on_give_up(len(batch), exc)
                    return
                log.warning("write-behind batch failed, retrying", extra={"error": type(exc).__name__})
            except Exception as exc:
                # Not the store being away but an item it refuses: the same batch would fail again, and an error
                # leaving the writer kept that batch at the head of the queue, so nothing after it was ever written.
                if len(batch) == 1:
                    self._on_give_up(1, exc)
                    return
                for item in batch:  # only the refused item is given up
                    await self._write_batch([item])
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _forget(self, count: int) -> None:
        for _ in range(count):
            key = self._key(self._queue.popleft())
            self._pending[key] -= 1
            if self._pending[key] <= 0:
                del self._pending[key]
